"""The notebook runs top to bottom against a local cluster of 4 workers, each cell checking its own figures."""

from __future__ import annotations

import os
from pathlib import Path

import nbclient
import nbformat
import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.integration

NOTEBOOK = ROOT / "notebooks" / "parallelism.ipynb"


def test_the_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


def execute_notebook(env: dict[str, str], tmp_path: Path) -> None:
    """Run every cell of the notebook in a real kernel whose environment is ours plus `env`."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    saved = dict(os.environ)
    os.environ.update(env)  # the kernel inherits it: the notebook finds the cluster as a user's would
    try:
        client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                         resources={"metadata": {"path": str(NOTEBOOK.parent)}})
        client.execute()  # raises CellExecutionError naming the cell and its assert
    finally:
        os.environ.clear()
        os.environ.update(saved)
    nbformat.write(nb, tmp_path / "executed.ipynb")  # kept with the test's files, to look at when it fails
    assert all(cell.execution_count for cell in nb.cells if cell.cell_type == "code")


def test_the_notebook_runs_top_to_bottom_against_the_cluster(start_workers, redis_env, tmp_path: Path):
    start_workers(4)
    execute_notebook(redis_env, tmp_path)
