"""The ``scheduling`` plugin: provides the orchestrator and the ``areion jobs`` command."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from areion_core import hookimpl

from .cli import add_jobs_command
from .orchestrator import DefaultOrchestrator
from .settings import SECTION, SchedulingSettings

if TYPE_CHECKING:
    from areion_core import App, AreionConfig


class SchedulingPlugin:
    """Wiring only: the orchestrator lives in ``orchestrator.py``."""

    #: Matches the entry-point name, so ``with_plugins(SchedulingPlugin())`` replaces the installed one.
    name = SECTION

    @hookimpl
    def configure(self, app: App, config: AreionConfig) -> None:
        # Fail at startup on a bad [plugins.scheduling] (jobs' functions are imported later,
        # when the orchestrator binds to the app).
        SchedulingSettings.from_section(config.section(self.name))

    @hookimpl
    def orchestrator(self, app: App) -> DefaultOrchestrator | None:
        if getattr(app, "orchestrator", None) is not None:
            return None  # the user passed one with with_orchestrator(); the core keeps it
        # Options come from [plugins.scheduling] when the core calls startup(app).
        return DefaultOrchestrator()

    @hookimpl
    def cli_commands(self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        add_jobs_command(subparsers)
