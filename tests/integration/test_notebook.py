"""The notebook runs top to bottom against a local cluster of 4 workers, each cell checking its own figures,
and the cells that run jobs draw them live: a display updated several times a second while they run.

Beside the other tests: a figure a busy machine can move (cpu jobs' speedup) is checked with the
verdict's reason for it (the cores were busy elsewhere), as a learner's busy laptop would need."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import nbformat
import pytest

from tests.helpers import NOTEBOOK, Displayed, bars, execute_notebook

pytestmark = pytest.mark.integration

#: The cells that draw live, by their call: the jobs in each picture they leave, in order (the sweep's
#: steps of 2 jobs per worker slot; the quiz's cashier, stalls and cup, then Amdahl on 1 to 4 workers;
#: watch, the 8 jobs of the command line the cell starts).
LIVE = {
    "run_jobs(jobs=2, duration=1)": [2],
    "run_jobs(jobs=8, duration=1)": [8],
    'run_jobs(jobs=2, duration=0.5, kind="cpu")': [2],
    "sweep(duration=0.5)": [8, 8, 8, 8],
    "quiz(duration=0.5)": [4, 4, 4, 1, 2, 3, 4],
    "watch(seconds=15, stop_after=12)": [8],
}
#: Updates a second a live picture sends at least: it draws 4 (producer.views.live.REFRESH_PER_S); a busy
#: machine may make a frame late, not half of them.
UPDATES_PER_S = 2.5


def test_the_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)
    assert all(sum(call in cell.source for cell in code) == 1 for call in LIVE)  # each live cell found, once


def test_the_notebook_runs_top_to_bottom_against_the_cluster_drawing_its_jobs_live(start_workers, redis_env,
                                                                                    tmp_path: Path):
    start_workers(4)
    nb, displayed = execute_notebook(redis_env, tmp_path)
    for index, cell in enumerate(nb.cells):
        call = next((call for call in LIVE if call in cell.source), None)
        if cell.cell_type != "code":
            continue
        assert not [o for o in cell.outputs if o.get("name") == "stderr"], f"cell {index} wrote to stderr"
        pictures: dict[str, list[Displayed]] = defaultdict(list)
        for message in displayed:
            if message.cell == index:
                pictures[message.display_id].append(message)
        if call is None:
            assert not pictures, f"cell {index} drew live, not named in LIVE"
            continue
        assert [len(bars(frames[-1].data["text/html"])["succeeded"]) for frames in pictures.values()] == LIVE[call], (
            f"{call}: the last frame of each picture holds every job's bar, done")
        kept = [o.data["text/html"] for o in cell.outputs if o.output_type == "display_data"
                and o.data.get("text/html", "").startswith('<div class="producer-lanes">')]
        assert kept == [frames[-1].data["text/html"] for frames in pictures.values()], (
            f"{call}: the saved output is each picture's last frame")
        grew = False
        for frames in pictures.values():
            first, *updates = frames
            assert first.kind == "display_data" and updates and {u.kind for u in updates} == {"update_display_data"}
            span_s = (frames[-1].sent_at - first.sent_at).total_seconds()
            assert len(updates) >= UPDATES_PER_S * span_s - 1, (
                f"{call}: {len(updates)} updates in {span_s:.1f} s, fewer than {UPDATES_PER_S} a second")
            running = [dict(bars(f.data["text/html"])["running"]) for f in frames]
            assert any(running), f"{call}: no frame drew a job while it ran"
            grew |= any(later.get(task, 0) > columns  # the same job's bar, longer in a later frame
                        for k, before in enumerate(running) for task, columns in before.items()
                        for later in running[k + 1:])
        assert grew, f"{call}: no running bar grew from one frame to the next"
