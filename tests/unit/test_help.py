"""Every command's help: listed whole (never cut mid-sentence), every option explained."""

from __future__ import annotations

import click
import pytest

from producer.commands.main import cli
from tests.unit.builders import commands


@pytest.mark.parametrize("name, command", commands(cli), ids=[n for n, _ in commands(cli)])
def test_every_command_has_a_whole_short_help_and_every_option_a_help(name, command):
    short = command.get_short_help_str(limit=45)
    assert short and not short.endswith("..."), f"{name}: listed as {short!r}"
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "help":
            assert param.help, f"{name} {param.opts[0]} has no help text"
