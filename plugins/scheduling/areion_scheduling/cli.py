"""``areion jobs``: list the scheduled jobs with their next run times; ``areion jobs run ID``."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import traceback
from typing import Any

from .orchestrator import DefaultOrchestrator


def add_jobs_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``jobs``, ``jobs list`` and ``jobs run ID`` on the ``areion`` CLI."""
    parser = subparsers.add_parser(
        "jobs", help="list scheduled jobs and their next run times; 'jobs run ID' runs one now",
        description="List the app's scheduled jobs (from code and from [plugins.scheduling.jobs]) "
                    "with their next run times, or run one now in this process.",
    )
    app_help = "module:attr of the app (default: `app` in areion.toml or AREION_APP)"
    parser.add_argument("--app", help=app_help)
    actions = parser.add_subparsers(dest="jobs_action", metavar="{list,run}")
    lister = actions.add_parser("list", help="list the jobs (the default)")
    runner = actions.add_parser("run", help="run one job now, here, outside its schedule")
    runner.add_argument("job_id", help="the job's id, as 'areion jobs' shows it")
    for sub in (lister, runner):
        # SUPPRESS: a nested parser's default would overwrite an --app given before "run".
        sub.add_argument("--app", default=argparse.SUPPRESS, help=app_help)
    parser.set_defaults(func=list_jobs_command)
    lister.set_defaults(func=list_jobs_command)
    runner.set_defaults(func=run_job_command)


def _orchestrator(args: argparse.Namespace) -> DefaultOrchestrator | None:
    app = args.load_app()
    orchestrator = getattr(app, "orchestrator", None)
    if not isinstance(orchestrator, DefaultOrchestrator):
        print("areion jobs: the app has no DefaultOrchestrator (is the 'scheduling' plugin "
              f"enabled?); its orchestrator is {orchestrator!r}", file=sys.stderr)
        return None
    orchestrator.bind(app)
    return orchestrator


def list_jobs_command(args: argparse.Namespace) -> int:
    """Print one line per job: id, next run time, schedule, function, where it was declared."""
    orchestrator = _orchestrator(args)
    if orchestrator is None:
        return 1
    jobs = orchestrator.list_jobs()
    if not jobs:
        print("no scheduled jobs")
        return 0
    rows = [("ID", "NEXT RUN", "SCHEDULE", "FUNCTION", "FROM")]
    rows += [(j.id, j.next_run_time.isoformat() if j.next_run_time else "-", j.trigger, j.func,
              j.source) for j in jobs]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip())
    return 0


def run_job_command(args: argparse.Namespace) -> int:
    """Run one job now; exit 0 when it succeeds, 1 when it raises, 2 for an unknown id."""
    orchestrator = _orchestrator(args)
    if orchestrator is None:
        return 1
    if orchestrator.get_job(args.job_id) is None:
        known = ", ".join(j.id for j in orchestrator.list_jobs()) or "none"
        print(f"areion jobs run: no job {args.job_id!r} (jobs: {known})", file=sys.stderr)
        return 2

    async def run() -> Any:
        try:
            return await orchestrator.run_job_now(args.job_id)
        finally:
            await orchestrator.shutdown()  # lets background tasks the job submitted finish

    started = time.monotonic()
    try:
        result = asyncio.run(run())
    except Exception:
        traceback.print_exc()
        print(f"job {args.job_id} failed after {time.monotonic() - started:.3f}s",
              file=sys.stderr)
        return 1
    suffix = "" if result is None else f": {result!r}"
    print(f"job {args.job_id} finished in {time.monotonic() - started:.3f}s{suffix}")
    return 0
