"""What a job raises.

`JobFailed` and `TransientJobError`: a job asked to fail, for good or once, so the demo can show failures and
retries. `WorkerLost`: a job refused because it took its worker down too often.
"""

from __future__ import annotations

from typing import Any


class JobFailed(Exception):
    """Raised by a job asked to fail for good (`fail="always"`): reported, never retried.

    Its second argument is the job's result record, so the producer can still say who ran
    it and when (Celery sends exception arguments along with the failure).
    """

    def __init__(self, message: str, record: dict[str, Any] | None = None) -> None:
        super().__init__(message, record)

    @property
    def record(self) -> dict[str, Any] | None:
        return self.args[1] if len(self.args) > 1 else None

    def __str__(self) -> str:
        return str(self.args[0])


class TransientJobError(Exception):
    """Raised by a job asked to fail on its first attempt (`fail="once"`): retried with backoff."""


class WorkerLost(Exception):
    """Raised instead of running a job that took its worker down RECOVERY_MAX_DEATHS times
    (a segfault, an OOM kill): failed for good with the workers it killed, never handed out again."""
