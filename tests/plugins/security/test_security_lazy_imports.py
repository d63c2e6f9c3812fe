"""The package's lazy imports: ``from areion_security import rate_limit`` loads the decorators
and what they need, not the stores, settings and guard an app without the plugin never uses;
every exported name still resolves, to its submodule's object, whatever was imported first.

Each case runs in a fresh interpreter: this one has imported the whole package already.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

#: Every exported name, by the submodule that defines it.
EXPORTS = {
    "cors": ("CorsPolicy", "OriginMatcher"),
    "csrf": ("CsrfGuard",),
    "decorators": ("cors", "csrf_exempt", "rate_limit", "security_headers"),
    "guard": ("SecurityGuard",),
    "headers": ("HeaderSet", "csp_text"),
    "hooks": ("SecurityPlugin",),
    "hosts": ("HostAllowList",),
    "limiter": ("LimitRule", "RateLimiter"),
    "rates": ("Rate", "client_key", "header_key", "parse_rate"),
    "settings": ("CorsSettings", "CsrfSettings", "HeadersSettings", "HostsSettings", "RateLimitSettings",
                 "SecuritySettings"),
    "stores": ("Decision", "MemoryStore", "RedisStore"),
}


def run_fresh(code: str) -> object:
    """Run ``code`` in a fresh interpreter; what it printed last, as JSON."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_rate_limit_decorator_loads_only_what_it_needs() -> None:
    loaded = run_fresh("""
        import json, sys
        from areion_security import rate_limit
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("areion_security", "areion_redis"))))
    """)
    # The stores, settings, limiter and guard (and areion_redis, through them) stay out.
    assert loaded == ["areion_security", "areion_security.cors", "areion_security.decorators",
                      "areion_security.rates"]


@pytest.mark.parametrize("first", ["the names", "the plugin's entry point", "every submodule"])
def test_every_name_is_its_submodules_object(first: str) -> None:
    # "the plugin's entry point" is what the core does before the app imports the decorators:
    # hooks loads the guard, which loads the cors submodule; ``cors`` must stay the decorator.
    mismatches = run_fresh(f"""
        import importlib, importlib.metadata, json
        exports = {EXPORTS!r}
        first = {first!r}
        if first == "the plugin's entry point":
            importlib.metadata.entry_points(group="areion.plugins")["security"].load()
        elif first == "every submodule":
            for submodule in exports:
                importlib.import_module("areion_security." + submodule)
        wrong = []
        for submodule, names in exports.items():
            for name in names:
                namespace = {{}}
                exec(f"from areion_security import {{name}} as found", namespace)
                if namespace["found"] is not getattr(importlib.import_module("areion_security." + submodule), name):
                    wrong.append(name)
        print(json.dumps(wrong))
    """)
    assert mismatches == []


def test_all_dir_and_unknown_names() -> None:
    import areion_security

    exported = sorted(name for names in EXPORTS.values() for name in names)
    assert sorted(areion_security.__all__) == exported
    assert set(exported) <= set(dir(areion_security))
    with pytest.raises(AttributeError, match="module 'areion_security' has no attribute 'no_such_name'"):
        getattr(areion_security, "no_such_name")  # noqa: B009 - the name is the point
    with pytest.raises(ImportError):
        exec("from areion_security import no_such_name", {})
