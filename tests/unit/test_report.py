"""What the producer prints: job lines in the course page's words, the summary lines, the JSON document."""

from __future__ import annotations

import json
from dataclasses import replace

from rich.console import Console

from producer.figures import summarize
from producer.story import tell
from producer.views.report import MEANINGS, job_line, job_lines, json_document, print_text, summary_lines
from tests.unit.builders import at, made_up, outcome, record, run, waves
from worker.runs import Run

WORKER = "worker@faea5785655b"


def test_job_line_reads_like_the_course_page_and_fits_80_columns():
    rec = record(0.004258, 1.004473, worker=WORKER, pid=8, runtime_s=1.000215)
    line = job_line(outcome(rec))
    assert line == f"task1 finished at 19:00:01.004473 on {WORKER} pid 8, ran 1.00 s"
    assert len(line) <= 80


def test_a_retried_or_redelivered_job_says_so_on_a_second_line():
    retried = job_line(outcome(record(3.1, 4.1, worker=WORKER, attempt=2), submitted=0.0))
    assert retried.splitlines()[1] == "  attempt 2, retried: started 3.1 s after it was submitted"
    redelivered = job_line(outcome(record(31.0, 32.0, worker=WORKER, redelivered=True), submitted=0.0))
    assert redelivered.splitlines()[1] == "  attempt 1, redelivered: started 31.0 s after it was submitted"
    both = job_line(outcome(record(5.0, 6.0, worker=WORKER, attempt=2, redelivered=True), submitted=1.0))
    assert both.splitlines()[1] == "  attempt 2, redelivered: started 4.0 s after it was submitted"
    assert all(len(line) <= 80 for line in (retried + "\n" + redelivered).splitlines())
    assert "\n" not in job_line(outcome(record(0, 1)))


def test_failed_withdrawn_and_missing_jobs_are_named():
    assert job_line(outcome(None, status="FAILURE", error="ValueError: bad", task_id="id-1")) == (
        "task1 FAILED: ValueError: bad (task id-1)")
    ran = outcome(record(0, 1, worker=WORKER, pid=9), status="FAILURE", error="JobFailed: asked", task_id="id-2")
    assert job_line(ran) == f"task1 FAILED on {WORKER} pid 9: JobFailed: asked (task id-2)"
    assert job_line(outcome(None, status="WITHDRAWN", task="task2", task_id="id-3")) == (
        "task2 withdrawn: it had not started (task id-3)")
    assert job_line(outcome(None, error="did not finish within 3 s", task_id="id-4")) == (
        "task1 did not finish within 3 s (task id-4)")
    running = replace(outcome(None, error="did not finish within 3 s", task_id="id-6"),
                      runs=(run(0.01, worker=WORKER, pid=8),), given_up_at=at(3.0))
    assert job_line(running) == f"task1 did not finish within 3 s: still running on {WORKER} pid 8 (task id-6)"
    assert job_line(outcome(None, task_id="id-5")) == "task1 did not finish: no result (task id-5)"


def test_job_lines_say_the_date_once_then_jobs_in_the_order_they_finished():
    out = [outcome(record(0, 2.0, task_id="slow", worker=WORKER)),
           outcome(None, status="FAILURE", error="boom", task_id="bad"),
           outcome(record(0, 1.0, task_id="fast", task="task2", worker=WORKER))]
    lines = job_lines(out)
    assert lines[0] == "jobs finished on 2026-11-24 (UTC):"
    assert lines[1].startswith("task2 finished at 19:00:01.000000")
    assert lines[2].startswith("task1 finished at 19:00:02")
    assert lines[3] == "task1 FAILED: boom (task bad)"
    assert len(lines) == 4 and sum(line.count("2026-11-24") for line in lines) == 1


def test_job_lines_over_midnight_and_without_finished_jobs():
    out = [outcome(record(0, 1, task_id="a")), outcome(record(0, 5 * 3600 + 1, task_id="b"))]
    assert job_lines(out)[0] == "jobs finished on 2026-11-24 to 2026-11-25 (UTC):"
    assert job_lines([outcome(None, task_id="x")]) == ["task1 did not finish: no result (task x)"]
    assert job_lines([]) == []


def test_equal_outcomes_are_each_listed_once():
    twin = outcome(None, task_id="same")
    done = outcome(record(0, 1, task_id="ok"))
    assert job_lines([twin, done, outcome(None, task_id="same")])[1:] == [
        job_line(done), job_line(twin), job_line(twin)]


def test_summary_lines_have_a_figure_a_value_and_a_meaning_and_no_padding():
    out = waves(6, hosts=2) + [outcome(None, status="FAILURE", error="x", task_id="f"),
                               outcome(None, status="WITHDRAWN", task_id="w")]
    lines = summary_lines(summarize(out, wall_s=3.1, slots_online=2))
    # none ran twice, none has a run list here, none was sent again
    assert [line.split()[0] for line in lines] == [k for k in MEANINGS if k not in (
        "cancelled", "retry_wait_s", "queued_while_idle_s", "duplicates", "runs", "resubmitted")]
    assert all(line == line.rstrip() for line in lines)
    assert lines[0] == "jobs                  8  jobs submitted: 1 failed, 1 withdrawn"  # the values stay one column
    assert lines[3] == "cpus                  4  CPUs those workers share"
    assert lines[5] == "work_s            6.000  sum of the jobs' durations: one after another"
    assert lines[8] == "speedup           1.935  work / wall"
    assert lines[1] == "slots_used            2  worker slots that ran a job (process, thread, greenlet)"


def test_summary_values_none_and_large():
    s = summarize([outcome(None, task_id="a")], wall_s=0.0)
    lines = {line.split()[0]: line for line in summary_lines(s)}
    assert lines["speedup"] == "speedup             n/a  work / wall"
    assert lines["jobs"] == "jobs                  1  jobs submitted: 1 unfinished"  # no result yet: not failed
    long = summarize(waves(150, hosts=1), wall_s=150.5, slots_online=1)
    lines = {line.split()[0]: line for line in summary_lines(long)}
    assert lines["work_s"] == "work_s              150  sum of the jobs' durations: one after another"
    assert lines["wall_s"] == "wall_s          150.500  producer's clock, first submit to last result"
    assert lines["jobs"] == "jobs                150  jobs submitted"


def test_json_document_has_results_in_submission_order_and_the_summary():
    out = waves(2, hosts=2) + [outcome(None, status="FAILURE", error="ValueError: bad", task_id="f")]
    summary = summarize(out, wall_s=1.1, slots_online=2)
    doc = json.loads(json_document(tell(out), summary))
    assert [r["task_id"] for r in doc["results"]] == ["id-0", "id-1", "f"]
    assert doc["results"][2] == {"task": "task1", "task_id": "f", "submitted_at": "2026-11-24T19:00:00.000000+00:00",
                                 "status": "FAILURE", "error": "ValueError: bad"}
    assert doc["summary"] == json.loads(json.dumps(summary.as_json()))


def test_the_text_report_has_jobs_timeline_summary_notes_and_verdict():
    out = waves(8, hosts=4)
    summary = summarize(out, wall_s=2.02, slots_online=4, queued_ahead=3)
    console = Console(width=100, force_terminal=False, color_system=None)
    with console.capture() as capture:
        print_text(console, tell(out), summary)
    text = capture.get().splitlines()
    assert text[0] == "jobs finished on 2026-11-24 (UTC):" and text[9] == ""
    assert text[10].startswith("timeline: one row per worker slot")
    queued = next(i for i, line in enumerate(text) if line.startswith("         queued "))
    assert text[queued] == "         queued " + "4" * 42 and text[queued + 1].startswith("worker@h0 pid 7 task1")
    assert text[queued + 7] == "" and text[queued + 8] == "summary"
    drawn_and_figures = text[:10] + text[queued:queued + 7] + text[queued + 9:queued + 22]
    assert all(len(line) <= 100 and line == line.rstrip() for line in drawn_and_figures)
    assert "note: 3 jobs from an earlier run were queued ahead of these" in "\n".join(text)
    assert text[-1] == summary.verdict
    with console.capture() as capture:
        print_text(console, tell(out), summary, timeline=False)
    assert "queued" not in capture.get().replace("queued ahead", "")


def test_runs_and_resubmissions_are_shown_when_they_say_something():
    one = outcome(record(0, 1, task_id="a"), task_id="a")
    three_runs = replace(outcome(record(0, 1, task_id="b"), task_id="b"), resubmitted=1,
                         runs=(Run("w@a", 8, 1, at(0)), Run("w@b", 9, 1, at(1)), Run("w@c", 9, 1, at(2), at(3))))
    shown = {line.split()[0]: line for line in summary_lines(summarize([one, three_runs], wall_s=3.0))}
    assert shown["runs"].split()[1] == "3" and shown["resubmitted"].split()[1] == "1"
    once = replace(three_runs, runs=three_runs.runs[2:], resubmitted=0)
    shown = {line.split()[0] for line in summary_lines(summarize([replace(one, runs=once.runs), once], wall_s=3.0))}
    assert "runs" not in shown and "resubmitted" not in shown  # 2 runs for 2 jobs: nothing to say


def test_what_interfered_is_shown_when_measured_and_a_wall_cut_short_says_so():
    quiet = {line.split()[0] for line in summary_lines(made_up())}
    assert not quiet & {"cancelled", "retry_wait_s", "queued_while_idle_s"}
    lines = {line.split()[0]: line for line in summary_lines(
        made_up(cancelled=2, retried=1, backoff=1.5, held=0.8, unfinished=1, jobs=5))}
    assert lines["cancelled"] == ("cancelled             2  jobs run again after their worker lost Redis "
                                  "(shown when any)")
    assert lines["retry_wait_s"].split()[1] == "1.500"
    assert lines["queued_while_idle_s"].split()[1] == "0.800"
    assert lines["wall_s"].endswith("producer's clock, first submit until it stopped waiting")
    assert lines["jobs"].endswith("jobs submitted: 1 unfinished")
