"""Click parameter types whose complaints a newcomer reads at once, shared by every command.

click's IntRange says "'abc' is not a valid integer range"; these say "whole number" and
"number", and `picture` checks a picture's extension before it tries to write the file (the
extension is the mistake to name); in the container a read-only folder is named with where to write.
Every command that runs jobs shares `--progress/--no-progress` and the stderr console it is drawn on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from producer.where import Where

PROGRESS_OPTION = click.option(
    "--progress/--no-progress", default=True,
    help="Progress while waiting: a bar on a terminal, else a line on stderr every few seconds.")


def err_console() -> Console:
    """stderr, for progress and notes: never wrapped (a message stays one line for grep)."""
    return Console(stderr=True, soft_wrap=True, highlight=False)


class WholeNumber(click.IntRange):
    """click.IntRange, named "whole number" in its messages."""

    name = "whole number"


class Number(click.FloatRange):
    """click.FloatRange, named "number" in its messages; nan and inf are refused too."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a number", param, ctx)
        return number


def writable(_: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """Check an output file can be written before any job is submitted, not after.

    The file is really opened (and removed again if it did not exist): permission bits say
    nothing of /proc, read-only mounts or a full disk.
    """
    if value is None:
        return None
    existed = value.exists()
    if value.is_dir():
        raise click.BadParameter(f"{str(value)!r} is a folder", param=param)
    try:
        with open(value, "a"):
            pass
    except OSError as exc:
        where = Where.here()
        hint = f" (in the container: {where.keep_it()})" if where.in_image and exc.strerror == "Read-only file system" \
            else ""
        raise click.BadParameter(f"cannot write {str(value)!r}: {exc.strerror}{hint}", param=param) from None
    if not existed:
        value.unlink(missing_ok=True)
    return value


def picture(check: Callable[[Path], None]) -> Callable[[click.Context, click.Parameter, Path | None], Path | None]:
    """A callback for a picture's path: its kind first (`check`, e.g. plot.check_format), then writable."""
    def callback(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
        if value is not None:
            check(value)
        return writable(ctx, param, value)
    return callback
