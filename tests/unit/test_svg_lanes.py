"""The notebook's picture of the live lanes (producer.views.svg_lanes), read back as XML from made-up events.

Each frame is laid out by the terminal's own layout (builders.Cluster.view: lanes), then drawn;
the SVG is parsed, so a test reads what a browser would draw: lanes, bars, their labels, the axis.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from producer.views.axis import FAILED, Axis, tick_labels
from producer.views.lanes import REDELIVERED, Frame
from producer.views.svg_lanes import CELL_W, FILLS, LOST, UNKNOWN, picture
from tests.unit.builders import EVENTS_T0 as T0
from tests.unit.builders import Cluster

SVG = "{http://www.w3.org/2000/svg}"
WHITE, JUPYTERLAB_DARK = "#ffffff", "#111111"  # the output's background in JupyterLab's light and dark themes


def drawn(view, title: str = "run 1.0 s", depths: dict[str, int] | None = None, connected: bool = True,
          error: str | None = None) -> ET.Element:
    """The picture of `view`, parsed: its root is the <div>, the <svg> inside."""
    return ET.fromstring(picture(Frame(view, title, {"jobs": 0} if depths is None else depths, connected, error)))


def lanes_of(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == "lane"]


def bars_of(element: ET.Element, kind: str | None = None) -> list[ET.Element]:
    return [g for g in element.iter(f"{SVG}g") if (g.get("class") or "").startswith("bar")
            and (kind is None or g.get("class") == f"bar {kind}")]


def said(bar: ET.Element) -> str:
    """The label written in a bar."""
    text = bar.find(f"{SVG}text")
    return "" if text is None else "".join(text.itertext())


def rect(bar: ET.Element) -> ET.Element:
    found = bar.find(f"{SVG}rect")
    assert found is not None
    return found


def two_workers_one_job_each(end_b: float | None = None) -> Cluster:
    c = Cluster()
    for node in ("w1@h", "w2@h"):
        c.heartbeat(node, 0)
    c.runs("a", "w1@h", 0.0, 2.0)
    c.runs("b", "w2@h", 0.1, end_b, name="task2")
    c.heartbeat("w1@h", 1.5)
    c.heartbeat("w2@h", 1.5)
    return c


def test_a_lane_per_worker_slot_each_with_its_jobs_bar_named_by_its_task():
    view = two_workers_one_job_each(end_b=2.1).view(3.0)
    root = drawn(view)
    lanes = lanes_of(root)
    assert [lane.get("data-node") for lane in lanes] == ["w1@h", "w2@h"] == [lane.node for lane in view.lanes]
    assert [[said(b) for b in bars_of(lane)] for lane in lanes] == [["task1"], ["task2"]]
    assert [[b.get("data-task") for b in bars_of(lane)] for lane in lanes] == [["a"], ["b"]]
    assert len(bars_of(root, "succeeded")) == 2 and not bars_of(root, "running")
    # each bar spans the columns the layout gave it, CELL_W pixels a column (less one pixel between bars)
    (seg,) = view.lanes[0].segments
    assert float(rect(bars_of(lanes[0])[0]).get("width")) == (seg.end - seg.start) * CELL_W - 1
    assert [text.text for text in root.iter(f"{SVG}text") if text.text in ("w1", "w2")] == ["w1", "w2"]


def test_a_running_bar_grows_from_frame_to_frame_and_its_count_is_in_the_headline():
    c = two_workers_one_job_each()
    early, later = (bars_of(drawn(c.view(now)), "running") for now in (1.0, 2.0))
    assert len(early) == len(later) == 1
    assert float(rect(later[0]).get("width")) > float(rect(early[0]).get("width")) > 0
    assert int(later[0].get("data-columns")) > int(early[0].get("data-columns"))
    headline = next(t for t in drawn(c.view(2.0)).iter(f"{SVG}text") if t.get("class") == "headline")
    assert "".join(headline.itertext()).split("   ") == [
        "run 1.0 s", "queue jobs 0", "waiting 0", "■ running 1", "■ done 1"]
    assert rect(later[0]).get("fill") == FILLS["running"][0] != FILLS["succeeded"][0]


def test_an_attempt_lost_with_its_worker_is_a_dashed_outline_ending_in_the_failed_mark():
    c = Cluster()
    c.heartbeat("w1@h", 0, pid=11)
    c.heartbeat("w2@h", 0, pid=22)
    c.runs("job", "w1@h", 0.5, pid=11)
    c.heartbeat("w1@h", 2.0, pid=11)  # its last sign of life
    for t in (2.0, 4.0, 6.0, 8.0):
        c.heartbeat("w2@h", t, pid=22)
    c.event("task-received", 8.0, "w2@h", uuid="job", name="task1", pid=22)  # handed on
    c.event("task-started", 8.0, "w2@h", uuid="job", pid=22)
    root = drawn(c.view(9.0))
    dead, alive = lanes_of(root)
    assert dead.get("data-status") == "dead" and dead.get("opacity") is not None and alive.get("opacity") is None
    (lost,) = bars_of(dead)
    assert lost.get("class") == "bar lost" and said(lost).endswith(FAILED)
    outline = rect(lost)
    assert (outline.get("fill"), outline.get("stroke")) == ("none", LOST) and outline.get("stroke-dasharray")
    assert lost.find(f"{SVG}text").get("fill") is None  # the page's own colour: it has no fill to be read on
    (again,) = bars_of(alive, "running")
    assert said(again).startswith(REDELIVERED) and again.get("data-task") == "job"


def test_failed_and_retried_bars_have_fills_of_their_own():
    c = Cluster()
    c.heartbeat("w1@h", 0)
    c.runs("f", "w1@h", 0.0, 1.0, outcome="failed")
    c.runs("r", "w1@h", 1.0, 2.0, outcome="retried")
    c.heartbeat("w1@h", 2.5)
    root = drawn(c.view(3.0))
    fills = {b.get("class"): rect(b).get("fill") for b in bars_of(root)}
    assert fills == {"bar failed": FILLS["failed"][0], "bar retried": FILLS["retried"][0]}


def test_the_axis_has_a_tick_per_round_step_and_the_labels_the_terminal_keeps():
    view = two_workers_one_job_each(end_b=2.1).view(3.0)
    (axis,) = [g for g in drawn(view).iter(f"{SVG}g") if g.get("class") == "axis"]
    line, *ticks = axis.findall(f"{SVG}line")
    x0 = (view.label_width + 1) * CELL_W
    assert float(line.get("x2")) - float(line.get("x1")) == view.columns * CELL_W
    assert [float(t.get("x1")) for t in ticks] == [x0 + column * CELL_W for column, _ in view.ticks]
    labels = [t.text for t in axis.findall(f"{SVG}text")]
    assert labels == tick_labels(view.ticks, view.columns).split() and labels[0] == "0s" and len(labels) > 2


def test_the_picture_has_as_many_lanes_as_the_layout_and_grows_with_them():
    one, three = Cluster(), Cluster()
    one.heartbeat("w1@h", 0)
    for node in ("w1@h", "w2@h", "w3@h"):
        three.heartbeat(node, 0)
    small, tall = (ET.fromstring(picture(Frame(c.view(1.0), "watch", None, True))).find(f"{SVG}svg")
                   for c in (one, three))
    assert [len(lanes_of(s)) for s in (small, tall)] == [1, 3]
    assert int(tall.get("height")) > int(small.get("height")) and tall.get("viewBox").endswith(tall.get("height"))


def test_jobs_shorter_than_a_column_are_drawn_as_the_terminal_shows_them_at_most_a_bar_a_column():
    c = Cluster()
    c.heartbeat("w1@h", 0)
    for i in range(1000):  # a thousand jobs of 5 ms, one after another: 5 s over the 10 s window
        c.runs(f"j{i}", "w1@h", i * 0.005, (i + 1) * 0.005)
    c.runs("long", "w1@h", 5.0, 8.0, name="task2")
    c.heartbeat("w1@h", 8.5)
    view = c.view(9.0, width=120)
    (lane,) = lanes_of(drawn(view))
    shown = bars_of(lane)
    axis = Axis(view.window_start, view.span_s, view.columns)
    runs = [(i * 0.005, (i + 1) * 0.005) for i in range(1000)] + [(5.0, 8.0)]
    columns_of_jobs = {c for start, end in runs for c in range(*axis.bar(T0 + start, T0 + end))}
    # the layout leaves out what a later bar draws over whole: a bar a column at most, the picture too
    assert len(view.lanes[0].segments) == len(shown) <= len(columns_of_jobs) < 1001
    columns_drawn = {c for b in shown for c in range(int(rect(b).get("x")), int(rect(b).get("x")) + CELL_W * int(
        b.get("data-columns")), CELL_W)}
    assert len(columns_drawn) == len(columns_of_jobs)  # every column the jobs ran in still has a bar
    assert shown[-1].get("data-task") == "long" and said(shown[-1]) == "task2"


def test_task_names_and_worker_names_are_escaped_not_read_as_markup():
    c = Cluster()
    c.heartbeat("w<1>@h", 0)
    c.runs("<id>", "w<1>@h", 0.0, 2.0, name='<b>"&</b>')
    c.heartbeat("w<1>@h", 2.5)
    html = picture(Frame(c.view(3.0, width=120), 'run <i>"', {"q&": 1}, True))
    assert "<b>" not in html and "<i>" not in html and "w<1>" not in html
    root = ET.fromstring(html)  # still well-formed
    (bar,) = bars_of(root)
    assert said(bar) == '<b>"&</b>' and bar.get("data-task") == "<id>"
    assert lanes_of(root)[0].get("data-node") == "w<1>@h"
    assert root.find(f"{SVG}svg").get("aria-label") == 'run <i>"'


def test_no_worker_and_a_lost_broker_are_said_in_words():
    root = drawn(Cluster().view(1.0), depths={}, connected=False, error="ConnectionError: <refused>")
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert "⚠ broker unreachable, reconnecting… ConnectionError: <refused>" in texts
    assert "no worker seen yet (workers send events with -E)" in texts and not lanes_of(root)


def luminance(colour: str) -> float:
    """WCAG 2's relative luminance of #rrggbb."""
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("kind", [*FILLS, "unknown"])
def test_every_bar_reads_on_a_light_and_a_dark_page_and_its_label_on_it(kind):
    """WCAG's 3:1 for a shape against the page (both of JupyterLab's), 4.5:1 for the text on the bar."""
    fill, text = FILLS.get(kind, UNKNOWN)
    assert contrast(fill, WHITE) >= 3 and contrast(fill, JUPYTERLAB_DARK) >= 3
    assert contrast(text, fill) >= 4.5


def test_the_lost_outline_reads_on_both_pages_and_nothing_else_has_a_colour_of_its_own():
    assert contrast(LOST, WHITE) >= 3 and contrast(LOST, JUPYTERLAB_DARK) >= 3
    c = two_workers_one_job_each()
    svg = drawn(c.view(1.0)).find(f"{SVG}svg")
    assert svg.get("fill") == "currentColor"  # labels, axis, headline: the theme's text colour
    own = {e.get("fill") for e in svg.iter() if e.get("fill") not in (None, "currentColor", "none")}
    assert own <= {f for pair in FILLS.values() for f in pair}
