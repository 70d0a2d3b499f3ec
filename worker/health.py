"""The worker's liveness as others see it (a heartbeat file, named Redis connections), and a tidy log.

The worker touches HEALTH_FILE when it is ready and on every event heartbeat (every 2 s,
sent through Redis), so a fresh file means: the main process loops and reaches the broker.
A healthcheck that reads the file's age costs a `stat`, not a Python start-up.

Its broker connections carry the name `celery-worker:<node>/<pid>` (Redis CLIENT LIST), so
the recovery service can tell a worker that is gone (the kernel closed its sockets) from one
that is only silent. One of them is a pulse: a thread of its own that PINGs Redis every
PULSE_EVERY_S, whatever the worker's loop does. A job that blocks the loop (the solo pool)
stops the heartbeats, not the pulse: the worker is left alone. A frozen container or a host
cut off the network stops both: every connection goes idle, and the service fences it off.
(Under gevent a thread is a greenlet, which a blocked loop stops too: no pulse there.)
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from celery.signals import after_setup_logger, celeryd_init, heartbeat_sent, worker_ready, worker_shutdown

from settings import current
from worker.config import WORKER_CLIENT_PREFIX


def client_name(node: str, pid: int) -> str:
    """The name a worker's Redis connections carry: no spaces, as Redis requires."""
    return f"{WORKER_CLIENT_PREFIX}{node}/{pid}".replace(" ", "_")


def _touch(**_: Any) -> None:
    Path(current().health_file).touch()


def _remove(**_: Any) -> None:
    Path(current().health_file).unlink(missing_ok=True)


def _quiet_success_lines(**_: Any) -> None:
    # Celery logs each success as `Task task1[...] succeeded in 1.00s: {<the whole record>}`,
    # 400 characters a job; the task logs the course page's own line instead (worker.tasks).
    # Failures and retries are still logged (WARNING and above).
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)


after_setup_logger.connect(_quiet_success_lines, weak=False)


#: Seconds between two PINGs of the pulse: well under RECOVERY_SILENCE (6 s).
PULSE_EVERY_S = 2.0


def _pulse_forever() -> None:
    from worker import app  # the cluster's app, whose transport options name the connection

    connection = None
    while True:
        try:
            if connection is None:
                connection = app.connection_for_write()
            connection.default_channel.client.ping()
        except Exception:  # noqa: BLE001  (Redis away or the connection fenced off: a new one next time)
            if connection is not None:
                try:
                    connection.release()
                except Exception:  # noqa: BLE001  (releasing a broken connection)
                    pass
            connection = None
        time.sleep(PULSE_EVERY_S)


def _start_pulse(**_: Any) -> None:
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        return  # a greenlet would stop with the loop it is meant to outlive
    threading.Thread(target=_pulse_forever, name="redis-pulse", daemon=True).start()


def _name_connections(sender: str, conf: Any, **_: Any) -> None:
    # celeryd_init runs before the worker opens its first broker connection.
    conf.broker_transport_options = {**conf.broker_transport_options, "client_name": client_name(sender, os.getpid())}


celeryd_init.connect(_name_connections, weak=False)
worker_ready.connect(_touch, weak=False)
worker_ready.connect(_start_pulse, weak=False)
heartbeat_sent.connect(_touch, weak=False)
worker_shutdown.connect(_remove, weak=False)
