"""``areion jobs`` and ``areion jobs run ID`` through the core's real CLI."""

from __future__ import annotations

import re

import pytest

from areion_core.cli import main

APP = "tests.plugins.scheduling.scheduling_app:server"


@pytest.fixture(autouse=True)
def only_this_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI discovers installed plugins; keep the test about this one.
    monkeypatch.setenv("AREION_PLUGINS", "scheduling")
    monkeypatch.delenv("SCHEDULING_TEST_REDIS", raising=False)


def test_jobs_lists_every_job_with_its_next_run_time(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "--app", APP]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "NEXT", "RUN", "SCHEDULE", "FUNCTION", "FROM"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"nightly", "broken", "config-job"}
    assert re.search(r"\d{4}-\d\d-\d\dT03:00:00\+00:00\s+cron\[0 3 \* \* \*\]", rows["nightly"])
    assert rows["config-job"].rstrip().endswith("config")
    assert "T06:00:00+00:00" in rows["config-job"]
    assert main(["jobs", "list", "--app", APP]) == 0
    assert capsys.readouterr().out == out


def test_jobs_run_runs_one_job_now(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "--app", APP, "run", "nightly"]) == 0
    assert "job nightly finished" in capsys.readouterr().out
    assert main(["jobs", "run", "nightly", "--app", APP]) == 0
    assert "'nightly report written'" in capsys.readouterr().out


def test_jobs_run_reports_failure_and_unknown_ids(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "run", "broken", "--app", APP]) == 1
    err = capsys.readouterr().err
    assert "the broken job broke" in err and "job broken failed" in err
    assert main(["jobs", "run", "nope", "--app", APP]) == 2
    assert "no job 'nope'" in capsys.readouterr().err
