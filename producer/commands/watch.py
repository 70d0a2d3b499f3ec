"""`python -m producer watch`: the whole cluster live (a shell over producer.views.live.watch)."""

from __future__ import annotations

import click

from producer.commands.options import Number
from producer.views import live


@click.command(short_help="The whole cluster live: a lane per worker slot, anyone's jobs.")
@click.option("--seconds", "-s", type=Number(2, 3600), default=30.0, show_default=True,
              help="Width of the scrolling window, in seconds (off a terminal: how long to follow, then print).")
@click.option("--queue", "-q", "queues", multiple=True,
              help="Show this queue's depth (repeatable) [default: $QUEUE or jobs].")
def watch(seconds: float, queues: tuple[str, ...]) -> int:
    """The whole cluster live, anyone's jobs: a lane per worker slot, queue depths, workers coming and going.

    Ctrl-C ends it. Workers must send events (-E, as compose and the tests run them).
    """
    return live.watch(seconds, queues)
