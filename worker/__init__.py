"""The Celery app of the cluster: `celery -A worker worker` runs a worker, `celery -A worker flower` Flower.

The app lives alone here; its settings are in `worker.config`, its tasks in `worker.tasks`,
and the worker's health heartbeat in `worker.health`.
"""

from celery import Celery

app = Celery("worker", include=["worker.tasks"])
app.config_from_object("worker.config")

from worker import health  # noqa: E402,F401  (connects the worker's signal handlers)

__all__ = ["app"]
