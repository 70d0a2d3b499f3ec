"""The one verdict (producer.figures.judge), fed every kind of batch the CLI accepts: no sentence
contradicts its own figures (issue #23).

A table of made-up summaries crosses kinds, pools, slots, durations (zero included), speedups,
failures, retries, withdrawals, redeliveries and jobs queued ahead, and what interferes from
outside a run (issue #31): slots held while its jobs waited, runs cancelled when Redis went
away, jobs unfinished at the timeout, retries' backoff; each sentence is read back against the
figures it came from. Then the batches the newcomer pass tried, and the interference cases,
built from records and run lists.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import replace

import pytest

from producer.figures import IDLE_NOTICE_S, Summary, judge, summarize
from tests.unit.builders import at, made_up, outcome, record, run, waves
from worker.runs import CANCELLED, FENCED


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
    for n, what in re.findall(r"(\d+) (failed|withdrawn|unfinished)", text):
        deny(int(n) != {"failed": s.failed, "withdrawn": s.withdrawn, "unfinished": s.unfinished}[what],
             f"{n} {what} where the figures say otherwise")
    deny(bool(re.search(r"\b1 jobs\b|\b1 job (?:\w+ )+?their\b", text)), "one job, plural words")
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
        # issue #31: a cause is named only when measured, and every measured interference is named
        deny(bool(re.search(r"lost (its|their) workers?", v.reason)) != bool(s.redelivered),
             "a worker lost that was not, or one lost not named")
        deny(("lost Redis" in v.reason) != bool(s.cancelled), "runs cancelled that were not, or cancelled not named")
        deny(("backoff" in v.reason) != bool(s.retried and s.retry_wait_s), "a backoff not measured, or not named")
        held = s.queued_while_idle_s >= IDLE_NOTICE_S and not s.queued_ahead
        deny(("outside this run" in v.reason) != held, "slots held from outside not measured, or not named")
        deny(held and "overhead" in v.reason, "slots held from outside blamed on overhead")
        deny(("not finished" in v.reason or "had not finished" in v.reason) != bool(s.unfinished),
             "unfinished jobs not named, or named where there are none")
        deny(bool(s.failed) and "failed" not in v.reason, "failures not named")
    deny(v.paid_off and (not side_by_side or s.speedup < 1.5), "paid off without running side by side")
    return found


def grid() -> list[Summary]:
    out = []
    for kind, pool, slots, duration, speedup, trouble in itertools.product(
            ("sleep", "cpu"), ("prefork", "threads", "gevent"), (1, 2, 4), (0.0, 0.001, 1.0),
            (0.05, 0.3, 0.96, 1.0, 1.04, 1.3, 1.98, 3.9),
            ("none", "failed", "withdrawn", "retried", "redelivered", "queued", "all failed", "busy", "one job",
             "cancelled", "unfinished", "held", "backoff", "restart and retries")):
        jobs = 1 if trouble == "one job" else 4
        if speedup > min(slots, jobs) * 1.02:
            continue  # faster than its slots: no batch measures that
        extra = {"failed": {"failed": 2}, "withdrawn": {"withdrawn": 1}, "retried": {"retried": 2},
                 "redelivered": {"redelivered": 1}, "queued": {"queued": 20}, "all failed": {"failed": 4},
                 "busy": {"stretch": 2.5}, "cancelled": {"cancelled": 1}, "unfinished": {"unfinished": 2},
                 "held": {"held": 0.9 * duration + 0.3}, "backoff": {"retried": 1, "backoff": 1.4},
                 "restart and retries": {"cancelled": 3, "retried": 2, "backoff": 0.8, "failed": 1}}.get(trouble, {})
        for peak in sorted({1, min(slots, jobs)}):
            if speedup > peak * 1.02:
                continue  # faster than the most jobs that ever ran at once: impossible too
            out.append(made_up(kind=kind, pool=pool, slots=slots, duration=duration, jobs=jobs, speedup=speedup,
                               peak=peak, **extra))
    return out


GRID = grid()


def test_the_grid_covers_what_the_cli_accepts():
    assert len(GRID) > 2500
    hows = {judge(s).how for s in GRID}
    assert hows == {"in parallel", "concurrently", "one after another", "nothing finished", "no work", "alone"}


def test_no_sentence_contradicts_its_figures():
    # One test over the whole grid (a test per case cost a minute of the suite's CPU in pytest's
    # own bookkeeping); a failure names every case that contradicts itself, the first ten in full.
    found = [(s, wrong) for s in GRID if (wrong := contradictions(s))]
    assert not found, f"{len(found)} of {len(GRID)} contradict their figures:\n" + "\n".join(
        f"{judge(s).sentence!r}: {wrong} for {s}" for s, wrong in found[:10])


# --- the checker bites: sentences that lie are caught ------------------------------------------


@pytest.mark.parametrize("lie, summary", [
    ("ran one after another: slower than one after another", made_up(duration=0.0)),
    ("ran in parallel on 2 slots: 1.0x slower than one after another", made_up(speedup=0.98, failed=2)),
    ("ran in parallel on 2 slots: 5.1x slower than one after another", made_up(speedup=0.196, queued=20)),
    ("ran in parallel on 4 slots: 3.90x faster than one after another", made_up(speedup=3.9, slots=2)),
    # issue #31: what the new user read
    ("ran in parallel on 2 slots: 1.30x faster than one after another, not 2x: each job is shorter than its overhead "
     "(submit, queue, result)", made_up(speedup=1.3, held=1.0)),
    ("ran in parallel on 2 slots: 1.30x faster than one after another, not 2x: 1 job lost their worker and ran "
     "again", made_up(speedup=1.3, redelivered=1)),
    ("ran in parallel on 2 slots: 1.30x faster than one after another, not 2x: 2 jobs lost their worker and ran "
     "again", made_up(speedup=1.3, cancelled=2)),
    ("ran in parallel on 2 slots: 1.30x faster than one after another, not 2x: 1 of 4 jobs failed: their time is "
     "in the wall, not in the work", made_up(speedup=1.3, failed=1, retried=1, backoff=1.5)),
    ("no job finished (4 failed): nothing to compare", made_up(unfinished=4)),
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
                         "2 of 4 jobs failed (their time is in the wall, not in the work)")


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


def test_cpu_jobs_sharing_the_cpus_on_a_busy_machine_name_both_not_only_the_other_work():
    # four cpu jobs on four slots sharing 2 CPUs (2x each) that ran 2.6x: the sharing explains
    # most of it, other work the rest; the verdict says both (it said "other work" alone)
    jobs = [outcome(record(0, 2.6, task_id=f"j{i}", pid=i, kind="cpu", cpus=2.0, runtime_s=2.6), kind="cpu")
            for i in range(4)]
    s = summarize(jobs, wall_s=2.7, slots_online=4)
    assert s.verdict == ("ran in parallel on 4 slots: 1.48x faster than one after another, not 4x: "
                         "4 cpu jobs share 2 CPUs (2.0x as long each), and their CPUs were busy with other work "
                         "too (jobs ran 2.6x as long as asked)")
    sleeping = [outcome(record(0, 3, task_id=f"s{i}", pid=i, runtime_s=3.0)) for i in range(2)]
    assert summarize(sleeping, wall_s=3.05, slots_online=2).verdict.endswith(
        ": their CPUs were busy with other work (jobs ran 3.0x as long as asked)")


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


# --- something outside the run interferes (issue #31): each case from records and run lists --------------------


def test_a_run_behind_another_runs_jobs_says_its_slots_were_held_not_that_jobs_are_short():
    # run B: 4 jobs of 2 s on 4 workers, submitted while another run's 4 jobs held every slot until 1.0 s;
    # the queue was empty of older jobs when B looked (queued_ahead 0): the others had been taken already
    out = [outcome(record(1.0 + 0.001 * i, 3.0 + 0.001 * i, task_id=f"b{i}", duration_s=2.0, hostname=f"h{i}"),
                   submitted=0.001 * i) for i in range(4)]
    s = summarize(out, wall_s=3.05, slots_online=4)
    assert s.queued_while_idle_s == pytest.approx(1.0, abs=0.001)
    assert s.verdict == ("ran in parallel on 4 slots: 2.62x faster than one after another, not 4x: its jobs waited "
                         "up to 1.00 s in the queue while the workers that ran them ran none of its jobs (kept by "
                         "something outside this run)")
    assert any(n.startswith("jobs waited up to 1.00 s in the queue while the workers that then ran them ran none")
               for n in s.notes)
    assert not any("overhead" in n for n in (s.verdict, *s.notes))
    alone = summarize(waves(8, hosts=4, duration_s=2.0), wall_s=4.05, slots_online=4)  # the same jobs, nobody ahead
    assert alone.queued_while_idle_s < IDLE_NOTICE_S and "outside" not in alone.verdict


def restarted(why: str | None) -> list:
    """4 jobs on 4 workers whose runs ended at 0.6 s (`why`: the run lists' reason; None: never), run again at 1 s
    in a new pool process (the old one was terminated) of the same worker."""
    out = []
    for i in range(4):
        o = outcome(record(1.0, 2.0, task_id=f"j{i}", hostname=f"h{i}", pid=20 + i, redelivered=True))
        out.append(replace(o, runs=(run(0.01, worker=f"worker@h{i}", pid=10 + i, why=why, cut=0.6 if why else None),
                                    run(0.99, 2.0, worker=f"worker@h{i}", pid=20 + i))))
    return out


def test_runs_cancelled_when_redis_restarted_are_not_workers_that_died():
    s = summarize(restarted(CANCELLED), wall_s=2.05, slots_online=4)
    assert (s.redelivered, s.cancelled, s.slots_used, s.processes_used, s.peak_overlap) == (0, 4, 4, 4, 4)
    assert s.verdict == ("ran in parallel on 4 slots: 1.95x faster than one after another, not 4x: 4 jobs ran "
                         "again after their workers lost Redis and cancelled them")
    assert any("no worker died" in n for n in s.notes)
    died = summarize(restarted(None), wall_s=2.05, slots_online=4)  # the same runs, never ended: their workers died
    assert (died.redelivered, died.cancelled) == (4, 0)
    assert died.verdict.endswith("4 jobs lost their workers and ran again")
    fenced = summarize(restarted(FENCED), wall_s=2.05, slots_online=4)  # cut off or frozen: lost to the job too
    assert (fenced.redelivered, fenced.cancelled) == (4, 0)


def test_a_worker_killed_before_it_finished_a_job_still_counts_its_slot():
    # 8 jobs of 1 s on 4 workers: h3 took job 3 and was killed under it; h0-h2 ran the rest, job 3 last, on h1
    where = {0: (0, 0), 1: (1, 0), 2: (2, 0), 4: (0, 1), 5: (1, 1), 6: (2, 1), 7: (0, 2), 3: (1, 2)}
    out = [outcome(record(wave + 0.01, wave + 1.01, task_id=f"j{i}", hostname=f"h{host}", pid=7, redelivered=i == 3),
                   submitted=0.001 * i) for i, (host, wave) in sorted(where.items())]
    out[3] = replace(out[3], runs=(run(0.012, worker="worker@h3", pid=7), run(2.009, 3.01, worker="worker@h1", pid=7)))
    s = summarize(out, wall_s=3.06, slots_online=4)
    assert (s.slots_used, s.processes_used, s.workers_used, s.peak_overlap) == (4, 4, 4, 4)
    assert (s.parallel_limit, s.ideal_wall_s) == (4, 2.0)  # the slots the verdict names are the ones the ideal counts
    assert s.verdict == ("ran in parallel on 4 slots: 2.61x faster than one after another, not 4x: 1 job lost its "
                         "worker and ran again")


def test_a_timeout_shorter_than_the_jobs_calls_them_unfinished_on_the_slots_running_them():
    out = []
    for i in range(4):
        o = outcome(None, task_id=f"j{i}", duration_s=3.0, error="did not finish within 1 s")
        out.append(replace(o, runs=(run(0.01, worker=f"worker@h{i}", pid=7),), given_up_at=at(1.0)))
    s = summarize(out, wall_s=1.0, slots_online=4)
    assert (s.failed, s.unfinished, s.slots_used, s.peak_overlap, s.wall_s) == (0, 4, 4, 4, 1.0)
    assert s.verdict == "no job finished (4 unfinished when the producer stopped waiting): nothing to compare"
    assert s.notes[0].startswith("4 jobs had no result when the producer stopped waiting after 1.00 s")


def test_retries_name_their_backoff_beside_the_failures():
    # 8 jobs of 1 s on 4 workers: 2 fail for good, 2 fail once and run again 1.5 s after their first attempt
    out = []
    for i in range(8):
        host, wave = i % 4, i // 4
        flaky = i in (1, 2)
        start = wave + 0.01 if not flaky else 2.51
        o = outcome(record(start, start + 1.0, task_id=f"j{i}", hostname=f"h{host}", attempt=2 if flaky else 1),
                    submitted=0.001 * i, status="FAILURE" if i in (5, 6) else None)
        if flaky:
            o = replace(o, runs=(run(0.01, 1.01, worker=f"worker@h{host}"),
                                 run(2.5, 3.51, worker=f"worker@h{host}", attempt=2)))
        out.append(o)
    s = summarize(out, wall_s=3.56, slots_online=4)
    assert (s.failed, s.retried, s.retry_wait_s) == (2, 2, 1.5)
    assert s.verdict == ("ran in parallel on 4 slots: 1.69x faster than one after another, not 4x: 2 of 8 jobs failed "
                         "(their time is in the wall, not in the work); 2 jobs retried: the failed attempts and up to "
                         "1.50 s of backoff are in the wall, not in the work")
    assert "retried jobs waited up to 1.50 s between a failed attempt and the next (the retry's backoff): the wall " \
           "includes it" in s.notes
