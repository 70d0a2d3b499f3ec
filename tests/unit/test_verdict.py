"""The one verdict (producer.figures.judge), fed every kind of batch the CLI accepts: no sentence
contradicts its own figures (issue #23).

A table of made-up summaries crosses kinds, pools, slots, durations (zero included), speedups,
failures, retries, withdrawals, redeliveries and jobs queued ahead; each sentence is read back
against the figures it came from. Then the batches the newcomer pass tried, built from records.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import replace

import pytest

from producer.figures import Summary, judge, summarize
from tests.unit.builders import made_up, outcome, record, waves


def contradictions(s: Summary) -> list[str]:
    """What in the sentence its figures deny; empty when a teacher could sign it."""
    v = judge(s)
    text, found = v.sentence, []

    def deny(condition: bool, why: str) -> None:
        if condition:
            found.append(why)

    number = re.search(r"([\d.]+)x (faster|slower)", text)
    deny("nan" in text or "inf" in text, "nan or inf")
    deny(bool(re.search(r"\b1\.00?x slower|\b0\.00x|took 1\.00x", text)), "a pace that is no pace")
    took = re.search(r"took ([\d.]+)x the sum", text)
    deny(bool(took) and not math.isclose(float(took.group(1)), 1 / s.speedup, rel_tol=0.01), "took the wrong time")
    if s.succeeded == 0:
        deny(not text.startswith("no job finished"), "jobs that did not finish called finished")
        return found
    deny(s.work_s == 0 and bool(number), "a speedup of jobs with no work")
    if s.work_s == 0:
        deny(v.how != "no work", "jobs with no work judged by their pace")
        return found
    deny("jobs of 0 s" in text and s.work_s > 0, "jobs with work called 0 s")
    if number:
        value, word = float(number.group(1)), number.group(2)
        deny(word == "faster" and (s.speedup < 1.05 or number.group(1) != f"{s.speedup:.2f}"),
             f"faster at {s.speedup}")
        deny(word == "slower" and (s.speedup > 0.95 or not math.isclose(value, 1 / s.speedup, rel_tol=0.01)),
             f"slower at {s.speedup}")
    deny("about as fast" in text and abs(s.speedup - 1) >= 0.05, "about as fast at a different pace")
    deny("in parallel" in text and (s.peak_overlap <= 1 or s.processes_used <= 1), "parallel that was not")
    deny("concurrently" in text and (s.peak_overlap <= 1 or s.processes_used > 1), "concurrent that was not")
    deny(text.startswith("ran one after another") and s.peak_overlap > 1, "one after another with overlap")
    deny(text.startswith("one job") and s.jobs != 1, "one job that was several")
    for n, what in re.findall(r"on (\d+) (slots?|threads|greenlets)", text):
        deny(int(n) != s.slots_used, f"{n} {what} where {s.slots_used} ran jobs")
    side_by_side = v.how in ("in parallel", "concurrently")
    slow = (side_by_side and s.speedup < 0.8 * min(s.slots_used, s.succeeded)) or s.speedup <= 0.95
    deny(took and not v.reason, "longer than one after another with no reason")
    deny(slow and s.jobs > 1 and not v.reason and "cup" not in text, "slower than promised with no reason")
    deny(bool(v.reason) and v.reason not in text, "a reason the sentence does not say")
    if v.reason:
        deny(bool(s.queued_ahead) and "queued ahead" not in v.reason, "jobs queued ahead not named first")
        deny(not s.queued_ahead and not s.redelivered and bool(s.failed) and "failed" not in v.reason,
             "failures not named")
        deny("GIL" in v.reason and (s.kind != "cpu" or s.processes_used > 1), "the GIL where it cannot hold")
        deny("cpu jobs share" in v.reason and s.kind != "cpu", "cpus shared by sleep jobs")
        deny("greenlets" in v.reason and s.pools != ("gevent",), "greenlets where there are none")
    deny(v.paid_off and (not side_by_side or s.speedup < 1.5), "paid off without running side by side")
    return found


def grid() -> list[Summary]:
    out = []
    for kind, pool, slots, duration, speedup, trouble in itertools.product(
            ("sleep", "cpu"), ("prefork", "threads", "gevent"), (1, 2, 4), (0.0, 0.001, 1.0),
            (0.05, 0.3, 0.96, 1.0, 1.04, 1.3, 1.98, 3.9),
            ("none", "failed", "withdrawn", "retried", "redelivered", "queued", "all failed", "busy", "one job")):
        jobs = 1 if trouble == "one job" else 4
        if speedup > min(slots, jobs) * 1.02:
            continue  # faster than its slots: no batch measures that
        extra = {"failed": {"failed": 2}, "withdrawn": {"withdrawn": 1}, "retried": {"retried": 2},
                 "redelivered": {"redelivered": 1}, "queued": {"queued": 20}, "all failed": {"failed": 4},
                 "busy": {"stretch": 2.5}}.get(trouble, {})
        for peak in sorted({1, min(slots, jobs)}):
            if speedup > peak * 1.02:
                continue  # faster than the most jobs that ever ran at once: impossible too
            out.append(made_up(kind=kind, pool=pool, slots=slots, duration=duration, jobs=jobs, speedup=speedup,
                               peak=peak, **extra))
    return out


GRID = grid()


def test_the_grid_covers_what_the_cli_accepts():
    assert len(GRID) > 1500
    hows = {judge(s).how for s in GRID}
    assert hows == {"in parallel", "concurrently", "one after another", "nothing finished", "no work", "alone"}


@pytest.mark.parametrize("index", range(len(GRID)))
def test_no_sentence_contradicts_its_figures(index):
    s = GRID[index]
    assert contradictions(s) == [], f"{judge(s).sentence!r} for {s}"


# --- the checker bites: sentences that lie are caught ------------------------------------------


@pytest.mark.parametrize("lie, summary", [
    ("ran one after another: slower than one after another", made_up(duration=0.0)),
    ("ran in parallel on 2 slots: 1.0x slower than one after another", made_up(speedup=0.98, failed=2)),
    ("ran in parallel on 2 slots: 5.1x slower than one after another", made_up(speedup=0.196, queued=20)),
    ("ran in parallel on 4 slots: 3.90x faster than one after another", made_up(speedup=3.9, slots=2)),
])
def test_the_checker_catches_the_sentences_the_newcomer_read(lie, summary, monkeypatch):
    from producer import figures

    monkeypatch.setattr(figures, "judge", lambda s: figures.Verdict("in parallel", lie))
    monkeypatch.setitem(globals(), "judge", figures.judge)
    assert contradictions(summary) != []


# --- the newcomer's batches, from records --------------------------------------------------------


def test_zero_second_jobs_have_no_speedup_only_overhead():
    out = [outcome(record(0.01 * i, 0.01 * i, task_id=f"z{i}", duration_s=0.0, pid=i % 2), duration_s=0.0)
           for i in range(4)]
    s = summarize(out, wall_s=0.12, slots_online=2)
    assert s.verdict == ("jobs of 0 s have no work to share out: the 0.120 s wall is all overhead "
                         "(submit, queue, result)")
    assert "slower" not in s.verdict and "faster" not in s.verdict


def test_half_the_jobs_failing_is_the_reason_parallel_jobs_were_no_faster():
    out = waves(4, hosts=2)
    out = [o if i % 2 else replace(o, status="FAILURE", error="JobFailed: asked") for i, o in enumerate(out)]
    s = summarize(out, wall_s=2.04, slots_online=2)
    assert s.speedup == 0.98
    assert s.verdict == ("ran in parallel on 2 slots, yet about as fast as one after another (0.98x): "
                         "2 of 4 jobs failed: their time is in the wall, not in the work")


def test_jobs_queued_ahead_are_the_first_reason_and_the_first_note():
    s = summarize(waves(2, hosts=2), wall_s=10.2, slots_online=2, queued_ahead=20)
    assert s.verdict == ("ran in parallel on 2 slots, yet 5.10x slower than one after another: "
                         "20 jobs queued ahead of these ran first")
    assert s.notes[0].startswith("20 jobs from an earlier run were queued ahead")
    assert not any("shorter than its overhead" in note for note in s.notes)


def test_one_slot_one_after_another_at_its_own_pace_needs_no_reason():
    out = [outcome(record(i, i + 1, task_id=f"id-{i}"), submitted=0) for i in range(2)]
    s = summarize(out, wall_s=2.05, slots_online=1)
    assert s.verdict == "ran one after another on 1 slot: about as fast as one after another (0.98x)"


def test_cpu_jobs_on_more_slots_than_cpus_say_why_not_more():
    jobs = [outcome(record(0, 2, task_id=f"j{i}", pid=i, kind="cpu", cpus=2.0, runtime_s=2.0), kind="cpu")
            for i in range(4)]
    s = summarize(jobs, wall_s=2.25, slots_online=4)
    assert s.verdict == ("ran in parallel on 4 slots: 1.78x faster than one after another, not 4x: "
                         "4 cpu jobs share 2 CPUs")


def test_gevent_cpu_jobs_one_after_another_say_why():
    out = [outcome(record(i, i + 1, task_id=f"g{i}", kind="cpu", pool="gevent", slot=f"g{i}"), kind="cpu")
           for i in range(4)]
    s = summarize(out, wall_s=4.1, slots_online=4)
    assert s.verdict == ("ran one after another on 4 greenlets in 1 process: about as fast as one after another "
                         "(0.98x), because greenlets switch only while they wait, and cpu jobs never wait")
    assert judge(s).short == "one after another: greenlets switch only while they wait, and cpu jobs never wait"


def test_nothing_finished_says_what_became_of_the_jobs():
    out = [outcome(None, task_id="a", status="WITHDRAWN"), outcome(None, task_id="b", status="FAILURE")]
    assert summarize(out, wall_s=1.0).verdict == "no job finished (1 failed, 1 withdrawn): nothing to compare"
