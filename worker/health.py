"""The worker's liveness as others see it (a heartbeat file, named Redis connections), and a tidy log.

The worker touches HEALTH_FILE when it is ready and on every event heartbeat (every 2 s,
sent through Redis), so a fresh file means: the main process loops and reaches the broker.
A healthcheck that reads the file's age costs a `stat`, not a Python start-up.

Its broker connections carry the name `celery-worker:<node>/<pid>` (Redis CLIENT LIST), so
the recovery service can tell a worker that is gone (the kernel closed its sockets) from
one that is merely silent (a job blocking its loop, a paused container).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from celery.signals import after_setup_logger, celeryd_init, heartbeat_sent, worker_ready, worker_shutdown

from worker import config


def client_name(node: str, pid: int) -> str:
    """The name a worker's Redis connections carry: no spaces, as Redis requires."""
    return f"{config.WORKER_CLIENT_PREFIX}{node}/{pid}".replace(" ", "_")


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


def _name_connections(sender: str, conf: Any, **_: Any) -> None:
    # celeryd_init runs before the worker opens its first broker connection.
    conf.broker_transport_options = {**conf.broker_transport_options, "client_name": client_name(sender, os.getpid())}


celeryd_init.connect(_name_connections, weak=False)
worker_ready.connect(_touch, weak=False)
heartbeat_sent.connect(_touch, weak=False)
worker_shutdown.connect(_remove, weak=False)
