"""The time axis in character columns (producer.views.axis): mapping, bars, tick steps, tick lines, bar texts."""

from __future__ import annotations

import itertools

import pytest

from producer.views.axis import (
    BAR,
    FAILED,
    LABEL_COLUMNS,
    Axis,
    bar_text,
    seconds_label,
    short_name,
    tick_labels,
    tick_line,
    tick_step,
    tick_steps,
)

# --- seconds -> columns ---------------------------------------------------------------------------------


def test_a_moment_falls_in_the_column_it_is_inside():
    axis = Axis(0.0, 4.0, 64)  # a column is 1/16 s
    assert [axis.column(t) for t in (0.0, 0.0624, 0.0625, 1.0, 3.9374, 3.9375)] == [0, 0, 1, 16, 62, 63]
    assert axis.column(4.0) == 63  # the axis' end falls in the last column, not past it
    assert (axis.column(-13.0), axis.column(17.0)) == (0, 63)  # a clock far off is clamped, not lost


def test_the_start_is_where_the_axis_begins():
    axis = Axis(1_764_000_000.0, 10.0, 10)  # an epoch start, as the live view's window has
    assert [axis.column(1_764_000_000.0 + t) for t in (0.0, 4.99, 5.0, 9.99, 10.0)] == [0, 4, 5, 9, 9]
    assert axis.edge(1_764_000_000.0 + 10.0) == 10
    assert [axis.edge(1_764_000_000.0 + t) for t in (0.0, 4.99, 5.0)] == [0, 4, 5]


def test_a_bar_spans_from_its_starts_column_to_the_edge_of_its_end_as_column_and_edge_say():
    """Axis.bar computes both ends inline (a live frame asks it of thousands of runs): the same as the two calls."""
    import random

    rng = random.Random(11)
    for _ in range(5000):
        axis = Axis(rng.uniform(-10, 1e9), rng.choice([0.0, 0.3, 3.0, 30.0, rng.uniform(0, 60)]),
                    rng.choice([1, 2, 57, 79, rng.randint(1, 300)]))
        start = axis.start_s + rng.choice([rng.uniform(-5, 65), rng.randint(-2, 12) * axis.span_s / 10])
        end = start + rng.choice([0.0, rng.uniform(-1, 30), axis.span_s / axis.columns])
        column = axis.column(start)
        assert axis.bar(start, end) == (column, max(column + 1, axis.edge(end))), (axis, start, end)


def test_an_edge_is_the_boundary_at_or_before_a_moment_and_may_be_the_axis_end():
    axis = Axis(0.0, 4.0, 64)
    assert [axis.edge(t) for t in (-1.0, 0.0, 0.0624, 0.0625, 3.99, 4.0, 9.0)] == [0, 0, 0, 1, 63, 64, 64]


def test_float_noise_does_not_move_a_moment_off_its_boundary():
    assert 0.3 / 3.0 * 30 < 3  # the arithmetic alone would put 0.3 s in column 2
    assert Axis(0.0, 3.0, 30).column(0.3) == 3 and Axis(0.0, 3.0, 30).edge(0.3) == 3
    assert [Axis(0.0, 0.7, 7).column(k / 10) for k in range(8)] == [0, 1, 2, 3, 4, 5, 6, 6]


# --- bars -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("start, end, columns", [
    (0.0, 1.0, (0, 10)),  # the whole axis, the last column included
    (0.25, 0.75, (2, 7)),
    (0.5, 0.5001, (5, 6)),  # shorter than a column: still one
    (0.5, 0.5, (5, 6)),  # took no time: one
    (0.31, 0.39, (3, 4)),  # inside one column
    (0.39, 0.41, (3, 4)),  # across a boundary: from its start's column to the boundary before its end
    (1.0, 1.0, (9, 10)),  # at the very end: the last column, not past it
    (0.95, 7.0, (9, 10)),  # runs past the end: clamped
    (-5.0, -4.0, (0, 1)),  # before the start (a clock behind): clamped, still one column
    (-5.0, 0.35, (0, 3)),
])
def test_a_bar_covers_its_columns_inside_the_axis_and_at_least_one(start, end, columns):
    assert Axis(0.0, 1.0, 10).bar(start, end) == columns


def test_a_zero_span_puts_everything_at_the_start():
    axis = Axis(5.0, 0.0, 10)
    assert (axis.column(5.0), axis.column(99.0), axis.edge(99.0)) == (0, 0, 0)
    assert axis.bar(5.0, 5.0) == (0, 1) and axis.ticks() == [] and axis.ticks(relative_to_end=True) == []
    assert Axis(0.0, -1.0, 10).ticks() == [] and Axis(0.0, 4.0, 0).ticks() == []


def test_one_column_holds_every_bar_and_one_tick():
    axis = Axis(0.0, 4.0, 1)
    assert [axis.bar(a, b) for a, b in ((0.0, 4.0), (3.0, 4.0), (0.0, 0.0), (9.0, 9.5))] == [(0, 1)] * 4
    assert axis.ticks() == [(0, "0s")] and axis.ticks(relative_to_end=True) == [(0, "now")]


# --- tick steps -----------------------------------------------------------------------------------------


def test_the_steps_are_round_decimals_then_follow_the_clock_then_whole_days():
    steps = list(itertools.islice(tick_steps(), 30))
    assert steps == pytest.approx([
        0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5,
        10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
        86400, 172800, 432000, 864000])
    assert steps == sorted(steps)


@pytest.mark.parametrize("span, columns, step", [
    (2.01, 84, 0.2),  # 10.05 steps of 8.36 columns
    (2.0, 84, 0.2),
    (2.0, 74, 0.5),  # 0.2 s would be 7.4 columns apart
    (2.0, 80, 0.2),  # exactly 8 columns apart is enough
    (2.0, 79, 0.5),
    (4.0, 64, 0.5),
    (0.01, 84, 0.001),
    (0.0005, 84, 0.001),  # shorter than the smallest step: that step (one tick, at 0)
    (123.4, 44, 30),
    (30.0, 60, 5),
    (7000.0, 44, 1800),
    (90000.0, 44, 21600),
    (1e7, 80, 1728000),  # 20 days
    (4.0, 1, 60),  # one column: a step longer than 8 spans, so one tick
])
def test_the_step_is_the_smallest_that_leaves_eight_columns_per_label(span, columns, step):
    assert tick_step(span, columns) == pytest.approx(step)


def test_there_is_no_step_for_an_empty_axis():
    for span, columns in ((0.0, 10), (-1.0, 10), (4.0, 0)):
        with pytest.raises(ValueError):
            tick_step(span, columns)


# --- ticks ----------------------------------------------------------------------------------------------


def test_ticks_at_exact_columns_with_exact_labels():
    assert Axis(0.0, 4.0, 64).ticks() == [
        (0, "0s"), (8, "0.5s"), (16, "1s"), (24, "1.5s"), (32, "2s"), (40, "2.5s"), (48, "3s"), (56, "3.5s"),
        (63, "4s")]
    assert Axis(0.0, 4.0, 64).ticks(relative_to_end=True) == [
        (0, "-4s"), (8, "-3.5s"), (16, "-3s"), (24, "-2.5s"), (32, "-2s"), (40, "-1.5s"), (48, "-1s"),
        (56, "-0.5s"), (63, "now")]
    assert Axis(0.0, 0.5, 64).ticks() == [(0, "0s"), (12, "0.1s"), (25, "0.2s"), (38, "0.3s"), (51, "0.4s"),
                                          (63, "0.5s")]
    # back from the end, each tick stands over the column its moment falls in: -1s is 0.05 s into the axis
    assert Axis(0.0, 1.05, 84).ticks(relative_to_end=True)[:2] == [(4, "-1s"), (12, "-0.9s")]
    assert Axis(0.0, 2.01, 84).ticks()[-2:] == [(75, "1.8s"), (83, "2s")]  # no tick past the span: 2.2s


def test_ticks_do_not_depend_on_where_the_axis_starts():
    for relative in (False, True):
        assert Axis(1_764_000_000.25, 30.0, 60).ticks(relative) == Axis(0.0, 30.0, 60).ticks(relative)


def test_a_run_that_took_no_time_or_less_than_a_step_has_one_tick():
    assert Axis(0.0, 1e-6, 44).ticks() == [(0, "0s")]
    assert Axis(0.0, 0.0005, 84).ticks() == [(0, "0s")]
    assert Axis(0.0, 0.0005, 84).ticks(relative_to_end=True) == [(83, "now")]


@pytest.mark.parametrize("columns", [1, 2, 7, 8, 9, 10, 44, 64, 84, 127, 200])
@pytest.mark.parametrize("span", [1e-6, 0.0123, 0.5, 1.05, 2.01, 4.0, 9.99, 30.0, 123.4, 3599.0, 7000.0,
                                  90000.0, 1e7, 1e9])
def test_ticks_are_inside_sorted_and_at_least_eight_columns_apart(span, columns):
    for relative in (False, True):
        ticks = Axis(0.0, span, columns).ticks(relative)
        positions = [c for c, _ in ticks]
        assert positions == sorted(positions) and all(0 <= c < columns for c in positions)
        assert all(b - a >= LABEL_COLUMNS - 1 for a, b in itertools.pairwise(positions))  # floor may take one
        assert ticks[-1][1] == "now" if relative else ticks[0] == (0, "0s")
        assert all("e" not in label for _, label in ticks)  # no 1e+06s, however long the run


def test_very_long_runs_count_in_whole_days_of_seconds():
    assert Axis(0.0, 1e9, 80).ticks() == [(0, "0s"), (13, "172800000s"), (27, "345600000s"), (41, "518400000s"),
                                          (55, "691200000s"), (69, "864000000s")]


def test_seconds_are_written_without_float_noise_or_exponent():
    assert [seconds_label(s) for s in (0.0, 0.001, 0.1 * 3, 1.5, 2.0, 3600.0, 8.64e8)] == [
        "0s", "0.001s", "0.3s", "1.5s", "2s", "3600s", "864000000s"]


# --- the axis lines -------------------------------------------------------------------------------------


def test_labels_start_under_their_ticks_and_the_last_moves_left_to_stay_inside():
    assert tick_labels([(0, "0s"), (8, "0.5s"), (63, "4s")], 64) == "0s      0.5s" + " " * 50 + "4s"
    assert tick_labels([(0, "-4s"), (63, "now")], 64) == "-4s" + " " * 58 + "now"
    assert tick_labels([], 5) == "     " and tick_labels([(0, "0s")], 0) == ""


def test_labels_never_overlap_the_end_is_kept_and_a_too_long_one_is_left_out():
    # 0.008s would run into 0.01s, which moved left to stay inside (this was "0.000.01s")
    assert tick_labels(Axis(0.0, 0.01, 44).ticks(), 44) == "0s      0.002s   0.004s   0.006s       0.01s"
    assert tick_labels([(0, "0s"), (4, "1s"), (5, "2s")], 8) == "0s   2s "  # 1s would touch 2s
    assert tick_labels([(0, "0s"), (2, "1s")], 4) == "  1s"  # 0s would touch 1s: no blank between
    assert tick_labels([(0, "0s"), (3, "1s")], 5) == "0s 1s"
    assert tick_labels([(0, "0s")], 1) == " "  # "0s" does not fit one column
    assert tick_labels([(0, "-3600s"), (3, "now")], 4) == " now"


@pytest.mark.parametrize("columns", [1, 3, 9, 10, 44, 84])
@pytest.mark.parametrize("span", [0.0123, 1.05, 2.01, 123.4, 90000.0, 1e9])
def test_the_label_line_is_the_axis_wide_and_every_word_is_a_whole_label(span, columns):
    for relative in (False, True):
        ticks = Axis(0.0, span, columns).ticks(relative)
        line = tick_labels(ticks, columns)
        labels = [label for _, label in ticks]
        assert len(line) == columns
        words = line.split()
        assert all(word in labels for word in words)  # nothing cut, nothing run together
        assert words == [label for label in labels if label in words]  # in order
        if len(labels[-1]) <= columns:
            assert words[-1] == labels[-1]  # the end of the axis is always named


def test_the_tick_line_marks_each_tick_column():
    assert tick_line([(0, "0s"), (3, "1s")], 5) == "┬──┬─"
    assert tick_line([(4, "now")], 5) == "────┬" and tick_line([], 3) == "───" and tick_line([(0, "0s")], 0) == ""


# --- what a bar says ------------------------------------------------------------------------------------


def test_a_short_name_is_the_number_else_the_initial():
    assert [short_name(n) for n in ("task2", "add", "sleep", "?", "")] == ["2", "a", "s", "?", ""]


@pytest.mark.parametrize("name, cells, lead, mark, text", [
    ("task1", 6, "", "", "task1" + BAR),  # the name with a bar after it
    ("task1", 5, "", "", "1" + BAR * 4),  # no bar after the name: its number
    ("task1", 2, "", "", "1" + BAR),
    ("task1", 1, "", "", BAR),  # no bar after the number either: a bar
    ("sleep", 3, "", "", "s" + BAR * 2),
    ("?", 2, "", "", "?" + BAR),
    ("", 3, "", "", BAR * 3),
    ("task1", 0, "", "", ""),
    ("task1", 7, FAILED, "", FAILED + "task1" + BAR),  # the timeline's failed job: ✗ first
    ("task1", 6, FAILED, "", FAILED + "1" + BAR * 4),
    ("task1", 2, FAILED, "", FAILED + BAR),
    ("task1", 1, FAILED, "", FAILED),
    ("task1", 7, "", FAILED, "task1" + BAR + FAILED),  # lost with its worker (or failed, live): ✗ last
    ("task1", 3, "", FAILED, "1" + BAR + FAILED),
    ("task1", 2, "", FAILED, BAR + FAILED),
    ("task1", 1, "", FAILED, FAILED),  # the mark wins over the bar
    ("task1", 6, "↻", "↺", "↻1━━━↺"),
    ("task1", 2, "↻", "↺", "↻↺"),
    ("task1", 1, "↻", "↺", "↻"),  # the lead wins over the mark
])
def test_a_bar_says_as_much_as_fits(name, cells, lead, mark, text):
    assert bar_text(name, cells, lead=lead, mark=mark) == text
    assert len(text) == cells
