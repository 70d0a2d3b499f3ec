"""Every command's help: listed whole (never cut mid-sentence), every option explained."""

from __future__ import annotations

import click
import pytest

from producer.cli import cli


def commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((f"{prefix}{name}", command))
        if isinstance(command, click.Group):
            found += commands(command, f"{prefix}{name} ")
    return found


@pytest.mark.parametrize("name, command", commands(cli), ids=[n for n, _ in commands(cli)])
def test_every_command_has_a_whole_short_help_and_every_option_a_help(name, command):
    short = command.get_short_help_str(limit=45)
    assert short and not short.endswith("..."), f"{name}: listed as {short!r}"
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "help":
            assert param.help, f"{name} {param.opts[0]} has no help text"
