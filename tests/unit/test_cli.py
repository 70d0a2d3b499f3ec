"""Bad arguments: one line on stderr, exit 2, before anything touches the network."""

from __future__ import annotations

import pytest

from producer.commands.main import default_timeout, main
from producer.submit import Collected, Job, Outcome, plan  # submit re-exports what the CLI and tests used to get there
from tests.unit.builders import outcome, record
from worker import config


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--jobs", "0"], "--jobs"),
        (["--jobs", "-3"], "--jobs"),
        (["--jobs", "abc"], "--jobs"),
        (["--jobs", "1000001"], "--jobs"),
        (["--duration", "-1"], "--duration"),
        (["--duration", "nan"], "--duration"),
        (["--duration", "99999"], "--duration"),
        (["--duration", "soon"], "--duration"),
        (["--timeout", "0"], "--timeout"),
        (["--timeout", "nan"], "--timeout"),
        (["--kind", "io"], "--kind"),
        (["--task", "task3"], "--task"),
        (["--fail-rate", "1.5"], "--fail-rate"),
        (["--flaky-rate", "-0.1"], "--flaky-rate"),
        (["--queue", " "], "--queue"),
        (["--frobnicate"], "--frobnicate"),
        (["compare-all"], "no command 'compare-all'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, fragment, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith("producer: error: ") and err.count("\n") == 1, err
    assert fragment in err
    assert "Traceback" not in err


def test_an_unknown_command_is_named_with_the_closest_one(capsys):
    with pytest.raises(SystemExit):
        main(["compare-all"])
    assert "did you mean 'compare'?" in capsys.readouterr().err


def test_help_names_the_default_command_and_its_options(capsys):
    for args, expected in ((["--help"], "run --help"), (["run", "--help"], "--jobs")):
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        assert exit_info.value.code == 0
        assert expected in capsys.readouterr().out


def test_default_timeout_covers_a_sequential_run_and_a_redelivery():
    assert default_timeout(8, 1.0) == 2 * 8 * 1.0 + config.RECOVERY_SILENCE + 30.0
    assert default_timeout(8, 1.0) < config.VISIBILITY_TIMEOUT  # the backstop is not waited for by default


def test_submit_still_offers_the_batch_pieces():
    from producer import jobs

    assert (Job, Outcome, plan) == (jobs.Job, jobs.Outcome, jobs.plan)
    batch = Collected([outcome(task_id="a"), outcome(task_id="b", status="WITHDRAWN"),
                       outcome(record(0, 1), task_id="c")], wall_s=1.0, submit_s=0.01)
    assert [o.task_id for o in batch.failed] == ["a", "b"] and [o.task_id for o in batch.withdrawn] == ["b"]
