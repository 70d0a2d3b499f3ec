"""A batch's story (producer.story): what the events saw, merged into the outcomes (receptions and lost
attempts), every attempt the run lists tell, and the records, all on the producer's clock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cluster.events import Attempt, Holder, Snapshot, TaskFacts, WorkerFacts
from producer.figures import summarize
from producer.jobs import CANCELLED, DIED, FENCED, RETRIED, RUNNING, TWICE, LostRun, Seen
from producer.results import BatchResult
from producer.story import Story, tell, with_events
from producer.submit import Collected
from tests.unit.builders import T0, at, outcome, record
from tests.unit.builders import run as ran
from worker import runs as run_list

E0 = T0.timestamp()  # event timestamps are seconds since the epoch: E0 + seconds after the first submit


def worker(name: str, beat: float | None = 9.0, alive: bool = True, offline_at: float | None = None) -> WorkerFacts:
    return WorkerFacts(name, name.partition("@")[2], 100, alive, offline_at is not None,
                       None if beat is None else E0 + beat, None, 0, 0, None if offline_at is None else E0 + offline_at)


def task(task_id: str, *runs: Attempt, received: tuple[str, float] | None = None) -> TaskFacts:
    holder = None if received is None else Holder(received[0], 100, E0 + received[1])
    last = runs[-1] if runs else None
    return TaskFacts(task_id, "task1", "STARTED", last and last.node, last and last.pid, None, None,
                     last and last.started, None, None, 0, runs, holder)


def run(node: str, start: float, end: str | None = None, ended: float | None = None) -> Attempt:
    return Attempt(node, 100, E0 + start, None if ended is None else E0 + ended, end)


def snap(workers, tasks, now: float = 10.0) -> Snapshot:
    return Snapshot(E0 + now, tuple(workers), tuple(tasks), 0)


def test_a_reception_moves_onto_the_producers_clock_with_its_hosts_offset():
    # h1's clock is ~13 s ahead: its record and its task-received event alike
    ahead = outcome(record(13.01, 14.01, task_id="a"), submitted=0.0, received=1.012)
    (merged,) = with_events([ahead], snap([worker("worker@h1")], [
        task("a", run("worker@h1", 13.01, "succeeded", 14.01), received=("worker@h1", 13.005))]))
    offset = 14.01 - 1.012  # story.clock_offsets: the least the clock must be ahead
    assert merged.seen == Seen("worker@h1", at(13.005 - offset), ())
    assert merged.seen.received_at.tzinfo is not None
    assert merged.record == ahead.record and merged.submitted_at == ahead.submitted_at  # the record stays as it was


def test_a_story_is_told_once_records_and_events_on_the_producers_clock_the_recorded_times_kept():
    ahead = outcome(record(13.01, 14.01, task_id="a"), submitted=0.0, received=1.012)
    fine = outcome(record(0.1, 0.9, task_id="b", hostname="h2"), submitted=0.0, received=0.95)
    story = tell([ahead, fine], snap([worker("worker@h1")], [
        task("a", run("worker@h1", 13.01, "succeeded", 14.01), received=("worker@h1", 13.005))]))
    offset = 14.01 - 1.012
    assert story.offsets == {"h1": pytest.approx(offset), "h2": 0.0}
    moved, same = story.outcomes
    assert moved.record.finished_at == at(1.012) and same is story.recorded[1]  # a clock that agrees: not copied
    assert story.recorded[0].record == ahead.record  # the job lines and --json keep the worker's own times
    assert moved.seen == story.recorded[0].seen == Seen("worker@h1", at(13.005 - offset), ())
    assert tell([ahead]).outcomes[0].seen is None and story.ran and not tell([]).ran
    with pytest.raises(AttributeError):
        story.offsets = {}  # type: ignore[misc]


def test_the_summary_and_the_batch_result_read_the_same_story():
    ahead = outcome(record(13.01, 14.01, task_id="a"), submitted=0.0, received=1.012)
    story = tell([ahead])
    assert isinstance(story, Story) and summarize(story, wall_s=1.012) == summarize([ahead], wall_s=1.012)
    batch = BatchResult.of(Collected([ahead], wall_s=1.012, submit_s=0.001), slots_online=1)
    assert batch.story == story and batch.summary == summarize(story, wall_s=1.012, slots_online=1)
    assert batch.outcomes == [ahead] and batch.records == [ahead.record]


def test_a_job_the_events_missed_is_left_alone():
    alone = outcome(record(0.1, 1.1, task_id="a"))
    assert with_events([alone], snap([], [task("other")])) == [alone]
    assert with_events([alone], snap([], []))[0].seen is None


def test_an_attempt_lost_with_its_worker_ends_at_its_last_heartbeat_and_is_kept_with_its_worker():
    # started on h0 at 0.5, h0 went silent at 1.5 (heartbeats: the producer's clock), ran again on h1 at 6
    again = outcome(record(6.0, 7.0, task_id="j", hostname="h1", attempt=1, redelivered=True), submitted=0.0)
    (merged,) = with_events([again], snap(
        [worker("worker@h0", beat=1.5, alive=False), worker("worker@h1")],
        [task("j", run("worker@h0", 0.5, "lost"), run("worker@h1", 6.0, "succeeded", 7.0),
              received=("worker@h1", 5.9))]))
    assert merged.seen == Seen("worker@h1", at(5.9), (LostRun("worker@h0", "h0", 100, at(0.5), at(1.5)),))


def test_a_lost_attempt_whose_worker_lives_on_ends_where_the_next_one_starts():
    again = outcome(record(6.0, 7.0, task_id="j", hostname="h1"), submitted=0.0)
    (merged,) = with_events([again], snap(
        [worker("worker@h0", beat=9.5), worker("worker@h1")],
        [task("j", run("worker@h0", 0.5, "lost"), run("worker@h1", 6.0), received=("worker@h1", 5.9))]))
    assert merged.seen.lost == (LostRun("worker@h0", "h0", 100, at(0.5), at(6.0)),)


def test_the_next_attempts_start_is_moved_by_its_own_hosts_offset():
    # h1 is 3 s ahead: its start at 9.0 is 6.0 on the producer's clock; h0 has no record, so no offset
    again = outcome(record(9.0, 10.0, task_id="j", hostname="h1"), submitted=0.0, received=7.0)
    (merged,) = with_events([again], snap(
        [worker("worker@h0", beat=9.5), worker("worker@h1")],
        [task("j", run("worker@h0", 0.5, "lost"), run("worker@h1", 9.0), received=("worker@h1", 8.9))]))
    (lost,) = merged.seen.lost
    assert lost.ended_at == at(6.0) and merged.seen.received_at == at(5.9)


def test_a_job_without_result_whose_worker_died_under_it_was_lost_until_it_went_silent():
    stuck = outcome(None, task_id="j", submitted=0.0)
    (merged,) = with_events([stuck], snap([worker("worker@h0", beat=2.0, alive=False)],
                                          [task("j", run("worker@h0", 0.5), received=("worker@h0", 0.4))]))
    assert merged.seen.lost == (LostRun("worker@h0", "h0", 100, at(0.5), at(2.0)),)


def test_a_job_left_unfinished_by_a_worker_that_said_goodbye_ends_at_its_goodbye():
    stuck = outcome(None, task_id="j", submitted=0.0)
    (merged,) = with_events([stuck], snap([worker("worker@h0", beat=None, alive=False, offline_at=3.0)],
                                          [task("j", run("worker@h0", 0.5), received=("worker@h0", 0.4))]))
    assert merged.seen.lost == (LostRun("worker@h0", "h0", 100, at(0.5), at(3.0)),)


@pytest.mark.parametrize("alive, finished", [(True, False), (False, True)])
def test_an_unfinished_last_attempt_is_not_lost_while_its_worker_lives_or_when_its_result_came(alive, finished):
    # a job still running (the run timed out), or one whose task-succeeded event came after its result
    rec = record(0.5, 1.5, task_id="j", hostname="h0") if finished else None
    (merged,) = with_events([outcome(rec, task_id="j")], snap(
        [worker("worker@h0", beat=1.0, alive=alive)], [task("j", run("worker@h0", 0.5), received=("worker@h0", 0.4))]))
    assert merged.seen.lost == ()


def test_a_lost_attempt_never_ends_before_it_started():
    # its worker's last heartbeat (the producer's clock) came before its start (the worker's, ahead)
    stuck = outcome(None, task_id="j")
    (merged,) = with_events([stuck], snap([worker("worker@h0", beat=1.0, alive=False)],
                                          [task("j", run("worker@h0", 5.0))], now=20.0))
    assert merged.seen == Seen(None, None, (LostRun("worker@h0", "h0", 100, at(5.0), at(20.0)),))


def test_queue_waits_without_events_are_submit_to_start_as_before():
    o = outcome(record(0.5, 1.5), submitted=0.1)
    assert o.queue_waits() == [(at(0.1), at(0.5), None)] and o.reserved is None
    assert outcome(None).queue_waits() == []
    assert outcome(record(0.0, 1.0), submitted=0.2).queue_waits() == []  # a clock that disagrees: no wait


def test_queue_waits_seen_end_at_the_reception_and_skip_the_lost_attempts():
    lost = LostRun("worker@h0", "h0", 100, at(0.5), at(1.5))
    o = outcome(record(3.0, 4.0), submitted=0.1)
    o = replace(o, seen=Seen("worker@h1", at(2.0), (lost,)))
    assert o.queue_waits() == [(at(0.1), at(0.5), lost), (at(1.5), at(2.0), None)]
    assert o.reserved == (at(2.0), at(3.0))
    o = replace(o, seen=Seen("worker@h1", at(0.05), ()))  # received before it was submitted, as far as the clocks tell
    assert o.queue_waits() == [] and o.reserved == (at(0.1), at(3.0))
    o = replace(o, seen=Seen(None, None, ()))  # seen, but its reception was not: the record's start ends the wait
    assert o.queue_waits() == [(at(0.1), at(3.0), None)] and o.reserved is None


# --- every attempt: the run lists (worker.runs) merged with the events ----------------------------------------

def test_a_run_its_worker_cancelled_on_losing_redis_is_an_attempt_that_sent_the_job_back_to_the_queue():
    rec = record(2.0, 3.0, task_id="j", hostname="h1", pid=12, redelivered=True)
    o = outcome(rec, submitted=0.0)
    o = replace(o, runs=(ran(0.1, worker="worker@h1", pid=11, why=run_list.CANCELLED, cut=0.6), ran(1.9, 3.0, pid=12)))
    assert o.attempts == (LostRun("worker@h1", "h1", 11, at(0.1), at(0.6), CANCELLED, run_list.CANCELLED,
                                  ran_in=True),)
    (cancelled,) = o.attempts
    assert o.queue_waits() == [(at(0.0), at(0.1), cancelled), (at(0.6), at(2.0), None)]


def test_a_run_that_never_ended_before_the_job_ran_again_died_with_its_worker_as_the_events_tell_when():
    o = outcome(record(6.0, 7.0, task_id="j", hostname="h1", pid=9), submitted=0.0)
    o = replace(o, runs=(ran(0.5, worker="worker@h0", pid=31), ran(5.99, 7.0, pid=9)))
    (died,) = o.attempts
    assert (died.end, died.pid, died.ran_in, died.ended_at) == (DIED, 31, True, at(5.99))  # no events: the next start
    o = replace(o, seen=Seen("worker@h1", at(5.9), (LostRun("worker@h0", "h0", 100, at(0.49), at(1.5)),)))
    assert o.attempts == (LostRun("worker@h0", "h0", 31, at(0.5), at(1.5), DIED, "", ran_in=True),)  # one run, not two


def test_a_run_whose_worker_was_last_heard_of_just_before_it_started_ends_there_not_at_the_next_run():
    # the task-started event (the worker's last sign of life) came 10 ms before the pool process
    # wrote the run's start: the run ended as it started, not 6 s later where the job ran again
    o = outcome(record(6.0, 7.0, task_id="j", hostname="h1", pid=9), submitted=0.0)
    o = replace(o, runs=(ran(0.5, worker="worker@h0", pid=31), ran(6.0, 7.0, pid=9)))
    o = replace(o, seen=Seen("worker@h1", at(5.9), (LostRun("worker@h0", "h0", 100, at(0.49), at(0.49)),)))
    (died,) = o.attempts
    assert (died.end, died.started_at, died.ended_at) == (DIED, at(0.5), at(0.5))


def test_a_failed_attempt_was_retried_and_the_job_waited_for_its_backoff_not_in_the_queue():
    o = outcome(record(3.2, 4.2, task_id="j", attempt=2), submitted=0.0)
    o = replace(o, runs=(ran(0.01, 1.01), ran(3.19, 4.2, attempt=2)))
    (failed,) = o.attempts
    assert (failed.end, failed.started_at, failed.ended_at) == (RETRIED, at(0.01), at(1.01))
    assert o.queue_waits() == [(at(0.0), at(0.01), failed)]  # then its backoff: no queue wait


def test_a_job_still_running_when_the_producer_stopped_waiting_runs_until_then():
    o = outcome(None, task_id="j", submitted=0.0)
    o = replace(o, runs=(ran(0.02),), given_up_at=at(1.0))
    assert o.attempts == (LostRun("worker@h1", "h1", 8, at(0.02), at(1.0), RUNNING, "", ran_in=True),)
    assert o.queue_waits() == [(at(0.0), at(0.02), o.attempts[0])]
    o = replace(o, seen=Seen("worker@h1", at(0.01), (LostRun("worker@h1", "h1", 100, at(0.02), at(0.5)),)))
    assert o.attempts[0].end == DIED  # the events saw its worker gone: not running


def test_fenced_and_twice_run_attempts_are_told_apart():
    o = outcome(record(4.0, 5.0, task_id="j", hostname="h2", pid=5), submitted=0.0)
    o = replace(o, runs=(ran(0.1, worker="worker@h1", why=run_list.FENCED, cut=3.0),
                         ran(3.9, 5.0, worker="worker@h2", pid=5), ran(4.5, 5.5, worker="worker@h1")))
    assert [a.end for a in o.attempts] == [FENCED, TWICE]


def test_a_story_moves_the_runs_with_their_workers_clock():
    ahead = outcome(record(13.01, 14.01, task_id="a"), submitted=0.0, received=1.012)
    ahead = replace(ahead, runs=(ran(12.0, why=run_list.CANCELLED, cut=12.5), ran(13.0, 14.01)))
    offset = 14.01 - 1.012
    (told,) = tell([ahead]).outcomes
    (cancelled,) = told.attempts
    assert cancelled.started_at == at(12.0 - offset) and cancelled.ended_at == at(12.5 - offset)
    assert ahead.runs[0].started_at == at(12.0)  # the recorded outcome keeps the worker's own times


def test_attempts_follow_the_outcome_when_its_run_list_arrives_later():
    o = outcome(None, task_id="j")
    assert o.attempts == ()
    o = replace(o, runs=(ran(0.1, why=run_list.CANCELLED, cut=0.4),))  # as producer.submit.note_duplicates gives it
    assert [a.end for a in o.attempts] == [CANCELLED]
    o = replace(o, status="WITHDRAWN")
    assert [a.end for a in o.attempts] == [CANCELLED]
