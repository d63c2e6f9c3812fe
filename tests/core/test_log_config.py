"""areion_core/_log_config.py: ``load_log_config`` (TOML, JSON, YAML), its errors, the
``log_config`` key, and ``areion run --log-config`` on a real process."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from areion_core import ConfigError
from areion_core._log_config import LogConfigError, load_log_config
from tests.core.test_log import APP, TEXT_RECORD, ServedApp, _exercise, _lines_with, served_env

LOGGER = "areion_test.log_config"


def _settings(path: Path) -> dict[str, object]:
    """A dictConfig dictionary: one file handler with a recognisable format on LOGGER."""
    return {
        "version": 1,
        "formatters": {"marked": {"format": "MARKED %(levelname)s %(name)s %(message)s"}},
        "handlers": {"file": {"class": "logging.FileHandler", "filename": str(path), "formatter": "marked"}},
        "loggers": {LOGGER: {"handlers": ["file"], "level": "INFO", "propagate": False}},
    }


def _toml(settings: dict[str, object]) -> str:
    log_path = settings["handlers"]["file"]["filename"]  # type: ignore[index]
    return f'''version = 1
[formatters.marked]
format = "MARKED %(levelname)s %(name)s %(message)s"
[handlers.file]
class = "logging.FileHandler"
filename = "{log_path}"
formatter = "marked"
[loggers."{LOGGER}"]
handlers = ["file"]
level = "INFO"
propagate = false
'''


def _yaml(settings: dict[str, object]) -> str:
    import yaml

    text: str = yaml.safe_dump(settings)
    return text


@pytest.fixture
def clean_logger() -> Iterator[logging.Logger]:
    """LOGGER, and every logger's ``disabled`` flag (dictConfig may switch them all off), put back after the test."""
    logger = logging.getLogger(LOGGER)
    loggers = [item for item in logging.root.manager.loggerDict.values() if isinstance(item, logging.Logger)]
    disabled = {item: item.disabled for item in loggers}
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    for item, flag in disabled.items():
        item.disabled = flag


@pytest.mark.parametrize("suffix", [".toml", ".json", ".yaml", ".yml"])
def test_each_format_is_applied_with_dictconfig(tmp_path: Path, suffix: str, clean_logger: logging.Logger) -> None:
    log = tmp_path / "app.log"
    settings = _settings(log)
    text = {".toml": _toml, ".json": json.dumps, ".yaml": _yaml, ".yml": _yaml}[suffix](settings)
    config = tmp_path / f"logging{suffix}"
    config.write_text(text, encoding="utf-8")
    load_log_config(config)
    clean_logger.info("configured from %s", suffix)
    assert log.read_text() == f"MARKED INFO {LOGGER} configured from {suffix}\n"
    # Areion's loggers existed before the file was read, and stay enabled.
    assert not logging.getLogger("areion.server").disabled


def test_the_file_may_disable_existing_loggers_itself(tmp_path: Path, clean_logger: logging.Logger) -> None:
    settings = _settings(tmp_path / "app.log") | {"disable_existing_loggers": True}
    config = tmp_path / "logging.json"
    config.write_text(json.dumps(settings), encoding="utf-8")
    load_log_config(config)
    assert logging.getLogger("areion.server").disabled


@pytest.mark.parametrize("name,content,problem", [
    ("missing.toml", None, "cannot be read (No such file or directory)"),
    ("logging.ini", "[loggers]\nkeys=root\n", "expected a .toml, .json, .yaml or .yml file, not .ini"),
    ("logging", "{}", "not a name without an extension"),
    ("logging.toml", "version = \n", "is not valid TOML (Invalid value (at line 1, column 11))"),
    ("logging.json", '{"version": 1,}', "is not valid JSON (Expecting property name enclosed in double quotes"),
    ("logging.yaml", "version: [1\n", "is not valid YAML (while parsing a flow sequence"),
    ("logging.json", "[1, 2]", "expected a table of logging settings at the top, got list"),
    ("logging.json", '{"version": 1, "handlers": {"h": {"class": "no.such.Handler"}}}',
     "logging.config.dictConfig refused it: Unable to configure handler 'h' (Cannot resolve 'no.such.Handler'"),
    ("logging.json", '{"disable_existing_loggers": false}',
     "logging.config.dictConfig refused it: dictionary doesn't specify a version"),
])
def test_errors_name_the_file_and_what_is_wrong(tmp_path: Path, name: str, content: str | None, problem: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(LogConfigError) as caught:
        load_log_config(path)
    message = str(caught.value)
    assert message.startswith(f"log config {path}: ") and problem in message, message
    assert "\n" not in message  # one line on the terminal
    assert isinstance(caught.value, ConfigError) and caught.value.key == "log_config"  # areion run: exit 1


def test_yaml_without_pyyaml_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "logging.yaml"
    path.write_text("version: 1\n", encoding="utf-8")
    monkeypatch.setitem(sys.modules, "yaml", None)  # makes `import yaml` fail as if not installed
    with pytest.raises(LogConfigError) as caught:
        load_log_config(path)
    assert str(caught.value) == (f"log config {path}: reading YAML needs PyYAML, which is not installed: "
                                 "pip install pyyaml")


# --- on a real process ------------------------------------------------------------------

def _stderr_settings() -> str:
    """A TOML dictConfig that sends the root logger's records to stderr, marked."""
    return '''version = 1
[formatters.marked]
format = "MARKED %(levelname)s %(name)s %(message)s"
[handlers.err]
class = "logging.StreamHandler"
stream = "ext://sys.stderr"
formatter = "marked"
[root]
handlers = ["err"]
level = "INFO"
'''


def _assert_marked_once(err: str) -> None:
    for message in ("hello from the handler", "unhandled exception in GET /boom", "a library nobody configured"):
        lines = _lines_with(err, message)
        assert len(lines) == 1 and lines[0].startswith("MARKED "), (message, err)
    assert "MARKED INFO areion hello from the handler" in err
    assert not [line for line in err.splitlines() if TEXT_RECORD.match(line)], err  # no handler of Areion's


def test_the_log_config_key_configures_a_served_app(tmp_path: Path) -> None:
    (tmp_path / "logging.toml").write_text(_stderr_settings(), encoding="utf-8")
    source = APP.format(configure_before="", configure_after="")
    with ServedApp(tmp_path, source, env={"AREION_LOG_CONFIG": "logging.toml"}) as app:
        _assert_marked_once(_exercise(app))


def test_cli_log_config_configures_logging(tmp_path: Path) -> None:
    """``areion run --log-config FILE`` (the CLI calls load_log_config before importing the app)."""
    (tmp_path / "logging.toml").write_text(_stderr_settings(), encoding="utf-8")
    source = APP.format(configure_before="", configure_after="")
    with ServedApp(tmp_path, source, "--log-config", "logging.toml") as app:
        _assert_marked_once(_exercise(app))


def test_cli_log_config_error_is_one_line_and_exit_status_1(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP.format(configure_before="", configure_after=""), encoding="utf-8")
    (tmp_path / "logging.toml").write_text("version = \n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "areion_core", "run", "app.py:server", "--port", "0", "--log-config", "logging.toml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=10, env=served_env())
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        "areion: log config logging.toml: is not valid TOML (Invalid value (at line 1, column 11))"]
