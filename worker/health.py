"""The worker's liveness file, read by the container's healthcheck, and its log's tidiness.

The worker touches HEALTH_FILE when it is ready and on every event heartbeat (every 2 s,
sent through Redis), so a fresh file means: the main process loops and reaches the broker.
A healthcheck that reads the file's age costs a `stat`, not a Python start-up.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from celery.signals import after_setup_logger, heartbeat_sent, worker_ready, worker_shutdown

from worker import config


def _touch(**_: Any) -> None:
    Path(config.HEALTH_FILE).touch()


def _remove(**_: Any) -> None:
    Path(config.HEALTH_FILE).unlink(missing_ok=True)


def _quiet_success_lines(**_: Any) -> None:
    # Celery logs each success as `Task task1[...] succeeded in 1.00s: {<the whole record>}`,
    # 400 characters a job; the task logs the course page's own line instead (worker.tasks).
    # Failures and retries are still logged (WARNING and above).
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)


after_setup_logger.connect(_quiet_success_lines, weak=False)
worker_ready.connect(_touch, weak=False)
heartbeat_sent.connect(_touch, weak=False)
worker_shutdown.connect(_remove, weak=False)
