"""The second newcomer pass (issue #23), defect by defect: each test failed before its fix.

Messages a user reads, without a cluster: help that fits 80 columns, a version without package
metadata, the quiz asking again, what an interrupted run says of its jobs, hints that name the
right command, pictures that name what is drawn.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import tomllib

import click
import pytest
from click.testing import CliRunner

import producer
from cluster.errors import ExtraMissing, Interrupted, UsageError, no_workers, start_workers_hint
from producer.commands.main import cli, main
from producer.figures import summarize
from producer.story import tell
from tests.helpers import ROOT
from tests.unit.builders import commands, outcome, record, waves


@pytest.mark.parametrize("name", ["", *[n for n, _ in commands(cli)]])
def test_every_help_fits_80_columns(name, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = CliRunner().invoke(cli, [*name.split(), "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    too_wide = [line for line in result.output.splitlines() if len(line) > 80]
    assert too_wide == []


def test_the_version_needs_no_package_metadata(monkeypatch, capsys):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)  # the image copies the code, installs nothing
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"producer, version {producer.__version__}\n"


def test_the_version_is_pyproject_s():
    assert producer.__version__ == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_the_quiz_asks_again_after_an_answer_it_does_not_know():
    from producer.commands.quiz import _prompt
    from producer.experiments.course_quiz import NOT_PARALLEL, SCENARIOS

    @click.command()
    def ask() -> None:
        click.echo(f"got {_prompt(SCENARIOS[0])}")

    result = CliRunner().invoke(ask, input="maybe\nnot\n", terminal_width=80)
    assert result.exit_code == 0, result.output
    assert "answer 'parallel' or 'not parallel' (or p / not), not 'maybe'" in result.output
    assert result.output.count("your answer") == 2 and f"got {NOT_PARALLEL}" in result.output


def test_quiz_prompts_are_wrapped_at_80_columns(monkeypatch):
    from producer.commands.quiz import _prompt
    from producer.experiments.course_quiz import SCENARIOS

    monkeypatch.setenv("COLUMNS", "80")

    @click.command()
    def ask() -> None:
        for scenario in SCENARIOS:
            _prompt(scenario)

    result = CliRunner().invoke(ask, input="p\np\np\n")
    assert result.exit_code == 0 and "Multiple people take turns" in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80


@pytest.mark.parametrize("counts, message", [
    ((0, 0, 0), "interrupted"),
    ((24624, 3531, 4), "interrupted: withdrew 24624 jobs that had not started; 3531 had finished; "
                       "4 taken by a worker will finish (or are dropped, if only reserved)"),
    ((38, 0, 2), "interrupted: withdrew 38 jobs that had not started; 2 taken by a worker will finish "
                 "(or are dropped, if only reserved)"),
    ((5, 7, 0), "interrupted: withdrew 5 jobs that had not started; 7 had finished"),
])
def test_an_interrupted_run_tells_finished_jobs_from_running_ones(counts, message):
    assert str(Interrupted.after(*counts)) == message


@pytest.mark.parametrize("queue, hint", [
    ("jobs-threads", "FLAVOURS=1 docker compose up -d --wait"),
    ("jobs-gevent", "FLAVOURS=1 docker compose up -d --wait"),
    ("jobs", "docker compose up -d --wait (or without Docker: python -m producer local up)"),
])
def test_no_worker_names_the_command_that_starts_one_for_that_queue(queue, hint):
    assert start_workers_hint(queue) == hint
    message = str(no_workers(queue, ["jobs"]))
    assert message.endswith(f"start them first: {hint}") and "queues with workers: jobs" in message


def test_local_up_flower_without_the_extra_says_which_to_install(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("LOCAL_CLUSTER_DIR", str(tmp_path))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "flower" else real(name, *a))
    with pytest.raises(SystemExit) as exit_info:
        main(["local", "up", "--flower"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == ("producer: error: --flower needs the flower extra (flower is not installed): "
                                       "pip install -e '.[flower]'\n")
    assert not list(tmp_path.iterdir())  # nothing started
    assert isinstance(ExtraMissing("--x", "y", "z"), UsageError)


def test_local_up_names_the_python_that_has_the_project(monkeypatch, tmp_path):
    import sys

    from producer.commands.local import python_command

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr("shutil.which", lambda name: None)
    shown = python_command()
    assert shown != "python" and (ROOT / shown).exists() or shown == sys.executable
    monkeypatch.setattr("shutil.which", lambda name: sys.executable)
    assert python_command() == "python"


@pytest.mark.parametrize("args, fragment", [
    (["--jobs", "abc"], "'abc' is not a valid whole number"),
    (["--duration", "soon"], "'soon' is not a valid number"),
    (["--duration", "nan"], "'nan' is not a number"),
    (["--plot", "/proc/run.txt"], "--plot /proc/run.txt: cannot save .txt files; use one of"),
    (["sweep", "--plot", "/proc/sweep.txt"], "--plot /proc/sweep.txt: cannot save .txt files"),
])
def test_a_mistake_is_named_for_what_it_is(args, fragment, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and fragment in err and err.count("\n") == 1, err


def test_the_gantt_legend_names_only_what_is_drawn():
    pytest.importorskip("matplotlib", reason="the plot extra is not installed")
    from producer.views.plot import gantt_figure

    quick = [outcome(record(0.001, 1.001, task_id=f"q{i}", hostname=f"h{i}"), submitted=0.0) for i in range(2)]
    def legend_of(out, wall_s):
        fig = gantt_figure(tell(out), summarize(out, wall_s=wall_s))
        return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]

    legend = legend_of(quick, 1.01)
    assert "waiting in the queue" not in legend  # a 1 ms wait is no bar anyone sees
    waited = waves(4, hosts=2)  # the second wave waited 1 s in the queue
    legend = legend_of(waited, 2.02)
    assert "waiting in the queue" in legend


def test_status_reads_flowers_port_as_compose_does(tmp_path, monkeypatch):
    from producer.commands.main import compose_setting

    dotenv = tmp_path / ".env"
    dotenv.write_text("# FLOWER_PORT=1\nWORKERS=4\nFLOWER_PORT = '25555'\nFLOWER_USER=\n")
    monkeypatch.delenv("FLOWER_PORT", raising=False)
    monkeypatch.delenv("FLOWER_USER", raising=False)
    assert compose_setting("FLOWER_PORT", "5555", dotenv) == "25555"
    assert compose_setting("FLOWER_USER", "admin", dotenv) == "admin"  # empty: compose's default
    assert compose_setting("FLOWER_PORT", "5555", tmp_path / "none") == "5555"
    monkeypatch.setenv("FLOWER_PORT", "26000")  # the shell's variable wins, as with compose
    assert compose_setting("FLOWER_PORT", "5555", dotenv) == "26000"
