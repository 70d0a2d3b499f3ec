"""The notebook runs top to bottom against a local cluster of 4 workers, each cell checking its own figures.

Beside the other tests: a figure a busy machine can move (cpu jobs' speedup) is checked with the
verdict's reason for it (the cores were busy elsewhere), as a learner's busy laptop would need."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tests.helpers import NOTEBOOK, execute_notebook

pytestmark = pytest.mark.integration


def test_the_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


def test_the_notebook_runs_top_to_bottom_against_the_cluster(start_workers, redis_env, tmp_path: Path):
    start_workers(4)
    execute_notebook(redis_env, tmp_path)
