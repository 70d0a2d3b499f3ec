"""The worker profile's pure part: py-spy's raw stacks into categories per process."""

from __future__ import annotations

import pytest

from benchmarks.profile_worker import OTHER, categorize, parse_raw, shares

# As py-spy writes them (--subprocesses --format raw): the process(es), then that process's frames.
MAIN_PROCESS = 'process 368:"[celeryd: profile-179e89@vm:MainProcess] -active- (-A worker worker -n profile@%h)"'
MAIN = f"{MAIN_PROCESS};<module> (celery/__main__.py:19);Hub.create_loop (kombu/asynchronous/hub.py:362)"
POOL = (f'{MAIN_PROCESS};process 371:"[celeryd: profile-179e89@vm:ForkPoolWorker-1]";'
        "BaseProcess._bootstrap (billiard/process.py:323);Worker.workloop (billiard/pool.py:351)")
# --nonblocking sampling sometimes cuts a stack short: the process is still named
POOL_CUT = f'{MAIN_PROCESS};process 371:"[celeryd: profile-179e89@vm:ForkPoolWorker-1]"'


def test_raw_lines_become_stacks_and_counts_and_junk_is_skipped():
    lines = [f"{MAIN};publish (kombu/messaging.py:2) 7", "", "no count here", f"{POOL};run_job (worker/tasks.py:3) 12"]
    assert parse_raw(lines) == [(f"{MAIN};publish (kombu/messaging.py:2)", 7),
                                (f"{POOL};run_job (worker/tasks.py:3)", 12)]


def test_each_stack_goes_to_its_process_and_its_first_matching_category():
    found = categorize([
        (f"{POOL};run_job (worker/tasks.py:3);record_finish (worker/runs.py:4)", 6),  # runs before run_job
        (f"{POOL};run_job (worker/tasks.py:3);spend (worker/tasks.py:5)", 4),
        (f"{POOL};_SimpleQueue.put (billiard/queues.py:1)", 5),
        (f"{MAIN};Consumer._flush_events (celery/worker/consumer/consumer.py:1)", 9),
        (f"{MAIN};Channel._brpop_read (kombu/transport/redis.py:1)", 3),
        (f"{MAIN};Timer.apply_entry (kombu/asynchronous/timer.py:1)", 2),
    ])
    assert found["pool"] == {"the run's finish and the result, one Lua step (runs:<id>, its result)": 6,
                             "the job itself (arguments, record, log line, sleep)": 4,
                             "the result back to the main process (pipe)": 5}
    assert found["main"] == {"task events: task-received, -started, -succeeded (a PUBLISH each)": 9,
                             "taking the job off the queue (BRPOP reply, delivery)": 3, OTHER: 2}


def test_a_pool_stack_is_the_pools_even_cut_short_and_its_parents_title_matches_no_pattern():
    # without setproctitle the titles are command lines: a child's header after its parent's still tells it
    plain = 'process 7:"python -m celery worker -n p@%h";process 9:"python -m celery worker -n p@%h"'
    assert categorize([(f"{plain};_SimpleQueue.put (billiard/queues.py:1)", 3)])["pool"] == {
        "the result back to the main process (pipe)": 3}
    found = categorize([(f"{POOL};Worker._make_protected_receive.<locals>.receive (billiard/pool.py:1)", 1),
                        (f"{POOL_CUT};_SimpleQueue.put (billiard/queues.py:1)", 2),
                        # "poll" in the main process's title must not make this a wait in epoll
                        ('process 5:"[celeryd: poll@vm:MainProcess]";Timer.apply_entry (kombu/timer.py:1)', 4)])
    assert found["pool"] == {"the job from the main process (pipe)": 1, "the result back to the main process (pipe)": 2}
    assert found["main"] == {OTHER: 4}


def test_shares_are_of_each_process_in_category_order_with_other_last():
    found = categorize([(f"{MAIN};EventDispatcher.flush (celery/events/dispatcher.py:1)", 3),
                        (f"{MAIN};something_else (x.py:1)", 1),
                        (f"{POOL};Backend.store_result (celery/backends/base.py:1)", 2)])
    rows = [(p, label, share) for p, label, share in shares(found) if share]
    assert rows == [("main", "task events: task-received, -started, -succeeded (a PUBLISH each)", 0.75),
                    ("main", OTHER, 0.25),
                    ("pool", "storing the result (Celery: read, SETEX, PUBLISH; a failure's)", 1.0)]
    assert sum(share for p, _, share in shares(found) if p == "main") == pytest.approx(1.0)


def test_no_samples_no_rows():
    assert shares(categorize([])) == []
