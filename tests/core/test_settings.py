"""``areion_core.settings``: the ``${VAR}`` expander and the settings reader, value by value.

Config loading end to end (the core's keys and every plugin's section) is in
``test_env_expansion.py``; this file pins the rules those build on.
"""

from __future__ import annotations

import inspect
import pickle
import re
from pathlib import Path
from typing import Any

import pytest

from areion_core import ConfigError
from areion_core.plugin_api import EnvText, SettingsReader, expand_env

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


@pytest.fixture(autouse=True)
def _variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S_HOST", "cache.internal")
    monkeypatch.setenv("S_EMPTY", "")
    monkeypatch.delenv("S_UNSET", raising=False)


@pytest.mark.parametrize(
    ("written", "expanded"),
    [
        ("redis://${S_HOST}:6379/0", "redis://cache.internal:6379/0"),
        ("${S_UNSET:-fallback}", "fallback"),
        ("${S_EMPTY:-fallback}", "fallback"),  # POSIX: empty counts as unset for :-
        ("[${S_EMPTY}]", "[]"),  # set but empty, no default: empty
        ("${S_UNSET:-}", ""),
        ("${S_HOST}/${S_UNSET:-x}/${S_HOST}", "cache.internal/x/cache.internal"),
    ],
)
def test_expand_env(written: str, expanded: str) -> None:
    got = expand_env(written, "k")
    assert got == expanded and isinstance(got, EnvText) and got.template == written


def test_expand_env_leaves_everything_else_alone() -> None:
    for value in ("no reference", "$HOME", "${lower-case-is-not-a-name}", 5, True, None, 1.5):
        got = expand_env(value, "k")
        assert got == value and not isinstance(got, EnvText)


def test_expand_env_walks_tables_and_lists_and_names_the_key() -> None:
    assert expand_env({"a": ["${S_HOST}", 1], "b": {"c": "${S_UNSET:-d}"}}, "plugins.x") == {
        "a": ["cache.internal", 1], "b": {"c": "d"}}
    with pytest.raises(ConfigError) as caught:
        expand_env({"a": {"b": ["ok", "${S_UNSET}"]}}, "plugins.x")
    assert caught.value.key == "plugins.x.a.b[1]"
    assert caught.value.value == "${S_UNSET}"
    assert caught.value.expected == "environment variable S_UNSET to be set"


def test_env_text_is_expanded_once_and_survives_pickling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S_NESTED", "${S_HOST}")
    once = expand_env("${S_NESTED}", "k")
    assert expand_env(once, "k") == "${S_HOST}"  # a variable's value is not expanded again
    copy = pickle.loads(pickle.dumps(once))
    assert (copy, copy.template, type(copy)) == (once, once.template, EnvText)


def reader(section: dict[str, Any], **kwargs: Any) -> SettingsReader:
    return SettingsReader("plugins.x", section, **kwargs)


def test_typed_values_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S_NUMBER", " 42 ")
    monkeypatch.setenv("S_LIST", "a, b,,c ")
    read = reader({"n": "${S_NUMBER}", "f": "${S_UNSET:-2.5}", "b": "${S_UNSET:-TRUE}",
                   "l": "${S_LIST}", "items": ["${S_UNSET:-7}", 8]})
    assert read.integer("n", 0) == 42
    assert read.number("f", 0.0) == 2.5 and read.seconds("f", 1.0) == 2.5
    assert read.boolean("b", False) is True
    assert read.strings_list("l", []) == ["a", "b", "c"]
    assert read.items("items", [], item=read.as_integer) == [7, 8]
    assert read.integer("absent", 3) == 3 and read.boolean("absent", None) is None


def test_literal_strings_are_not_numbers_booleans_or_lists_unless_asked() -> None:
    read = reader({"n": "5", "b": "true", "l": "a,b"})
    for method in (read.integer, read.number, read.seconds, read.boolean):
        with pytest.raises(ConfigError):
            method("b" if method == read.boolean else "n", None)
    with pytest.raises(ConfigError, match="a list"):
        read.items("l", None)
    assert read.items("l", None, single=True) == ["a,b"]
    lenient = reader({"n": "5", "b": "true"}, strings=True)
    assert (lenient.integer("n", 0), lenient.boolean("b", False)) == (5, True)


@pytest.mark.parametrize(
    ("call", "value", "bad", "expected"),
    [
        (lambda r: r.integer("v", 0, minimum=8, maximum=1024), 4, 4, "a whole number from 8 to 1024"),
        (lambda r: r.integer("v", 0, minimum=1), True, True, "a whole number >= 1"),
        (lambda r: r.number("v", 0.0, maximum=1), 2, 2, "a number <= 1"),
        (lambda r: r.seconds("v", 1.0), 0, 0, "a number of seconds > 0"),
        (lambda r: r.seconds("v", 1.0, zero=True), -1, -1, "a number of seconds >= 0"),
        (lambda r: r.number("v", 1.0), float("inf"), float("inf"), "a number"),
        (lambda r: r.boolean("v", True), "yes", "yes", "true or false"),
        (lambda r: r.choice("v", "a", ("a", "b")), "c", "c", "one of a, b"),
        (lambda r: r.text("v", "x"), "", "", "a non-empty string"),
        (lambda r: r.text("v", "x", pattern=re.compile("[a-z]+")), "A", "A", "a non-empty string"),
        (lambda r: r.strings_list("v", []), ["a", 1], 1, "a list of strings"),  # the bad item
        (lambda r: r.table("v"), 5, 5, "a table"),
    ],
)
def test_errors_name_key_value_and_expectation(call: Any, value: Any, bad: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        call(reader({"v": value}))
    assert (caught.value.key, caught.value.expected) == ("plugins.x.v", expected)
    assert caught.value.value == bad and type(caught.value.value) is type(bad)


def test_an_error_says_which_variable_gave_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S_TICK", "soon")
    with pytest.raises(ConfigError) as caught:
        reader({"every": "${S_TICK}"}).seconds("every", 1.0)
    assert str(caught.value) == ("config key 'plugins.x.every': got 'soon', "
                                 "expected a number of seconds > 0 (from ${S_TICK})")


def test_unknown_keys_and_nested_tables() -> None:
    with pytest.raises(ConfigError) as caught:
        reader({"hedaer": 1, "header": 2}, keys=["timing", "header"])
    assert (caught.value.key, caught.value.expected) == ("plugins.x.hedaer", "one of header, timing")
    jobs = reader({"jobs": {"tick": {"every": "${S_UNSET:-10}", "retries": 1}}}).table("jobs")
    assert list(jobs) == ["tick"]
    with pytest.raises(ConfigError) as nested:
        jobs.table("tick", keys=["every"])
    assert nested.value.key == "plugins.x.jobs.tick.retries"
    assert jobs.table("tick").seconds("every", 1.0) == 10.0


def test_the_guide_documents_every_reader_method() -> None:
    section = GUIDE.read_text(encoding="utf-8").split("\n### The settings reader\n", 1)[1].split("\n## ", 1)[0]
    public = [name for name, _ in inspect.getmembers(SettingsReader, inspect.isfunction) if not name.startswith("_")]
    missing = [name for name in public if f"`{name}" not in section and f" {name}," not in section]
    assert not missing, f"docs/plugins.md does not document SettingsReader.{missing}"
