"""A job's status is said once, by producer.jobs.Status; Celery's own states by celery.states.

Every string constant in the packages' sources is read with `ast` (as tests/unit/test_layers.py reads
imports): one that spells a status is a literal the enum (or celery.states) should have replaced.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from producer.jobs import STATUSES, Status
from tests.helpers import ROOT
from tests.unit.builders import outcome, record

#: The packages whose statuses are checked, and the one module allowed to spell them.
PACKAGES = ("producer", "cluster", "recovery", "benchmarks")
OWNER = Path("producer/jobs.py")
#: Ours, and Celery's own states (celery.states), which are read from Celery and named from there.
SPELLED = {*Status, "RECEIVED", "STARTED", "RETRY", "REVOKED", "REJECTED", "IGNORED"}


def literals(path: Path, root: Path) -> list[str]:
    """`file:line "STATUS"` for every string constant in `path` that is exactly a status."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return [f"{path.relative_to(root)}:{node.lineno} {node.value!r}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in SPELLED]


def spelled(root: Path) -> list[str]:
    return [found for package in PACKAGES for path in sorted((root / package).rglob("*.py"))
            if path.relative_to(root) != OWNER for found in literals(path, root)]


def test_no_status_literal_outside_the_enum() -> None:
    assert spelled(ROOT) == []


def test_the_status_check_bites(tmp_path: Path) -> None:
    """A literal status, ours or Celery's, is caught; the owner, a docstring or a longer string is not."""
    (tmp_path / "producer").mkdir()
    (tmp_path / "recovery").mkdir()
    (tmp_path / "producer" / "jobs.py").write_text('X = "PENDING"\n')
    (tmp_path / "producer" / "bad.py").write_text('"""PENDING or SUCCESS."""\nok = s == "SUCCESS"\nw = "WITHDRAWN x"\n')
    (tmp_path / "recovery" / "bad.py").write_text("def f(s):\n    return s in ('RETRY', 'FAILURE')\n")
    assert spelled(tmp_path) == ["producer/bad.py:2 'SUCCESS'", "recovery/bad.py:2 'RETRY'",
                                 "recovery/bad.py:2 'FAILURE'"]


@pytest.mark.parametrize("status", list(Status))
def test_a_status_serialises_as_its_name(status: Status) -> None:
    """The `--json` form is byte for byte what it was when statuses were strings."""
    rec = record(0, 1, task_id="a") if status == Status.SUCCESS else None
    as_enum = outcome(rec, status=status).as_json()
    as_str = {**as_enum, "status": status.value}
    assert type(as_enum["status"]) is Status and type(as_str["status"]) is str
    assert json.dumps(as_enum, indent=2) == json.dumps(as_str, indent=2)
    assert f"{status}" == str(status) == status.value == status.name
    assert STATUSES == ("SUCCESS", "FAILURE", "PENDING", "WITHDRAWN")
