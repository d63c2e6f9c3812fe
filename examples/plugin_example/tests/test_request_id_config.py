"""``[plugins.request_id]``: every option, ``${VAR}`` interpolation, and startup errors."""

from __future__ import annotations

from typing import Any

import pytest
from areion_request_id import RequestIdSettings

from areion_core import ConfigError, PluginError, Router
from areion_core.testing import TestClient
from examples.plugin_example.tests._request_id_support import Build


def section(**options: Any) -> dict[str, Any]:
    return {"plugins": {"request_id": options}}


@pytest.mark.parametrize(
    ("options", "key", "expected"),
    [
        ({"header": "X Request"}, "plugins.request_id.header", "a header name"),
        ({"header": 42}, "plugins.request_id.header", "a header name"),
        ({"header": "Server-Timing"}, "plugins.request_id.header", "does not already manage"),
        ({"trust_incoming": "sometimes"}, "plugins.request_id.trust_incoming", "true or false"),
        ({"timing": 1}, "plugins.request_id.timing", "true or false"),
        ({"max_length": 4}, "plugins.request_id.max_length", "from 8 to 1024"),
        ({"max_length": True}, "plugins.request_id.max_length", "from 8 to 1024"),
        ({"hedaer": "X-Id"}, "plugins.request_id.hedaer", "one of header, max_length, timing, trust_incoming"),
    ],
)
def test_a_bad_option_stops_startup_naming_key_value_and_expectation(
    build: Build, options: dict[str, Any], key: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        build(config=section(**options))
    error = caught.value
    assert error.key == key
    assert error.value == next(iter(options.values()))
    assert expected in error.expected
    assert key in str(error) and repr(error.value) in str(error)


def test_values_from_the_environment(build: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RID_HEADER", "X-Trace-Id")
    monkeypatch.setenv("RID_TRUST", "false")
    server = build(config=section(header="${RID_HEADER}", trust_incoming="${RID_TRUST}",
                                  max_length="${RID_MAX:-64}"))
    with TestClient(server) as client:
        response = client.get("/hello", headers={"X-Trace-Id": "from-client"})
    assert response.headers["x-trace-id"] != "from-client"
    settings = server.app.get_plugin("request_id").settings
    assert settings == RequestIdSettings(header="X-Trace-Id", trust_incoming=False, max_length=64)


def test_a_missing_environment_variable_is_a_config_error(build: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RID_UNSET", raising=False)
    with pytest.raises(ConfigError) as caught:
        build(config=section(header="${RID_UNSET}"))
    assert caught.value.key == "plugins.request_id.header"
    assert caught.value.value == "${RID_UNSET}"
    assert "RID_UNSET" in caught.value.expected


def test_defaults_when_the_section_is_absent(build: Build) -> None:
    server = build()
    assert server.app.get_plugin("request_id").settings == RequestIdSettings()


def test_a_bad_route_option_names_the_plugin(build: Build, router: Router) -> None:
    async def odd() -> str:
        return "odd"

    router.add_route("/odd", odd, ["GET"], request_id="no")
    with pytest.raises(PluginError, match=r"plugin 'request_id' failed in route_added: TypeError.*'/odd'"):
        build()
