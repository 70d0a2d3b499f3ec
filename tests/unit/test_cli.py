"""Bad arguments: one line on stderr, exit 2, before anything touches the network."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from producer.commands.main import default_timeout, main
from producer.submit import Collected, Job, Outcome, plan  # submit re-exports what the CLI and tests used to get there
from settings import current
from tests.unit.builders import outcome, record


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
    assert default_timeout(8, 1.0) == 2 * 8 * 1.0 + current().recovery_silence + 30.0
    assert default_timeout(8, 1.0) < current().visibility_timeout  # the backstop is not waited for by default


def test_submit_still_offers_the_batch_pieces():
    from producer import jobs

    assert (Job, Outcome, plan) == (jobs.Job, jobs.Outcome, jobs.plan)
    batch = Collected([outcome(task_id="a"), outcome(task_id="b", status="WITHDRAWN"),
                       outcome(record(0, 1), task_id="c")], wall_s=1.0, submit_s=0.01)
    assert [o.task_id for o in batch.failed] == ["a", "b"] and [o.task_id for o in batch.withdrawn] == ["b"]


# --- a run's failures are said once (issue #31): the job lines name them, stderr counts them ------------------


@pytest.fixture
def a_run_with_trouble(monkeypatch):
    """`producer run` on a made-up batch: one job succeeded, one failed, one still running at the timeout,
    one withdrawn; no broker."""
    from producer import api
    from producer.commands import main as cli_main
    from producer.results import BatchResult
    from tests.unit.builders import at, run

    late = replace(outcome(None, task_id="late-1", error="did not finish within 1 s"),
                   runs=(run(0.01, worker="worker@h2", pid=9),), given_up_at=at(1.0))
    batch = Collected([outcome(record(0, 0.5, task_id="ok-1")),
                       outcome(record(0, 0.5, task_id="bad-1", hostname="h3"), status="FAILURE",
                               error="JobFailed: task1 was asked to fail"),
                       late, outcome(None, status="WITHDRAWN", task_id="gone-1")], wall_s=1.0, submit_s=0.001)
    monkeypatch.setattr(cli_main.api, "ready", lambda *_, **__: api.Ready("jobs", [], 4, 0))
    monkeypatch.setattr(cli_main.api, "run_on", lambda *_, **__: BatchResult.of(batch, slots_online=4))
    return ["--jobs", "4", "--timeout", "1", "--no-live", "--no-progress"]


def test_each_job_that_did_not_succeed_is_named_once_not_on_stdout_and_stderr_both(a_run_with_trouble, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(a_run_with_trouble)
    out, err = capsys.readouterr()
    assert exit_info.value.code == 1
    for task_id in ("bad-1", "late-1", "gone-1"):
        assert (out + err).count(task_id) == 1, (task_id, out, err)
    assert "task1 did not finish within 1 s: still running on worker@h2 pid 9 (task late-1)" in out
    assert err.splitlines() == ["error: 1 failed, 1 did not finish within 1 s; withdrew 1 that had not started "
                                "(each job named above)"]


def test_with_json_stderr_names_the_jobs_the_document_holds(a_run_with_trouble, capsys):
    with pytest.raises(SystemExit):
        main([*a_run_with_trouble, "--json"])
    out, err = capsys.readouterr()
    assert err.splitlines() == ["error: task1 (bad-1): JobFailed: task1 was asked to fail",
                                "error: task1 (late-1): did not finish within 1 s",
                                "withdrew 1 jobs that had not started within 1 s"]
    assert json.loads(out)["summary"]["unfinished"] == 1
