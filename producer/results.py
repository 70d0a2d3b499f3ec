"""A finished batch as the library hands it over (producer.api): figures, records, timeline, Gantt chart, table.

Everything here is derived from the outcomes with the one set of figures (producer.figures),
so a notebook shows the same numbers as the command line.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

from producer.figures import Summary, align
from producer.jobs import Outcome
from producer.views.timeline import layout, legend, render
from worker.records import JobRecord


@dataclass
class BatchResult:
    """The outcomes of one batch, its summary (speedup, peak overlap, verdict...) and ways to look at it."""

    outcomes: list[Outcome]
    summary: Summary

    @property
    def records(self) -> list[JobRecord]:
        """The result record of every job that ran, in submission order."""
        return [o.record for o in self.outcomes if o.record is not None]

    @property
    def failed(self) -> list[Outcome]:
        """Jobs that failed, did not finish in time, or were withdrawn."""
        return [o for o in self.outcomes if o.status != "SUCCESS"]

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
        aligned, _ = align(self.outcomes)
        drawn = layout(aligned, width)
        return "\n".join([*textwrap.wrap(legend(drawn), width), *(line.plain for line in render(drawn))])

    def gantt(self) -> Any:
        """A matplotlib Figure of the run (shown inline when it is a notebook cell's value); needs matplotlib."""
        from producer.views.plot import gantt_figure, pyplot

        fig = gantt_figure(self.outcomes, self.summary)
        pyplot().close(fig)  # no second copy from pyplot's own display at the end of a notebook cell
        return fig

    def __repr__(self) -> str:
        s = self.summary
        return f"<BatchResult {s.jobs} jobs, wall {s.wall_s:.2f} s, speedup {s.speedup}: {s.verdict}>"
