"""The Celery app of the cluster: `celery -A worker worker` runs a worker, `celery -A worker flower` Flower.

The app lives alone here; its configuration is generated from the settings (`worker.config`,
on first use), its tasks are in `worker.tasks`, and the worker's health heartbeat in
`worker.health`. Importing it reads no setting: every `celery` command checks them first,
before Celery reads any (`check_settings`), and a bad one is one line and exit 1.
"""

import click
from celery import Celery

from settings import SettingError, current
from worker.config import celery_config


def check_settings(ctx: click.Context, _param: click.Parameter, _value: object) -> None:
    """Load the settings before the command's other options (eager): a refusal is one line, not a traceback."""
    try:
        current()
    except SettingError as exc:
        click.echo(f"celery: error: {exc}", err=True)
        ctx.exit(1)


app = Celery("worker", include=["worker.tasks"])
app.add_defaults(lambda: celery_config(current()))
app.user_options["preload"].add(click.Option(["--check-settings"], is_flag=True, is_eager=True, expose_value=False,
                                             hidden=True, callback=check_settings))

from worker import health  # noqa: E402,F401  (connects the worker's signal handlers)

__all__ = ["app"]
