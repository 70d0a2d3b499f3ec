"""The Celery app of the cluster: `celery -A worker worker` runs a worker, `celery -A worker flower` Flower.

The app lives alone here; its settings are in `worker.config`, its tasks in `worker.tasks`,
and the worker's health heartbeat in `worker.health`.
"""

import os
import sys

from celery import Celery

try:
    from worker import config
except ValueError as exc:  # worker.errors.SettingError: a bad environment variable
    if os.path.basename(sys.argv[0]) in ("celery", "__main__.py") and "celery" in sys.argv[0]:
        sys.exit(f"celery: error: {exc}")  # one line, exit 1, instead of Celery's traceback
    if sys.argv[0] == "-m":  # `python -m worker.<module>` (while Python finds it), e.g. compose's
        # one-shot `secrets`, which parses the workers' settings on every `up`: a bad one stops
        # `up` there, at once, instead of workers restarting on it forever.
        sys.exit(f"settings: error: {exc}")
    raise

app = Celery("worker", include=["worker.tasks"])
app.config_from_object(config)

from worker import health  # noqa: E402,F401  (connects the worker's signal handlers)

__all__ = ["app"]
