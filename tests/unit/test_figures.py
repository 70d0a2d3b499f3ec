"""The figures that say whether a batch ran in parallel: overlap, clocks, CPUs, the summary and its words."""

from __future__ import annotations

import pytest

from producer.figures import notes, peak_overlap, summarize, times, usable_cpus, verdict
from producer.story import align, clock_offsets
from tests.unit.builders import at, outcome, record, waves

# --- peak_overlap -------------------------------------------------------------------------------


def test_back_to_back_jobs_do_not_overlap():
    assert peak_overlap([(at(0), at(1)), (at(1), at(2)), (at(2), at(3))]) == 1


def test_overlap_counts_jobs_running_at_once():
    assert peak_overlap([(at(0), at(1)), (at(0.5), at(1.5)), (at(0.9), at(2)), (at(1.6), at(2))]) == 3


def test_identical_and_single_intervals():
    assert peak_overlap([(at(0), at(1)), (at(0), at(1))]) == 2
    assert peak_overlap([(at(0), at(1))]) == 1
    assert peak_overlap(iter([(at(2), at(3)), (at(0), at(2.5))])) == 2  # any iterable, any order


def test_no_jobs_no_overlap():
    assert peak_overlap([]) == 0


# --- clock_offsets and align (producer.story: the summary reads the story's aligned outcomes) ------


def job_on(host: str, submitted: float, started: float, finished: float, received: float | None, **kw):
    return outcome(record(started, finished, hostname=host, **kw), submitted=submitted, received=received,
                   received_after_s=None)


def test_clocks_that_agree_have_offset_zero():
    assert clock_offsets([job_on("h1", 0.0, 0.01, 1.01, 1.012)]) == {"h1": 0.0}


def test_a_clock_ahead_is_offset_by_the_least_it_must_be():
    # the job finished at 3.01 on the worker's clock, its result arrived at 1.012 on ours
    assert clock_offsets([job_on("h1", 0.0, 2.01, 3.01, 1.012)]) == {"h1": pytest.approx(1.998, abs=1e-9)}


def test_a_clock_behind_is_offset_by_the_least_it_must_be():
    # it started at -1.99 on the worker's clock, before we submitted it at 0
    assert clock_offsets([job_on("h1", 0.0, -1.99, -0.99, 1.012)]) == {"h1": pytest.approx(-1.99, abs=1e-9)}


def test_an_empty_range_takes_its_middle():
    jobs = [job_on("h1", 0.0, 0.5, 0.6, 0.7),  # offset <= 0.5
            job_on("h1", 0.0, 2.0, 3.0, 1.5)]  # offset >= 1.5
    assert clock_offsets(jobs) == {"h1": pytest.approx(1.0, abs=1e-9)}


def test_bounds_are_the_tightest_over_a_hosts_jobs():
    jobs = [job_on("h1", 0.0, 3.0, 4.0, 3.5),  # offset in [0.5, 3]
            job_on("h1", 0.0, 2.0, 2.9, 2.0),  # offset in [0.9, 2]
            job_on("h1", 0.5, 2.5, 3.0, 9.0)]  # offset in [-6, 2]
    assert clock_offsets(jobs) == {"h1": pytest.approx(0.9, abs=1e-9)}
    behind = [job_on("h1", 0.0, -3.0, -2.5, 1.0),  # offset in [-3.5, -3]
              job_on("h1", 0.0, -2.0, -1.9, 2.0),  # offset in [-3.9, -2]
              job_on("h1", 1.0, -1.0, -0.5, 3.0)]  # offset in [-3.5, -2]
    assert clock_offsets(behind) == {"h1": pytest.approx(-3.0, abs=1e-9)}


def test_without_a_received_time_only_the_start_bounds_the_offset():
    assert clock_offsets([job_on("h1", 0.0, -3.0, -2.0, None)]) == {"h1": pytest.approx(-3.0, abs=1e-9)}
    assert clock_offsets([job_on("h1", 0.0, 5.0, 6.0, None)]) == {"h1": 0.0}


def test_offsets_are_per_host_and_skip_jobs_without_a_record():
    jobs = [job_on("ahead", 0.0, 2.01, 3.01, 1.012), job_on("fine", 0.0, 0.01, 1.01, 1.012),
            outcome(None, submitted=0.0)]
    assert clock_offsets(jobs) == {"ahead": pytest.approx(1.998, abs=1e-9), "fine": 0.0}


def test_align_moves_only_the_host_whose_clock_is_off():
    ahead, fine, lost = job_on("ahead", 0.0, 2.01, 3.01, 1.012), job_on("fine", 0.0, 0.01, 1.01, 1.012), outcome()
    aligned, offsets = align([ahead, fine, lost])
    assert offsets == {"ahead": pytest.approx(1.998, abs=1e-9), "fine": 0.0}
    assert aligned[1] is fine and aligned[2] is lost
    assert aligned[0].record.started_at == at(0.012) and aligned[0].record.finished_at == at(1.012)
    assert aligned[0].submitted_at == ahead.submitted_at and aligned[0].task_id == ahead.task_id
    assert ahead.record.started_at == at(2.01)  # the input is left as it was


# --- usable_cpus ----------------------------------------------------------------------------------


def ran_on(machine: str, cpus: float, host: str = "h1"):
    return outcome(record(0, 1, machine=machine, cpus=cpus, hostname=host))


def test_containers_of_one_machine_share_its_cpus():
    assert usable_cpus([ran_on("m1", 2.0, "a"), ran_on("m1", 4.0, "b"), ran_on("m1", 3.0, "c")]) == 4.0


def test_cpus_of_several_machines_add_up():
    assert usable_cpus([ran_on("m1", 2.0), ran_on("m2", 4.0), ran_on("m2", 1.0)]) == 6.0


def test_cpus_with_a_fractional_quota_or_no_record():
    assert usable_cpus([ran_on("m1", 0.5)]) == 0.5
    assert usable_cpus([outcome()]) is None
    assert usable_cpus([]) is None


# --- summarize: sleep jobs ------------------------------------------------------------------------


def test_eight_jobs_on_four_containers():
    s = summarize(waves(8, hosts=4), wall_s=2.02, slots_online=4)
    assert (s.jobs, s.succeeded, s.failed, s.withdrawn) == (8, 8, 0, 0)
    assert (s.slots_used, s.processes_used, s.workers_used, s.pools) == (4, 4, 4, ("prefork",))
    assert (s.kind, s.duration_s, s.wall_s, s.work_s) == ("sleep", 1.0, 2.02, 8.0)
    assert (s.parallel_limit, s.ideal_wall_s, s.peak_overlap) == (4, 2.0, 4)
    assert s.speedup == 3.96 and s.efficiency == 0.99
    assert s.verdict == "ran in parallel on 4 slots: 3.96x faster than one after another"
    assert s.notes == () and s.clock_offsets_s == {}
    assert (s.redelivered, s.retried, s.queued_ahead, s.slots_online) == (0, 0, 0, 4)


def test_four_processes_in_one_container_are_parallel():
    s = summarize(waves(8, hosts=1, pids=4), wall_s=2.05, slots_online=4)
    assert (s.slots_used, s.processes_used, s.workers_used) == (4, 4, 1)
    assert s.verdict.startswith("ran in parallel on 4 slots: ")


def threads_batch(jobs: int, threads: int, pool: str = "threads", kind: str = "sleep", cpus: float = 8.0,
                  processes: int = 1):
    """`jobs` one-second jobs on `processes` processes of `threads` slots each, all in one container."""
    out = []
    for i in range(jobs):
        slot, wave = i % (threads * processes), i // (threads * processes)
        rec = record(wave + 0.01, wave + 1.01, task_id=f"id-{i}", kind=kind, pid=8 + slot // threads,
                     slot=f"t{slot % threads}", pool=pool, cpus=cpus)
        out.append(outcome(rec, submitted=i * 0.001))
    return out


@pytest.mark.parametrize("pool, what", [("threads", "threads"), ("gevent", "greenlets")])
def test_several_slots_of_one_process_are_concurrent(pool, what):
    s = summarize(threads_batch(4, 4, pool), wall_s=1.05)
    assert (s.slots_used, s.processes_used, s.pools, s.peak_overlap) == (4, 1, (pool,), 4)
    assert s.verdict == (f"ran concurrently on 4 {what} in 1 process: "
                         "3.81x faster than one after another")


def test_one_slot_runs_one_after_another():
    out = [outcome(record(i, i + 1, task_id=f"id-{i}"), submitted=0) for i in range(2)]
    s = summarize(out, wall_s=2.05, slots_online=1)
    assert s.peak_overlap == 1 and s.ideal_wall_s == 2.0
    assert s.speedup == 0.976 and s.efficiency == 0.976
    assert s.verdict == "ran one after another on 1 slot: about as fast as one after another (0.98x)"
    assert s.notes == ()  # one slot cannot beat one after another: no overhead note


def test_work_is_the_asked_durations_of_succeeded_jobs_not_their_run_times():
    out = [outcome(record(0, 1.5, task_id="a", duration_s=1.0)),
           outcome(record(0, 3.0, task_id="b", duration_s=2.0, hostname="h2")),
           outcome(record(0, 5.0, task_id="c", duration_s=4.0, hostname="h3"), status="FAILURE")]
    s = summarize(out, wall_s=3.0)
    assert s.work_s == 3.0 and s.succeeded == 2 and s.failed == 1
    assert s.speedup == 1.0
    assert s.duration_s == 4.0  # the longest asked
    assert s.stretch_median == 1.5 and s.stretch_max == 1.5
    assert s.slots_used == 3  # the failed job ran on a slot too


def test_stretch_is_run_time_over_asked_duration():
    out = [outcome(record(0, 1, task_id=f"id-{i}", hostname=f"h{i}", runtime_s=rt))
           for i, rt in enumerate((1.1, 1.3, 2.0))]
    s = summarize(out, wall_s=2.1)
    assert (s.stretch_median, s.stretch_max) == (1.3, 2.0)
    zero = summarize([outcome(record(0, 0.001, duration_s=0.0))], wall_s=0.01)
    assert zero.stretch_median is None and zero.stretch_max is None and zero.work_s == 0.0


@pytest.mark.parametrize("jobs, slots, ideal", [(4, 2, 2.0), (5, 2, 3.0), (6, 2, 3.0), (1, 4, 1.0), (9, 4, 3.0)])
def test_ideal_rounds_partial_waves_up(jobs, slots, ideal):
    s = summarize(waves(jobs, hosts=slots), wall_s=10.0, slots_online=slots)
    assert s.ideal_wall_s == ideal and s.parallel_limit == slots
    assert s.efficiency == ideal / 10.0


def test_unknown_slots_online_counts_the_slots_used():
    s = summarize(waves(6, hosts=3), wall_s=2.5, slots_online=0)
    assert (s.slots_used, s.parallel_limit, s.ideal_wall_s, s.efficiency) == (3, 3, 2.0, 0.8)
    assert summarize(waves(6, hosts=3), wall_s=2.5, slots_online=2).ideal_wall_s == 3.0


def test_ideal_uses_the_longest_asked_duration():
    out = [outcome(record(0, 1, task_id="a", duration_s=1.0)), outcome(record(0, 2, task_id="b", duration_s=2.0))]
    s = summarize(out, wall_s=2.2, slots_online=2)
    assert s.ideal_wall_s == 2.0 and s.work_s == 3.0


@pytest.mark.parametrize("wall, pace", [
    (2.02, "yet about as fast as one after another (0.99x): each job is shorter than its overhead "
           "(submit, queue, result)"),
    (2.0, "yet about as fast as one after another (1.00x): the overhead (submit, queue, result) took 1.00 s "
          "of the 2.00 s wall"),
    (1.5, ": 1.33x faster than one after another, not 2x: the overhead (submit, queue, result) took 0.50 s "
          "of the 1.50 s wall"),
    (1.2, ": 1.67x faster than one after another"),
    (22.4, "yet 11.2x slower than one after another: each job is shorter than its overhead "
           "(submit, queue, result)"),
])
def test_speedup_around_one_is_said_the_right_way(wall, pace):
    s = summarize(waves(2, hosts=2), wall_s=wall, slots_online=2)
    assert s.speedup == round(2.0 / wall, 3)
    assert s.verdict == f"ran in parallel on 2 slots{'' if pace.startswith(':') else ', '}{pace}"
    too_short = any(n.startswith("each job is shorter than its overhead") for n in s.notes)
    assert too_short == (2.0 / wall < 1)


def test_failures_withdrawals_and_timeouts_are_counted_apart():
    out = [outcome(record(0, 1, task_id="ok")),
           outcome(record(0, 1, task_id="bad", hostname="h2"), status="FAILURE", error="JobFailed: asked"),
           outcome(None, status="FAILURE", error="ValueError: bad", task_id="x"),
           outcome(None, task_id="late"),
           outcome(None, status="WITHDRAWN", task_id="w1"), outcome(None, status="WITHDRAWN", task_id="w2")]
    s = summarize(out, wall_s=1.1, slots_online=2)
    assert (s.jobs, s.succeeded, s.failed, s.unfinished, s.withdrawn) == (6, 1, 2, 1, 2)
    assert s.work_s == 1.0 and s.slots_used == 2 and s.peak_overlap == 2
    assert s.ideal_wall_s == 3.0  # ceil(6 / 2) x 1 s
    assert s.notes == ("1 job had no result when the producer stopped waiting after 1.10 s (running, or held by a "
                       "worker): it may still finish, outside these figures",
                       "failed and retried attempts took time that counts in the wall but not in the work",
                       "2 jobs were withdrawn from the queue before they started")


def test_redelivered_and_retried_jobs_are_counted_from_their_records():
    out = [outcome(record(0, 1, task_id="a", attempt=2)),
           outcome(record(0, 1, task_id="b", hostname="h2", redelivered=True)),
           outcome(record(0, 1, task_id="c", hostname="h3", attempt=3, redelivered=True)),
           outcome(record(0, 1, task_id="d", hostname="h4"))]
    s = summarize(out, wall_s=5.0)
    assert (s.retried, s.redelivered) == (2, 2)
    assert "failed and retried attempts took time that counts in the wall but not in the work" in s.notes


def test_cpu_time_adds_up_over_every_job_that_ran():
    out = [outcome(record(0, 1, task_id="a", cpu_s=0.25)),
           outcome(record(0, 1, task_id="b", hostname="h2", cpu_s=0.5), status="FAILURE")]
    assert summarize(out, wall_s=1.0).cpu_s == 0.75


def test_nothing_finished():
    s = summarize([outcome(task_id="a"), outcome(task_id="b")], wall_s=3.0, slots_online=2)
    assert (s.succeeded, s.failed, s.unfinished, s.workers_used, s.slots_used, s.peak_overlap) == (0, 0, 2, 0, 0, 0)
    assert s.speedup is None and s.efficiency is None and s.stretch_max is None and s.cpus is None
    assert s.ideal_wall_s == 1.0
    assert s.verdict == "no job finished (2 unfinished when the producer stopped waiting): nothing to compare"
    assert [note.split(" had no result")[0] for note in s.notes] == ["2 jobs"]


def test_no_wall_time_no_speedup():
    s = summarize(waves(2, hosts=2), wall_s=0.0, slots_online=2)
    assert s.speedup is None and s.efficiency is None and s.succeeded == 2
    empty = summarize([], wall_s=0.0)
    assert (empty.jobs, empty.kind, empty.duration_s, empty.ideal_wall_s) == (0, "sleep", 0.0, None)
    assert empty.verdict == "no job finished: nothing to compare"


def test_jobs_queued_ahead_are_noted():
    s = summarize(waves(2, hosts=2), wall_s=3.0, slots_online=2, queued_ahead=5)
    assert s.queued_ahead == 5
    assert ("5 jobs from an earlier run were queued ahead of these: the wall time includes theirs "
            "(python -m producer purge)") in s.notes


def test_clock_offsets_are_applied_shown_and_noted():
    ahead = [job_on("ahead", 0.0, 2.01, 3.01, 1.012, task_id="a"),
             job_on("fine", 0.0, 0.01, 1.01, 1.012, task_id="b"),
             job_on("jitter", 0.0, 0.014, 1.014, 1.01, task_id="c")]  # 4 ms off: noise
    s = summarize(ahead, wall_s=1.012, slots_online=3)
    assert s.clock_offsets_s == {"ahead": 1.998}
    assert s.peak_overlap == 3  # on one clock all three ran at once
    assert s.notes[-1] == ("worker clocks differ from the producer's by up to 1.998 s (ahead): "
                           "their times were moved onto the producer's clock")
    behind = summarize([job_on("a", 0.0, -2.0, -1.0, 2.0, task_id="a"),
                        job_on("b", 0.0, 0.5, 0.9, 1.0, task_id="b")], wall_s=1.0)
    assert behind.clock_offsets_s == {"a": -2.0}
    assert "by up to 2.000 s (a)" in behind.notes[-1]


def test_the_largest_offset_is_named():
    out = [job_on("small", 0.0, -0.5, 0.5, 1.0, task_id="a"), job_on("large", 0.0, -3.0, -2.0, 1.0, task_id="b"),
           job_on("mid", 0.0, 1.7, 2.0, 0.3, task_id="c")]
    s = summarize(out, wall_s=0.6)
    assert s.clock_offsets_s == {"large": -3.0, "mid": 1.7, "small": -0.5}
    assert list(s.clock_offsets_s) == ["large", "mid", "small"]
    assert "by up to 3.000 s (large)" in s.notes[-1]


def test_as_json_has_lists_not_tuples():
    data = summarize(waves(2, hosts=2), wall_s=3.0, slots_online=2, queued_ahead=1).as_json()
    assert data["pools"] == ["prefork"] and isinstance(data["notes"], list) and len(data["notes"]) == 1
    assert data["speedup"] == 0.667 and data["ideal_wall_s"] == 1.0 and data["jobs"] == 2


# --- summarize: cpu jobs --------------------------------------------------------------------------


def test_cpu_jobs_are_capped_by_the_cpus_the_containers_share():
    out = waves(8, hosts=2, pids=4, kind="cpu", cpus=2.0)  # 8 processes in 2 containers of one 2-CPU machine
    s = summarize(out, wall_s=4.2, slots_online=8)
    assert (s.cpus, s.slots_used, s.parallel_limit, s.ideal_wall_s) == (2.0, 8, 2, 4.0)
    assert s.efficiency == round(4.0 / 4.2, 3)
    assert s.notes[0] == ("8 cpu jobs on 8 slots sharing 2 CPUs: at best 2x; each job waited for a core "
                          "(stretch up to 1.0x)")


def test_cpu_jobs_on_two_machines_use_both():
    s = summarize(waves(8, hosts=2, pids=4, kind="cpu", cpus=2.0, machines=2), wall_s=2.1, slots_online=8)
    assert (s.cpus, s.parallel_limit, s.ideal_wall_s) == (4.0, 4, 2.0)
    assert "8 cpu jobs on 8 slots sharing 4 CPUs: at best 4x" in s.notes[0]


def test_cpu_jobs_on_as_many_slots_as_cpus_need_no_note():
    s = summarize(waves(2, hosts=2, kind="cpu", cpus=2.0), wall_s=1.05, slots_online=2)
    assert (s.parallel_limit, s.ideal_wall_s, s.notes) == (2, 1.0, ())


@pytest.mark.parametrize("pool", ["threads", "gevent"])
def test_cpu_jobs_on_threads_are_capped_by_the_processes(pool):
    s = summarize(threads_batch(8, 4, pool, kind="cpu", cpus=8.0), wall_s=8.1)
    assert (s.slots_used, s.processes_used, s.parallel_limit, s.ideal_wall_s) == (4, 1, 1, 8.0)
    assert s.notes == ("cpu jobs in one process take turns: the GIL lets one thread run Python at a time",)
    what = "greenlets" if pool == "gevent" else "threads"
    assert s.verdict.startswith(f"ran concurrently on 4 {what} in 1 process, yet about as fast as one after "
                                "another (0.99x): ")
    two = summarize(threads_batch(8, 4, pool, kind="cpu", cpus=8.0, processes=2), wall_s=4.1)
    assert (two.processes_used, two.parallel_limit, two.ideal_wall_s, two.notes) == (2, 2, 4.0, ())


def test_sleep_jobs_on_threads_are_not_capped():
    s = summarize(threads_batch(8, 4, "threads", cpus=1.0), wall_s=2.1)
    assert (s.parallel_limit, s.ideal_wall_s, s.notes) == (4, 2.0, ())


def test_cpu_jobs_on_less_than_one_cpu_take_longer_than_one_after_another():
    out = [outcome(record(0, 2, task_id=f"id-{i}", hostname=f"h{i}", kind="cpu", cpus=0.5)) for i in range(2)]
    s = summarize(out, wall_s=4.0, slots_online=2)
    assert (s.cpus, s.parallel_limit, s.ideal_wall_s) == (0.5, 1, 4.0)  # 2 jobs x 1 s on half a CPU
    assert s.efficiency == 1.0


def test_cpu_jobs_on_one_slot_get_no_gil_note():
    s = summarize(threads_batch(1, 4, "threads", kind="cpu"), wall_s=1.05)
    assert s.slots_used == 1 and s.notes == ()


def test_cpu_jobs_when_no_record_tells_the_cpus():
    s = summarize([outcome(None, kind="cpu", task_id="a"), outcome(None, kind="cpu", task_id="b")], wall_s=1.0,
                  slots_online=2)
    assert (s.cpus, s.parallel_limit, s.ideal_wall_s) == (None, 2, 1.0)
    assert not any("cpu" in note for note in s.notes)


# --- times, verdict and notes ----------------------------------------------------------------------


@pytest.mark.parametrize("speedup, words", [
    (None, "no job finished"),
    (3.96, "3.96x faster than one after another"),
    (1.0, "about as fast as one after another (1.00x)"),
    (0.999, "about as fast as one after another (1.00x)"),
    (1.05, "1.05x faster than one after another"),
    (0.95, "1.05x slower than one after another"),
    (0.951, "about as fast as one after another (0.95x)"),
    (0.0893, "11.2x slower than one after another"),
    (0.0, "slower than one after another"),
])
def test_times_never_says_faster_below_one(speedup, words):
    assert times(speedup) == words


def test_verdict_and_notes_read_the_summary():
    s = summarize(threads_batch(4, 4, "threads"), wall_s=1.05)
    assert verdict(s) == s.verdict and notes(s) == list(s.notes)
    mixed = summarize([outcome(record(0, 1, task_id="a", slot="t1", pool="threads")),
                       outcome(record(0, 1, task_id="b", slot="g1", pool="gevent"))], wall_s=1.1)
    assert mixed.verdict.startswith("ran concurrently on 2 slots in 1 process")


# --- boundaries the first mutation run showed untested --------------------------------------------


def test_overlap_after_jobs_ended_counts_only_those_still_running():
    assert peak_overlap([(at(0), at(1)), (at(2), at(5)), (at(3), at(6)), (at(4), at(7))]) == 3


def test_jobs_without_a_record_anywhere_in_the_batch_are_skipped():
    jobs = [outcome(None, submitted=0.0), job_on("ahead", 0.0, 2.01, 3.01, 1.012)]
    assert clock_offsets(jobs) == {"ahead": pytest.approx(1.998, abs=1e-9)}


def test_an_offset_of_exactly_the_notice_threshold_is_shown():
    s = summarize([job_on("h1", 0.0, 0.01, 1.01, 1.005)], wall_s=1.005)  # finished 5 ms after it was received
    assert s.clock_offsets_s == {"h1": 0.005}


def test_figures_are_rounded_to_microseconds():
    out = [outcome(record(0, 1.25, duration_s=1.2500404, cpu_s=0.0000004)),
           job_on("h2", 0.0, 1.6, 1.600001, 0.1, task_id="b"),  # offset >= 1.500001
           job_on("h2", 0.0, 0.5, 0.6, 0.7, task_id="c")]  # offset <= 0.5: the middle, 1.0000005
    s = summarize(out, wall_s=2.0200004, slots_online=3)
    assert (s.work_s, s.ideal_wall_s, s.wall_s, s.cpu_s) == (3.25004, 1.25004, 2.02, 0.0)
    assert s.clock_offsets_s == {"h2": round(1.0000005, 6)}


def test_a_wall_under_a_second_still_gives_a_speedup():
    s = summarize(waves(2, hosts=2, duration_s=0.4), wall_s=0.5, slots_online=2)
    assert (s.speedup, s.efficiency) == (1.6, 0.8)


def test_cpu_jobs_on_half_a_cpu_take_twice_their_work():
    out = [outcome(record(0, 4, task_id=f"id-{i}", hostname=f"h{i}", kind="cpu", cpus=0.5, duration_s=2.0))
           for i in range(2)]
    assert summarize(out, wall_s=8.0, slots_online=2).ideal_wall_s == 8.0  # 2 jobs x 2 s on half a CPU


def test_two_threads_running_cpu_jobs_take_turns():
    s = summarize(threads_batch(2, 2, "threads", kind="cpu"), wall_s=2.05)
    assert s.notes == ("cpu jobs in one process take turns: the GIL lets one thread run Python at a time",)


def test_the_overhead_note_in_full():
    s = summarize(waves(2, hosts=2), wall_s=2.5, slots_online=2)
    assert s.notes == ("each job is shorter than its overhead (submit, queue, result): "
                       "parallelism pays off when jobs are long compared with that",)


def test_cpu_contention_when_no_job_succeeded_names_no_stretch():
    out = [outcome(record(0, 1, task_id=f"id-{i}", pid=7 + i, kind="cpu", cpus=1.0), status="FAILURE")
           for i in range(2)]
    s = summarize(out, wall_s=2.0, slots_online=2)
    assert s.notes[0] == "2 cpu jobs on 2 slots sharing 1 CPUs: at best 1x; each job waited for a core"


def test_jobs_stretched_by_a_busy_machine_are_not_blamed_on_overhead():
    # two 1 s sleep jobs on two slots that each took 3 s: the CPUs were busy, not the cluster slow
    busy = [outcome(record(0, 3, task_id="a", pid=1, runtime_s=3.0)),
            outcome(record(0, 3, task_id="b", pid=2, runtime_s=3.0))]
    s = summarize(busy, wall_s=3.05, slots_online=2)
    assert s.stretch_median == 3.0 and s.speedup < 1
    assert "jobs ran 3.0x as long as asked (median): their CPUs were busy with other work too" in s.notes
    assert not any("overhead" in note for note in s.notes)


def test_cpu_jobs_outnumbering_the_cpus_are_expected_to_stretch():
    # four cpu jobs on four slots sharing 2 CPUs: each takes 2x as long, as it should
    jobs = [outcome(record(0, 2, task_id=f"j{i}", pid=i, kind="cpu", cpus=2.0, runtime_s=2.0), kind="cpu")
            for i in range(4)]
    s = summarize(jobs, wall_s=2.05, slots_online=4)
    assert s.stretch_median == 2.0
    assert not any("busy with other work" in note for note in s.notes)
    assert any("sharing 2 CPUs: at best 2x" in note for note in s.notes)
    jobs = [outcome(record(0, 2.5, task_id=f"j{i}", pid=i, kind="cpu", cpus=2.0, runtime_s=2.5), kind="cpu")
            for i in range(4)]
    assert any("busy with other work" in note for note in summarize(jobs, wall_s=2.55, slots_online=4).notes)


def test_tiny_jobs_overshooting_by_a_fraction_of_a_millisecond_are_not_a_busy_machine():
    tiny = [outcome(record(0, 0.0016, task_id=f"t{i}", pid=i % 2, duration_s=0.001, runtime_s=0.0016),
                    duration_s=0.001) for i in range(10)]
    s = summarize(tiny, wall_s=0.4, slots_online=2)
    assert s.stretch_median == 1.6 and s.speedup < 1
    assert not any("busy with other work" in note for note in s.notes)
    assert any("shorter than its overhead" in note for note in s.notes)
