"""The live lanes as a picture for a notebook's output: a Frame in, an HTML string holding one SVG out.

The same frame the terminal draws (`producer.views.lanes`: lanes of bars in character columns,
laid out from the cluster's events), drawn at CELL_W pixels a column: so what a bar says
(`Segment.text`, the task's name fitted by `axis.bar_text` to the bar's columns) fits in its
bar here too, in a 12 px monospace font, and the tick labels are the ones the terminal keeps
(`axis.placed_labels`). Pure: no I/O, no clock; `producer.views.notebook` puts it in a cell's
output, a few times a second.

Readable in a light and a dark theme (JupyterLab's, VS Code's): everything that is not a bar is
drawn in `currentColor`, the output's own text colour; the bars' fills are mid-tone colours
that stand out against a white and a near-black page alike (3:1 at least), each with the text
colour, black or white, that reads on it (4.5:1). A lost attempt, whose worker died under it,
is an outline only, dashed, its name in the page's colour, ending in ✗. Only presentation
attributes, no <style>: a stylesheet in an output would restyle the whole page, and Jupyter
keeps attributes when it sanitizes an output.
"""

from __future__ import annotations

from html import escape

from producer.views.axis import BAR, placed_labels
from producer.views.lanes import Frame, Segment

CELL_W = 8  # pixels a column: a 12 px monospace character is ~7.2 px wide, so bar_text's fit holds
LANE_H = 20  # pixels a lane
BAR_H = 14
TEXT_DY = 4  # from a row's middle to the text's baseline, for a 12 px font
HEAD_H = 22  # the headline's row
AXIS_H = 26  # the axis line, its ticks and their labels
FONT = 'font-family="ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" font-size="12"'
DIM = "0.6"  # opacity of what the terminal draws dim: a dead or departed worker's lane, the axis

#: (fill, text on it) for each way a bar ended; a lost attempt has no fill (LOST).
FILLS = {
    "running": ("#b7791f", "#000000"),  # amber: still growing
    "succeeded": ("#2b7a4b", "#ffffff"),
    "failed": ("#c53030", "#ffffff"),
    "retried": ("#805ad5", "#ffffff"),
}
LOST = "#c53030"  # the dashed outline of an attempt lost with its worker
UNKNOWN = ("#718096", "#000000")  # an end the layout may name one day: grey, still readable


def picture(frame: Frame) -> str:
    """The frame as one <div> holding one <svg> (well-formed XML), sized in pixels and shrinking to the output's
    width: the headline, a lane per worker slot with its bars, the time axis."""
    view = frame.view
    x0 = (view.label_width + 1) * CELL_W  # where column 0 starts: the labels' width and one blank column
    width = x0 + view.columns * CELL_W + CELL_W
    trouble = frame.trouble()
    lanes_top = HEAD_H + (LANE_H if trouble is not None else 0)
    notes = [note for note in (
        "no worker seen yet (workers send events with -E)" if not view.lanes else None,
        f"+{view.hidden_lanes} more lanes" if view.hidden_lanes else None) if note is not None]
    rows = len(view.lanes) + len(notes)
    height = lanes_top + rows * LANE_H + AXIS_H
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" style="max-width: 100%; height: auto" {FONT} fill="currentColor" '
             f'role="img" aria-label="{escape(frame.title)}">',
             headline(frame, HEAD_H // 2 + TEXT_DY)]
    if trouble is not None:
        parts.append(f'<text x="0" y="{HEAD_H + LANE_H // 2 + TEXT_DY}"><tspan fill="{LOST}">⚠</tspan> '
                     f'{escape(trouble)}</text>')
    for i, lane in enumerate(view.lanes):
        top = lanes_top + i * LANE_H
        dim = f' opacity="{DIM}"' if lane.status != "alive" else ""
        parts.append(f'<g class="lane" data-node="{escape(lane.node)}" data-status="{escape(lane.status)}"{dim}>')
        if i % 2:  # every other lane shaded: the eye follows a row across the page
            parts.append(f'<rect x="0" y="{top}" width="{width}" height="{LANE_H}" fill-opacity="0.06"/>')
        parts.append(f'<text x="0" y="{top + LANE_H // 2 + TEXT_DY}">{escape(lane.label)}</text>')
        parts += [bar(seg, x0, top, view.columns) for seg in visible(lane.segments, view.columns)]
        parts.append("</g>")
    for k, note in enumerate(notes):
        parts.append(f'<text x="{x0}" y="{lanes_top + (len(view.lanes) + k) * LANE_H + LANE_H // 2 + TEXT_DY}" '
                     f'opacity="{DIM}">{escape(note)}</text>')
    parts.append(axis(frame, x0, lanes_top + rows * LANE_H))
    parts.append("</svg>")
    return '<div class="producer-lanes">' + "".join(parts) + "</div>"


def headline(frame: Frame, baseline: int) -> str:
    """The header's pieces (Frame.headline) on one line; the counts of a kind of bar behind a swatch of its fill."""
    spans = []
    for text, kind in frame.headline():
        weight = ' font-weight="bold"' if kind == "title" else ""
        swatch = f'<tspan fill="{FILLS[kind][0]}">■</tspan> ' if kind in FILLS else ""
        spans.append(f"{swatch}<tspan{weight}>{escape(text)}</tspan>")
    return f'<text class="headline" x="0" y="{baseline}" xml:space="preserve">' + "   ".join(spans) + "</text>"


def visible(segments: list[Segment], columns: int) -> list[Segment]:
    """The bars of a lane a reader can see, in order: each that is last to cover some column, as the terminal's
    text overprints them (`Lane.text`). Jobs shorter than a column are drawn a column wide, so a thousand of
    them would be a thousand rectangles on a few columns, sent a few times a second: at most `columns` are."""
    last_over = {column: i for i, seg in enumerate(segments) for column in range(seg.start, min(seg.end, columns))}
    return [segments[i] for i in sorted(set(last_over.values()))]


def label(seg: Segment) -> str:
    """What the bar says: the terminal's text for it without its ━ (the bar itself is the drawn rectangle)."""
    return seg.text.replace(BAR, "")


def bar(seg: Segment, x0: int, top: int, columns: int) -> str:
    """One job's bar: a rectangle over its columns with its label inside; a lost one dashed and unfilled."""
    end = min(seg.end, columns)
    x, w, y = x0 + seg.start * CELL_W, max(1, end - seg.start) * CELL_W - 1, top + (LANE_H - BAR_H) // 2
    if seg.kind == "lost":
        rect = (f'<rect x="{x + 0.5}" y="{y + 0.5}" width="{w - 1}" height="{BAR_H - 1}" fill="none" '
                f'stroke="{LOST}" stroke-width="1.5" stroke-dasharray="4 2"/>')
        ink = ""  # the page's own text colour: the outline has no fill to write on
    else:
        fill, text_colour = FILLS.get(seg.kind, UNKNOWN)
        rect = f'<rect x="{x}" y="{y}" width="{w}" height="{BAR_H}" rx="2" fill="{fill}"/>'
        ink = f' fill="{text_colour}"'
    said = label(seg)
    text = f'<text x="{x + 2}" y="{top + LANE_H // 2 + TEXT_DY}"{ink}>{escape(said)}</text>' if said else ""
    return (f'<g class="bar {escape(seg.kind)}" data-task="{escape(seg.task_id)}" data-columns="{end - seg.start}">'
            f"<title>{escape(said or seg.kind)} ({escape(seg.kind)})</title>{rect}{text}</g>")


def axis(frame: Frame, x0: int, top: int) -> str:
    """The time axis under the lanes: a line, a tick at each round second, the labels the terminal keeps."""
    view = frame.view
    right = x0 + view.columns * CELL_W
    parts = [f'<g class="axis" opacity="{DIM}">',
             f'<line x1="{x0}" y1="{top + 2}" x2="{right}" y2="{top + 2}" stroke="currentColor"/>']
    parts += [f'<line x1="{x0 + column * CELL_W}" y1="{top + 2}" x2="{x0 + column * CELL_W}" y2="{top + 7}" '
              f'stroke="currentColor"/>' for column, _ in view.ticks]
    parts += [f'<text x="{x0 + at * CELL_W}" y="{top + 20}">{escape(text)}</text>'
              for at, text in placed_labels(view.ticks, view.columns)]
    parts.append("</g>")
    return "".join(parts)
