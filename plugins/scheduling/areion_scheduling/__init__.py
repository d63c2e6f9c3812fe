"""Background tasks and cron/interval/one-off jobs for Areion, once per tick across processes."""

from .executor import scheduled_time
from .hooks import SchedulingPlugin
from .jobs import JobInfo
from .orchestrator import DefaultOrchestrator
from .settings import DEFAULT, SchedulingSettings
from .tasks import TaskHandle, TaskQueueFullError
from .triggers import At, Cron, Every

__all__ = [
    "DEFAULT",
    "At",
    "Cron",
    "DefaultOrchestrator",
    "Every",
    "JobInfo",
    "SchedulingPlugin",
    "SchedulingSettings",
    "TaskHandle",
    "TaskQueueFullError",
    "scheduled_time",
]
