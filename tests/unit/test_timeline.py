"""The terminal timeline: one row per worker slot, bars in columns, a queue line and a time axis."""

from __future__ import annotations

from dataclasses import replace

import pytest
from rich.console import Console
from rich.text import Text

from producer.jobs import LostRun, Seen
from producer.story import align
from producer.views.timeline import (
    BAR,
    FAILED,
    LEGEND,
    LOST_LEGEND,
    LOST_STYLE,
    MAX_ROWS,
    RUNNING_LEGEND,
    RUNNING_MARK,
    WAIT,
    Bar,
    Row,
    Timeline,
    layout,
    legend,
    render,
    slot_labels,
)
from tests.unit.builders import at, killed_worker, outcome, record, run, waves
from worker.runs import CANCELLED


def plain(lines: list[Text]) -> list[str]:
    """What a pipe gets: no colour, nothing wrapped or cropped."""
    console = Console(width=500, force_terminal=False, color_system=None)
    with console.capture() as capture:
        for line in lines:
            console.print(line, soft_wrap=True, no_wrap=True, crop=False)
    return capture.get().splitlines()


def threads_and_a_failure():
    """Six jobs on three threads of one process (two waves), and one failed job on another container."""
    out = [outcome(record(0.01 + i // 3, 1.01 + i // 3, task_id=f"id-{i}", slot=f"t{i % 3}", pool="threads"),
                   submitted=i * 0.001) for i in range(6)]
    out.append(outcome(record(0.2, 0.5, task_id="bad", hostname="h2", pid=9), status="FAILURE", submitted=0.0))
    return out


def test_slot_labels_number_the_slots_of_one_process():
    assert slot_labels(threads_and_a_failure()) == {
        ("h1", 8, "t0"): "worker@h1 pid 8 #1", ("h1", 8, "t1"): "worker@h1 pid 8 #2",
        ("h1", 8, "t2"): "worker@h1 pid 8 #3", ("h2", 9, "9"): "worker@h2 pid 9"}


def test_slot_labels_count_per_process_not_per_host():
    out = [outcome(record(0, 1, task_id="a", pid=7)), outcome(record(0, 1, task_id="b", pid=8)),
           outcome(record(0, 1, task_id="c", pid=8)), outcome(None, task_id="lost")]
    assert slot_labels(out) == {("h1", 7, "7"): "worker@h1 pid 7", ("h1", 8, "8"): "worker@h1 pid 8"}
    out = [outcome(record(0, 1, task_id="a", pid=7, slot="t1")), outcome(record(0, 1, task_id="b", pid=8, slot="t1")),
           outcome(record(0, 1, task_id="c", pid=8, slot="t2"))]
    assert list(slot_labels(out).values()) == ["worker@h1 pid 7", "worker@h1 pid 8 #1", "worker@h1 pid 8 #2"]


def test_eight_jobs_on_four_containers_make_four_rows_of_two_bars():
    timeline = layout(waves(8, hosts=4), width=100)
    assert (timeline.columns, timeline.label_width, timeline.span_s, timeline.hidden_rows) == (84, 15, 2.01, 0)
    assert [row.label for row in timeline.rows] == [f"worker@h{i} pid 7" for i in range(4)]
    for i, row in enumerate(timeline.rows):
        task = f"task{i % 2 + 1}"
        assert row.bars == [Bar(task, 0, 42), Bar(task, 42, 84)] and row.waits == []  # the last one ends with the axis
    assert timeline.queued == [4] * 42 + [0] * 42  # the second wave waits through the first second
    # 2.01 s in 84 columns: a tick every 0.2 s is 8.4 columns apart, enough for a label
    assert timeline.ticks == [(0, "0s"), (8, "0.2s"), (16, "0.4s"), (25, "0.6s"), (33, "0.8s"), (41, "1s"),
                              (50, "1.2s"), (58, "1.4s"), (66, "1.6s"), (75, "1.8s"), (83, "2s")]
    assert plain(render(timeline)) == [
        "         queued " + "4" * 42,
        "worker@h0 pid 7 task1" + BAR * 37 + "task1" + BAR * 37,
        "worker@h1 pid 7 task2" + BAR * 37 + "task2" + BAR * 37,
        "worker@h2 pid 7 task1" + BAR * 37 + "task1" + BAR * 37,
        "worker@h3 pid 7 task2" + BAR * 37 + "task2" + BAR * 37,
        " " * 16 + "┬───────┬───────┬────────┬───────┬───────┬────────┬───────┬───────┬────────┬───────┬",
        " " * 16 + "0s      0.2s    0.4s     0.6s    0.8s    1s       1.2s    1.4s    1.6s     1.8s   2s",
    ]


def test_a_threads_pool_gets_a_row_per_thread_and_a_failed_job_its_mark():
    timeline = layout(threads_and_a_failure(), width=80)
    assert [row.label for row in timeline.rows] == [
        "worker@h1 pid 8 #1", "worker@h1 pid 8 #2", "worker@h1 pid 8 #3", "worker@h2 pid 9"]
    assert all(len(row.bars) == 2 and not any(b.failed for b in row.bars) for row in timeline.rows[:3])
    (failed,) = timeline.rows[3].bars
    assert failed.failed and failed.task == "task1"
    assert timeline.rows[3].waits == [(0, failed.start)]  # idle while the job waited
    lines = plain(render(timeline))
    assert len(lines) == 1 + 4 + 2
    assert lines[4] == "   worker@h2 pid 9 " + WAIT * 6 + FAILED + "task1" + BAR * 3
    assert lines[1] == "worker@h1 pid 8 #1 task1" + BAR * 25 + "task1" + BAR * 26
    assert lines[0] == "            queued " + "4" * 6 + "3" * 24


def test_a_wait_is_dotted_only_where_the_slot_was_idle():
    out = [outcome(record(0.5, 1.0, task_id="a"), submitted=0.0),  # waited half a second, slot idle
           outcome(record(1.0, 1.5, task_id="b"), submitted=0.0),  # waited behind a: no dots
           outcome(record(1.8, 2.0, task_id="c"), submitted=0.0)]  # waited, slot idle from 1.5 s
    timeline = layout(out, width=60)
    assert timeline.columns == 44 and timeline.span_s == 2.0
    assert timeline.rows[0].waits == [(0, 11), (33, 39)]
    # the last bar ends with the axis, so it fills the last column too
    assert [(b.start, b.end) for b in timeline.rows[0].bars] == [(11, 22), (22, 33), (39, 44)]
    assert timeline.queued == [3] * 11 + [2] * 11 + [1] * 17 + [0] * 5
    assert plain(render(timeline))[1] == "worker@h1 pid 8 " + WAIT * 11 + "task1" + BAR * 6 + "task1" + BAR * 6 + \
        WAIT * 6 + "1" + BAR * 4


def test_a_job_shorter_than_a_column_still_gets_one():
    out = [outcome(record(0.0, 1.0, task_id="a")), outcome(record(0.5, 0.5001, task_id="b", hostname="h2"))]
    timeline = layout(out, width=60)
    assert [(b.start, b.end) for b in timeline.rows[1].bars] == [(22, 23)]


@pytest.mark.parametrize("width", [40, 60, 80, 120, 200])
@pytest.mark.parametrize("span", [0.01, 0.037, 1.0, 2.0, 9.99, 123.4, 7000.0])
def test_nothing_is_drawn_past_the_width_and_no_line_ends_in_a_space(width, span):
    out = [outcome(record(i * span / 8, (i + 1) * span / 8, task_id=f"id-{i}", hostname=f"host-{i % 3}",
                          worker=f"worker@faea5785655{i % 3}"), submitted=0.0) for i in range(8)]
    timeline = layout(out, width)
    lines = plain(render(timeline))
    assert timeline.label_width + 1 + timeline.columns == max(width, timeline.label_width + 11)
    assert all(len(line) <= max(width, timeline.label_width + 11) for line in lines), lines
    assert all(line == line.rstrip() for line in lines), lines
    assert lines[-1].split()[0] == "0s" and lines[-2].count("┬") == len(timeline.ticks)
    assert all(0 <= c < timeline.columns for c, _ in timeline.ticks)


@pytest.mark.parametrize("span, width, labels", [
    (0.01, 100, [f"{t / 1000:g}s" for t in range(11)]),  # the smallest step, 1 ms
    (1.0, 100, [f"{t / 10:g}s" for t in range(11)]),  # 10 labels fit in 84 columns, 8 each
    (2.0, 100, ["0s", "0.2s", "0.4s", "0.6s", "0.8s", "1s", "1.2s", "1.4s", "1.6s", "1.8s", "2s"]),
    (2.0, 90, ["0s", "0.5s", "1s", "1.5s", "2s"]),
    (20.0, 100, ["0s", "2s", "4s", "6s", "8s", "10s", "12s", "14s", "16s", "18s", "20s"]),
    (50.0, 100, ["0s", "5s", "10s", "15s", "20s", "25s", "30s", "35s", "40s", "45s", "50s"]),
])
def test_ticks_are_round_and_eight_columns_apart(span, width, labels):
    timeline = layout([outcome(record(0.0, span))], width)
    assert [label for _, label in timeline.ticks] == labels
    assert timeline.ticks[-1][0] == timeline.columns - 1


def test_the_last_tick_label_moves_left_to_stay_inside():
    timeline = layout([outcome(record(0.0, 2.0))], 100)
    labels = plain(render(timeline))[-1]
    assert labels.endswith(" 2s") and len(labels) == timeline.label_width + 1 + timeline.columns


def test_a_13_second_clock_skew_stays_inside_the_axis():
    out = [outcome(record(13.01 + i // 2, 14.01 + i // 2, task_id=f"id-{i}", hostname=f"h{i % 2}"),
                   submitted=i * 0.001, received=1.02 + i // 2) for i in range(4)]
    for outcomes in (out, align(out)[0]):
        timeline = layout(outcomes, 80)
        assert all(0 <= b.start < b.end <= timeline.columns for row in timeline.rows for b in row.bars)
        assert all(len(line) <= 80 for line in plain(render(timeline)))
    aligned = layout(align(out)[0], 80)
    assert aligned.span_s == 2.02 and aligned.rows[0].bars[0].start == 0  # on one clock: no 13 s gap


def test_a_clock_far_behind_is_clamped_to_the_axis():
    out = [outcome(record(-13.0, -12.0, task_id="a"), received=1.0), outcome(record(0.1, 1.0, task_id="b"))]
    timeline = layout(out, 60)
    assert all(0 <= b.start < b.end <= timeline.columns for row in timeline.rows for b in row.bars)


def test_nothing_queued_leaves_no_trailing_space():
    timeline = layout([outcome(record(0.0, 1.0))], 60)
    assert timeline.queued == [0] * timeline.columns
    assert plain(render(timeline))[0] == "         queued"


def test_ten_or_more_queued_jobs_show_as_plus():
    out = [outcome(record(i // 12 * 1.0, i // 12 * 1.0 + 1.0, task_id=f"id-{i}", hostname=f"h{i % 12}"))
           for i in range(24)]
    queue = plain(render(layout(out, 100)))[0]
    assert queue.split() == ["queued", "+" * 41]  # 12 jobs wait for the first second
    few = [outcome(record(0.5, 1.0, task_id=f"id-{i}", hostname=f"h{i}")) for i in range(9)]
    assert set(plain(render(layout(few, 100)))[0].split()[1]) == {"9"}


def test_long_labels_are_cut_from_the_left():
    out = [outcome(record(0, 1, worker="worker@faea5785655b0123456789abcdef", pid=8))]
    timeline = layout(out, 40)
    assert timeline.label_width == 13 and timeline.columns == 26
    assert plain(render(timeline))[1].startswith("…abcdef pid 8 task1")


def test_more_slots_than_rows_are_summed_up():
    out = [outcome(record(0, 1, task_id=f"id-{i}", hostname=f"h{i:02d}")) for i in range(MAX_ROWS + 6)]
    timeline = layout(out, 100)
    assert len(timeline.rows) == MAX_ROWS and timeline.hidden_rows == 6
    assert timeline.rows[-1].label == f"worker@h{MAX_ROWS - 1:02d} pid 8"
    lines = plain(render(timeline))
    assert len(lines) == 1 + MAX_ROWS + 1 + 2
    assert lines[-3] == " " * timeline.label_width + " (+6 more worker slots not drawn)"
    assert layout(out[:MAX_ROWS], 100).hidden_rows == 0


def test_nothing_that_ran_draws_a_note():
    assert plain(render(layout([], 80))) == ["(no finished job to draw)"]
    empty = layout([outcome(None, status="FAILURE", error="boom")], 80)
    assert (empty.rows, empty.columns, empty.queued, empty.ticks) == ([], 0, [], [])
    assert plain(render(empty)) == ["(no finished job to draw)"]


def one_bar(bar: Bar, columns: int = 10) -> str:
    timeline = Timeline([Row("w", bars=[bar])], columns, 1.0, [0] * columns, [(0, "0s")], label_width=1)
    return plain(render(timeline))[1][2:]


@pytest.mark.parametrize("bar, cells", [
    (Bar("task1", 0, 6), "task1" + BAR),
    (Bar("task1", 0, 5), "1" + BAR * 4),
    (Bar("task2", 2, 3), "  " + BAR),  # one column: a bar, not a digit
    (Bar("add", 0, 2), "a" + BAR),
    (Bar("add", 0, 1), BAR),
    (Bar("task1", 0, 7, failed=True), FAILED + "task1" + BAR),
    (Bar("task1", 0, 6, failed=True), FAILED + "1" + BAR * 4),  # the name needs 7: its number does
    (Bar("task1", 0, 3, failed=True), FAILED + "1" + BAR),
    (Bar("task1", 0, 2, failed=True), FAILED + BAR),
    (Bar("task1", 4, 5, failed=True), "    " + FAILED),
])
def test_a_bar_shows_its_task_as_far_as_it_fits(bar, cells):
    assert one_bar(bar) == cells


def test_colours_say_task_failure_and_wait():
    timeline = layout(threads_and_a_failure(), width=80)
    styles = {str(span.style) for line in render(timeline) for span in line.spans}
    assert {"bold cyan", "bold red", "yellow"} <= styles
    assert all(str(line.style) == "dim" for line in render(timeline)[-2:])
    assert "bold magenta" in {str(s.style) for s in render(layout(waves(2, hosts=2), 80))[2].spans}
    other = Timeline([Row("w", bars=[Bar("add", 0, 4)])], 10, 1.0, [0] * 10, [(0, "0s")], label_width=1)
    assert "bold green" in {str(s.style) for s in render(other)[1].spans}


def test_the_legend_names_the_marks():
    assert all(mark in LEGEND for mark in (BAR, FAILED, WAIT, "+ = 10 or more"))


# --- boundaries the first mutation run showed untested --------------------------------------------


def ansi(lines: list[Text]) -> list[str]:
    """What a colour terminal gets."""
    console = Console(width=500, force_terminal=True, color_system="standard")
    with console.capture() as capture:
        for line in lines:
            console.print(line, soft_wrap=True, no_wrap=True, crop=False)
    return capture.get().splitlines()


DIM, YELLOW, RESET = "\x1b[2m", "\x1b[33m", "\x1b[0m"


def test_labels_are_dim_and_waits_yellow_on_a_terminal():
    out = [outcome(record(0.5, 1.0, task_id="a"), submitted=0.0)]
    lines = ansi(render(layout(out, 60)))
    assert lines[0] == f"{DIM}         queued {RESET}{YELLOW}{'1' * 22}{RESET}"
    # the label dim, not the whole line: bars keep their colour at full strength
    assert lines[1] == f"{DIM}worker@h1 pid 8 {RESET}{YELLOW}{WAIT * 22}{RESET}\x1b[1;36mtask1{BAR * 17}{RESET}"
    many = [outcome(record(0, 1, task_id=f"id-{i}", hostname=f"h{i:02d}")) for i in range(MAX_ROWS + 1)]
    assert ansi(render(layout(many, 100)))[-3] == f"{DIM}{' ' * 16} (+1 more worker slots not drawn){RESET}"


def test_jobs_queued_later_are_counted_from_their_submit():
    out = [outcome(record(0.0, 2.0, task_id="a")), outcome(record(1.5, 2.0, task_id="b", hostname="h2"), submitted=1.0)]
    timeline = layout(out, 60)
    assert timeline.queued == [0] * 22 + [1] * 11 + [0] * 11
    assert plain(render(timeline))[0] == "         queued " + " " * 22 + "1" * 11


@pytest.mark.parametrize("waiting, shown", [(9, "9"), (10, "+"), (11, "+")])
def test_ten_queued_jobs_show_as_plus(waiting, shown):
    out = [outcome(record(0.5, 1.0, task_id=f"id-{i}", hostname=f"h{i:02d}")) for i in range(waiting)]
    assert plain(render(layout(out, 100)))[0].split() == ["queued", shown * 41]


def test_a_narrow_terminal_keeps_ten_columns_and_a_12_character_label():
    out = [outcome(record(0.0, 2.0, worker="worker@faea5785655b"))]
    timeline = layout(out, 20)
    assert (timeline.label_width, timeline.columns) == (12, 10)
    assert timeline.ticks == [(0, "0s"), (9, "2s")]  # one label per 8 columns at least
    assert layout(out, 36).label_width == 12 and layout(out, 39).label_width == 13


def test_a_run_that_took_no_time_still_has_an_axis():
    timeline = layout([outcome(record(0.0, 0.0, duration_s=0.0))], 60)
    assert timeline.span_s == 1e-6 and timeline.ticks == [(0, "0s")]
    assert timeline.rows[0].bars == [Bar("task1", 0, 1)]


def test_a_sub_millisecond_run_gets_one_tick():
    assert layout([outcome(record(0.0, 0.0005))], 100).ticks == [(0, "0s")]


def test_nothing_that_ran_has_no_span_and_no_label():
    empty = layout([outcome(None)], 80)
    assert (empty.span_s, empty.label_width, empty.hidden_rows) == (0.0, 0, 0)


# --- what the events saw (producer.story): lost attempts, queue waits until a worker took the job ----------------


def test_a_lost_attempt_is_a_bar_ending_in_a_cross_on_its_workers_row_as_live():
    timeline = layout(killed_worker(), width=80)
    assert [row.label for row in timeline.rows] == ["worker@h0 pid 8", "worker@h1 pid 9", "worker@h9"]
    assert timeline.rows[0].bars == [Bar("task1", 0, 24), Bar("task2", 24, 36, lost=True)]
    assert timeline.rows[1].waits == [(36, 39)]  # back in the queue when h0 went silent, not since its submit
    assert legend(timeline) == LEGEND + LOST_LEGEND
    assert plain(render(timeline)) == [
        "         queued 2222" + "1" * 20 + " " * 12 + "11",
        "worker@h0 pid 8 task1" + BAR * 19 + "task2" + BAR * 6 + FAILED,
        "worker@h1 pid 9 " + " " * 36 + WAIT * 3 + "task2" + BAR * 20,
        "      worker@h9 " + WAIT * 4 + "task1" + BAR * 39 + FAILED,
        " " * 16 + "┬" + "─" * 11 + "┬" + "─" * 11 + "┬" + "─" * 11 + "┬" + "─" * 12 + "┬" + "─" * 11 + "┬──",
        " " * 16 + "0s" + " " * 10 + "0.5s" + " " * 8 + "1s" + " " * 10 + "1.5s" + " " * 9 + "2s" + " " * 9 + "2.5s",
    ]
    styles = [{str(span.style) for span in line.spans} for line in render(timeline)[1:4]]
    assert LOST_STYLE in styles[0] and LOST_STYLE in styles[2] and LOST_STYLE not in styles[1]


def test_without_events_a_redelivered_job_is_drawn_as_before():
    a, b, c = killed_worker()
    b, c = replace(b, seen=None), replace(c, seen=None)
    timeline = layout([a, b, c], width=80)
    assert [row.label for row in timeline.rows] == ["worker@h0 pid 8", "worker@h1 pid 9"]
    assert timeline.rows[1].waits == [(0, timeline.rows[1].bars[0].start)] and legend(timeline) == LEGEND
    assert not any(bar.lost for row in timeline.rows for bar in row.bars)


def test_a_lost_attempt_on_a_worker_of_several_slots_gets_a_row_of_its_own():
    a = outcome(record(0.0, 1.0, task_id="a", pid=7))
    b = outcome(record(0.0, 1.0, task_id="b", pid=8))
    c = replace(outcome(record(1.5, 2.0, task_id="c", pid=7)),
                seen=Seen("worker@h1", at(1.4), (LostRun("worker@h1", "h1", 1, at(0.5), at(1.0)),
                                                  LostRun("worker@h1", "h1", 2, at(1.0), at(1.2)))))
    assert list(slot_labels([a, b, c]).values()) == ["worker@h1 pid 7", "worker@h1 pid 8", "worker@h1 pid 1",
                                                      "worker@h1 pid 2"]
    timeline = layout([a, b, c], width=80)
    assert [row.label for row in timeline.rows] == ["worker@h1 pid 1", "worker@h1 pid 2", "worker@h1 pid 7",
                                                    "worker@h1 pid 8"]
    assert [bar.lost for row in timeline.rows for bar in row.bars] == [True, True, False, False, False]


@pytest.mark.parametrize("bar, cells", [
    (Bar("task1", 0, 8, lost=True), "task1━━✗"),
    (Bar("task1", 0, 7, lost=True), "task1━✗"),
    (Bar("task1", 0, 6, lost=True), "1━━━━✗"),
    (Bar("task1", 0, 5, lost=True), "1━━━✗"),
    (Bar("task1", 0, 3, lost=True), "1━✗"),
    (Bar("task1", 0, 2, lost=True), "━✗"),
    (Bar("task1", 0, 1, lost=True), FAILED),
])
def test_a_lost_bar_keeps_its_cross_and_shows_its_task_as_far_as_it_fits(bar, cells):
    assert one_bar(bar) == cells


# --- what the run lists tell (worker.runs): every attempt has its bar, none is idle time ----------------------------


def test_runs_cancelled_when_redis_restarted_are_bars_on_their_rows_not_idle_time():
    # two workers lose Redis at 0.6 s and cancel what they ran; both jobs run again on the same processes
    out = []
    for i, host in enumerate(("h1", "h2")):
        o = outcome(record(1.0, 2.0, task_id=f"j{i}", hostname=host, pid=8, redelivered=True))
        out.append(replace(o, runs=(run(0.01, worker=f"worker@{host}", why=CANCELLED, cut=0.6),
                                    run(0.99, 2.0, worker=f"worker@{host}"))))
    timeline = layout(out, width=60)
    assert [row.label for row in timeline.rows] == ["worker@h1 pid 8", "worker@h2 pid 8"]  # no extra rows
    for row in timeline.rows:
        cancelled, again = row.bars
        assert cancelled.lost and not again.lost and cancelled.start == 0
        assert row.waits == [(cancelled.end, again.start)]  # back in the queue only after it was cancelled
    assert legend(timeline) == LEGEND + LOST_LEGEND


def test_a_retried_jobs_failed_attempt_is_drawn_failed_and_its_backoff_is_no_queue_wait():
    o = replace(outcome(record(2.5, 3.5, task_id="j", attempt=2)), runs=(run(0.01, 1.01), run(2.49, 3.5, attempt=2)))
    timeline = layout([o], width=60)
    (row,) = timeline.rows
    first, second = row.bars
    assert first.failed and not second.failed and row.waits == []
    assert set(timeline.queued) == {0}  # waiting for its retry is not waiting in the queue


def test_jobs_still_running_when_the_producer_stopped_waiting_are_drawn_to_that_moment():
    out = []
    for i in range(2):
        out.append(replace(outcome(None, task_id=f"j{i}"), runs=(run(0.01, worker=f"worker@h{i}", pid=7),),
                           given_up_at=at(1.0)))
    timeline = layout(out, width=60)
    assert [row.label for row in timeline.rows] == ["worker@h0", "worker@h1"]
    assert all(row.bars[0].running and row.bars[0].end == timeline.columns for row in timeline.rows)
    assert legend(timeline) == LEGEND + RUNNING_LEGEND
    assert plain(render(timeline))[1].endswith(RUNNING_MARK)
