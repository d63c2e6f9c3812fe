"""areion_core/log.py: Areion's handler only when the application configured no logging (each
line once either way), ``log_format = "json"``, the JSON formatter, and ``DefaultLogger``.

The rule is checked on real ``areion run`` processes: under pytest the root logger always has
pytest's capture handlers, so an in-process app always finds logging configured.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType

import httpx
import pytest

from areion_core import AreionConfig, AreionServerBuilder, ConfigError, DefaultLogger, HttpRequest, Router
from areion_core.log import JsonFormatter, request_id_var
from areion_core.testing import TestClient
from tests._redis import free_port

#: The test app: `{configure_before}` and `{configure_after}` are replaced by the logging set-up
#: under test (run before or after Areion is imported and the server built).
APP = '''
import json
import logging
import sys

{configure_before}

from areion_core import AreionServerBuilder, Router
from areion_core.log import request_id_var

router = Router()


def carry_request_id(handler):
    async def wrapper(request, **params):
        token = request_id_var.set(request.request_id)
        try:
            return await handler(request, **params)
        finally:
            request_id_var.reset(token)
    return wrapper


router.add_global_middleware(carry_request_id)


@router.get("/ready")
async def ready(request):
    return "ready"


@router.get("/hello")
async def hello(request):
    request.log("hello from the handler")
    logging.getLogger("areion.app").warning("tagged by hand", extra={{"request_id": "by-hand"}})
    logging.getLogger("thirdparty").warning("a library nobody configured")
    return "hello"


@router.get("/boom")
async def boom(request):
    raise RuntimeError("boom")


server = AreionServerBuilder().with_router(router).without_config_file().build()

{configure_after}
'''

#: The application's own logging: one root handler writing its own JSON to stderr.
ROOT_JSON_HANDLER = '''
class AppFormatter(logging.Formatter):
    def format(self, record):
        return json.dumps({"app": True, "logger": record.name, "message": record.getMessage()})

_handler = logging.StreamHandler(sys.stderr)
_handler.setFormatter(AppFormatter())
logging.basicConfig(level=logging.INFO, handlers=[_handler])
'''
#: A record in Areion's text format.
TEXT_RECORD = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<level>[A-Z]+) \[(?P<logger>[\w.]+)\] (?P<message>.*)$")
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def served_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a served test app: no plugin and no AREION_LOG_* of ours, then ``env``."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("AREION_LOG_FORMAT", "AREION_LOG_CONFIG", "AREION_ACCESS_LOG_FORMAT")}
    return {**base, "AREION_PLUGINS": "", **(env or {})}


class ServedApp:
    """``python -m areion_core run app.py:server`` on a free port; ``stop()`` returns its stderr."""

    def __init__(self, tmp: Path, source: str, *args: str, env: Mapping[str, str] | None = None) -> None:
        self.tmp = tmp
        (tmp / "app.py").write_text(source, encoding="utf-8")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = args
        self.env = served_env(env)
        self.stderr = tmp / "stderr.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServedApp:
        with self.stderr.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "areion_core", "run", "app.py:server", "--port", str(self.port), *self.args],
                cwd=self.tmp, env=self.env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        deadline = time.monotonic() + 15
        while True:
            assert self.proc.poll() is None, self.stderr.read_text()
            try:
                httpx.get(self.url + "/ready", timeout=1)
                return self
            except httpx.HTTPError:
                assert time.monotonic() < deadline, self.stderr.read_text()
                time.sleep(0.1)

    def stop(self) -> str:
        """SIGTERM (the access log is written out at shutdown), then the whole stderr."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(15) == 0, self.stderr.read_text()
        return self.stderr.read_text()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def _exercise(app: ServedApp, headers: Mapping[str, str] | None = None) -> str:
    with httpx.Client(base_url=app.url) as client:
        assert client.get("/hello", headers=headers).text == "hello"
        assert client.get("/boom").status_code == 500
    return app.stop()


def _lines_with(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


@pytest.mark.parametrize("when", ["before", "after"])
def test_an_application_root_handler_gets_each_line_once(tmp_path: Path, when: str) -> None:
    """The application configures the root logger before importing Areion, or after building the server."""
    source = APP.format(configure_before=ROOT_JSON_HANDLER if when == "before" else "",
                        configure_after=ROOT_JSON_HANDLER if when == "after" else "")
    with ServedApp(tmp_path, source) as app:
        err = _exercise(app)
    for message in ("hello from the handler", "tagged by hand", "a library nobody configured",
                    "unhandled exception in GET /boom", "shutting down: draining in-flight requests"):
        lines = _lines_with(err, message)
        assert len(lines) == 1, (message, err)
        record = json.loads(lines[0])  # in the application's format, not Areion's
        assert record["app"] is True and record["message"].startswith(message)
    assert json.loads(_lines_with(err, "hello from the handler")[0])["logger"] == "areion"
    assert not [line for line in err.splitlines() if TEXT_RECORD.match(line)], err  # Areion added no handler
    # The access log keeps its own writer: each request once, in its text format.
    assert len(_lines_with(err, '"GET /hello HTTP/1.1" 200')) == 1
    assert len(_lines_with(err, '"GET /boom HTTP/1.1" 500')) == 1


def test_without_logging_configured_areion_writes_its_text_lines_once(tmp_path: Path) -> None:
    with ServedApp(tmp_path, APP.format(configure_before="", configure_after="")) as app:
        err = _exercise(app)
    records = {m["message"]: m for m in map(TEXT_RECORD.match, err.splitlines()) if m}
    assert records["hello from the handler"]["level"] == "INFO"
    assert records["hello from the handler"]["logger"] == "areion"
    assert records["unhandled exception in GET /boom"]["level"] == "ERROR"
    # A library's warning goes through Python's last resort, which Areion gave its format.
    assert records["a library nobody configured"]["logger"] == "thirdparty"
    for message in ("hello from the handler", "tagged by hand", "a library nobody configured",
                    "unhandled exception in GET /boom"):
        assert len(_lines_with(err, message)) == 1, (message, err)
    assert "RuntimeError: boom" in err  # the traceback follows its record


def test_log_format_json_makes_every_stderr_line_a_json_object(tmp_path: Path) -> None:
    source = APP.format(configure_before="", configure_after="")
    env = {"AREION_LOG_FORMAT": "json", "AREION_PLUGINS": "request_id"}
    with ServedApp(tmp_path, source, env=env) as app:
        err = _exercise(app, headers={"X-Request-ID": "req-json-1"})
    lines = [line for line in err.splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}\n{err}")
    logs = {r["message"]: r for r in records if "message" in r}
    access = [r for r in records if "status" in r]
    hello = logs["hello from the handler"]
    assert (hello["level"], hello["logger"], hello["request_id"]) == ("INFO", "areion", "req-json-1")
    assert ISO_MS.match(hello["time"])
    assert logs["tagged by hand"]["request_id"] == "by-hand"  # the record's own id wins
    assert logs["a library nobody configured"]["logger"] == "thirdparty"  # the last resort is JSON too
    boom = logs["unhandled exception in GET /boom"]
    assert boom["level"] == "ERROR" and "RuntimeError: boom" in boom["exception"]
    assert "Traceback (most recent call last)" in boom["exception"]
    # The access log follows log_format, with the id the example plugin took from the header.
    by_target = {r["target"]: r for r in access}
    assert by_target["/hello"]["request_id"] == "req-json-1" and by_target["/hello"]["status"] == 200
    assert by_target["/boom"]["status"] == 500 and by_target["/boom"]["request_id"]
    assert len(access) == 3  # /ready, /hello, /boom: each once


def test_access_log_format_text_overrides_log_format_json(tmp_path: Path) -> None:
    source = APP.format(configure_before="", configure_after="")
    env = {"AREION_LOG_FORMAT": "json", "AREION_ACCESS_LOG_FORMAT": "text"}
    with ServedApp(tmp_path, source, env=env) as app:
        err = _exercise(app)
    assert len(_lines_with(err, '"GET /hello HTTP/1.1" 200')) == 1
    assert json.loads(_lines_with(err, "hello from the handler")[0])["level"] == "INFO"


# --- in-process ---------------------------------------------------------------------------

def _record(message: str, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("bad value")
        except ValueError:
            exc_info = sys.exc_info()
    record = logging.LogRecord("areion.test", logging.WARNING, __file__, 1, message, ("x",), exc_info)
    record.__dict__.update(extra)
    return record


def test_json_formatter_fields() -> None:
    formatter = JsonFormatter()
    plain = json.loads(formatter.format(_record("one %s")))
    assert set(plain) == {"time", "level", "logger", "message"}
    assert (plain["level"], plain["logger"], plain["message"]) == ("WARNING", "areion.test", "one x")
    assert ISO_MS.match(plain["time"])
    with_exc = json.loads(formatter.format(_record("two %s", exc=True, request_id="r-1")))
    assert with_exc["request_id"] == "r-1" and with_exc["exception"].endswith("ValueError: bad value")
    token = request_id_var.set("from-context")
    try:
        assert json.loads(formatter.format(_record("three %s")))["request_id"] == "from-context"
        assert json.loads(formatter.format(_record("four %s", request_id="own")))["request_id"] == "own"
    finally:
        request_id_var.reset(token)
    assert "\n" not in formatter.format(_record("multi\nline %s", exc=True))  # one line per record


@pytest.mark.parametrize("data,key,expected", [
    ({"log_format": "xml"}, "log_format", "'text' or 'json'"),
    ({"log_config": "missing.toml"}, "log_config", "an existing .toml, .json, .yaml or .yml file"),
])
def test_bad_log_keys_stop_startup_naming_the_key(data: dict[str, str], key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        AreionConfig.load(data, search=False, environ={})
    assert caught.value.key == key and expected in str(caught.value)
    with pytest.raises(ConfigError) as from_env:
        AreionConfig.load(search=False, environ={f"AREION_{key.upper()}": data[key]})
    assert from_env.value.key == key


def test_the_access_log_follows_log_format_unless_given() -> None:
    assert AreionConfig.load({"log_format": "json"}, search=False, environ={}).access_log_format == "json"
    given = AreionConfig.load({"log_format": "json", "access_log_format": "text"}, search=False, environ={})
    assert given.access_log_format == "text"
    assert AreionConfig.load(search=False, environ={}).access_log_format == "text"


@pytest.fixture
def areion_logger() -> Iterator[logging.Logger]:
    """The ``areion`` logger, its handlers and level put back after the test."""
    logger = logging.getLogger("areion")
    handlers, level = list(logger.handlers), logger.level
    logger.setLevel(logging.NOTSET)  # as in a fresh process
    yield logger
    for handler in list(logger.handlers):
        if handler not in handlers:
            logger.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in logger.handlers:
            logger.addHandler(handler)
    logger.setLevel(level)


def test_a_default_logger_keeps_its_file_and_leaves_the_console_to_configured_logging(
        tmp_path: Path, areion_logger: logging.Logger) -> None:
    # Under pytest the root logger has handlers: logging counts as configured by the application.
    assert logging.getLogger().handlers
    router = Router()

    @router.get("/")
    async def home(request: HttpRequest) -> str:
        request.log("handled")
        return "home"

    logger = DefaultLogger(log_file=str(tmp_path / "server.log"), log_level="DEBUG")
    assert [type(h).__name__ for h in areion_logger.handlers] == ["_StderrHandler", "FileHandler"]
    server = (AreionServerBuilder().with_router(router).without_config_file().with_logger(logger)
              .with_config(plugins=[], access_log=False, log_format="json").build())
    with TestClient(server) as client:
        assert client.get("/").text == "home"
    assert [type(h).__name__ for h in areion_logger.handlers] == ["FileHandler"]  # no second copy on stderr
    assert areion_logger.level == logging.DEBUG  # the DefaultLogger's level, not log_level's default
    line = (tmp_path / "server.log").read_text().splitlines()[-1]
    assert json.loads(line)["message"] == "handled"


def test_a_built_app_adds_no_handler_when_logging_is_configured(areion_logger: logging.Logger,
                                                                tmp_path: Path) -> None:
    for handler in list(areion_logger.handlers):
        areion_logger.removeHandler(handler)
    server = (AreionServerBuilder().with_router(Router()).without_config_file()
              .with_config(plugins=[], log_file=str(tmp_path / "areion.log"), log_level="WARNING").build())
    with TestClient(server):
        pass
    assert [type(h).__name__ for h in areion_logger.handlers] == ["FileHandler"]  # log_file: a file, always
    assert areion_logger.level == logging.WARNING
    areion_logger.warning("to the file")
    assert (tmp_path / "areion.log").read_text().rstrip().endswith(" WARNING [areion] to the file")
