"""A finished batch as the library hands it over (producer.api): figures, records, timeline, Gantt chart, table.

`BatchResult.of` is the one way a batch's result is made, from what `run_batch` collected
(producer.submit.Collected): its story is told once (producer.story: the records and the
events on the producer's clock) and its summary computed from that story (producer.figures),
so a notebook shows the same numbers and pictures as the command line.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

from cluster.events import Snapshot
from producer import jobs
from producer.figures import Summary, summarize
from producer.jobs import Outcome
from producer.story import Story, tell
from producer.submit import Collected
from producer.views.timeline import layout, legend, render
from worker.records import JobRecord


@dataclass(frozen=True)
class BatchResult:
    """A finished batch: its story (outcomes on one clock, what the events saw), its summary (speedup, peak
    overlap, verdict...) and ways to look at it. Made by `BatchResult.of`."""

    story: Story
    summary: Summary

    @classmethod
    def of(cls, collected: Collected, *, slots_online: int = 0, queued_ahead: int = 0,
           seen: Snapshot | None = None) -> BatchResult:
        """The result of a collected batch: its story told once (with what the events in `seen` saw, when
        followed), its summary from that story (`slots_online`, `queued_ahead`: see figures.summarize)."""
        story = tell(collected.outcomes, seen)
        return cls(story, summarize(story, wall_s=collected.wall_s, slots_online=slots_online,
                                    queued_ahead=queued_ahead))

    @property
    def outcomes(self) -> list[Outcome]:
        """Every job's outcome in submission order, each record as its worker reported it."""
        return list(self.story.recorded)

    @property
    def records(self) -> list[JobRecord]:
        """The result record of every job that ran, in submission order."""
        return [o.record for o in self.outcomes if o.record is not None]

    @property
    def failed(self) -> list[Outcome]:
        """Jobs that failed, did not finish in time, or were withdrawn."""
        return jobs.failed(self.outcomes)

    @property
    def withdrawn(self) -> list[Outcome]:
        """Jobs withdrawn from the queue before they started (a timeout, Ctrl-C)."""
        return jobs.withdrawn(self.outcomes)

    def to_dataframe(self) -> Any:
        """One row per job (the `--json` results: who, when, how long), as a pandas DataFrame.

        Timestamps become pandas datetimes (UTC). Needs pandas: pip install -e '.[notebook]'.
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_dataframe needs pandas: pip install -e '.[notebook]' (or pip install pandas)") \
                from None
        frame = pd.DataFrame([o.as_json() for o in self.outcomes])
        for column in ("submitted_at", "started_at", "finished_at", "received_at"):
            if column in frame:
                frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
        return frame

    def timeline(self, width: int = 100) -> str:
        """The run as plain text, one row per worker slot (as the command line draws it), `width` columns."""
        drawn = layout(list(self.story.outcomes), width)
        return "\n".join([*textwrap.wrap(legend(drawn), width), *(line.plain for line in render(drawn))])

    def gantt(self) -> Any:
        """A matplotlib Figure of the run (shown inline when it is a notebook cell's value); needs matplotlib."""
        from producer.views.plot import gantt_figure, pyplot

        fig = gantt_figure(self.story, self.summary)
        pyplot().close(fig)  # no second copy from pyplot's own display at the end of a notebook cell
        return fig

    def __repr__(self) -> str:
        s = self.summary
        return f"<BatchResult {s.jobs} jobs, wall {s.wall_s:.2f} s, speedup {s.speedup}: {s.verdict}>"
