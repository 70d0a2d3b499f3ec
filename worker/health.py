"""The worker's liveness file, read by the container's healthcheck.

The worker touches HEALTH_FILE when it is ready and on every event heartbeat (every 2 s,
sent through Redis), so a fresh file means: the main process loops and reaches the broker.
A healthcheck that reads the file's age costs a `stat`, not a Python start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery.signals import heartbeat_sent, worker_ready, worker_shutdown

from worker import config


def _touch(**_: Any) -> None:
    Path(config.HEALTH_FILE).touch()


def _remove(**_: Any) -> None:
    Path(config.HEALTH_FILE).unlink(missing_ok=True)


worker_ready.connect(_touch, weak=False)
heartbeat_sent.connect(_touch, weak=False)
worker_shutdown.connect(_remove, weak=False)
