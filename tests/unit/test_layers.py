"""The packages are layers (docs/development.md, How it is built): no import points up.

Every import in every module, at the top or inside a function, is read with `ast`; an import
of a package in a higher layer (or of a peer in the same layer) fails, naming both ends.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

#: Lowest first. Peers share a rank and may not import each other.
LAYERS = {"settings": 0, "worker": 1, "cluster": 2, "recovery": 3, "devcluster": 3, "producer": 4, "benchmarks": 5,
          "tests": 6}

#: Inside producer, highest first: commands -> api -> experiments -> results -> views -> the core
#: (jobs, submit, story, figures, ...). The package's __init__ and __main__ only forward to the top.
PRODUCER = {"commands": 5, "api": 4, "experiments": 3, "results": 2, "views": 1}
PRODUCER_FORWARDERS = {"producer/__init__.py", "producer/__main__.py"}


def producer_rank(module: str) -> int:
    """The rank inside producer of `producer.x.y` (a module of the core is 0)."""
    parts = module.split(".")
    return PRODUCER.get(parts[1], 0) if len(parts) > 1 else 6


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in `path`, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def violations(path: Path) -> list[str]:
    rel = path.relative_to(ROOT)
    here = rel.parts[0]
    wrong = []
    for line, module in imports(path):
        top = module.split(".")[0]
        if top not in LAYERS or top == here and here != "producer":
            continue
        if top == here:  # inside producer
            if str(rel) in PRODUCER_FORWARDERS:
                continue
            mine = producer_rank(".".join(rel.with_suffix("").parts))
            theirs = producer_rank(module)
            if theirs > mine or (theirs == mine and mine > 0 and module.split(".")[1] != rel.parts[1]):
                wrong.append(f"{rel}:{line} imports {module} (producer.{module.split('.')[1]} is not below it)")
        elif LAYERS[top] >= LAYERS[here]:
            wrong.append(f"{rel}:{line} imports {module} ({top} is not below {here})")
    return wrong


SOURCES = sorted(p for layer in LAYERS for p in (ROOT / layer).rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_import_points_up(path: Path) -> None:
    assert violations(path) == []


def test_no_module_imports_a_test_module() -> None:
    """Tests share helpers (tests/helpers.py, tests/scheduling.py, tests/unit/builders.py) and fixtures (conftest.py),
    never another test module, and conftest.py imports no test module either."""
    wrong = [f"{p.relative_to(ROOT)}:{line} imports {module}"
             for p in (ROOT / "tests").rglob("*.py") for line, module in imports(p)
             if any(part.startswith("test_") or part == "conftest" for part in module.split("."))]
    assert wrong == []


def test_the_layer_check_bites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker module importing the producer, or a view importing the API, is caught."""
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "worker").mkdir()
    (tmp_path / "producer" / "views").mkdir(parents=True)
    (tmp_path / "worker" / "bad.py").write_text("def f():\n    from producer.jobs import plan\n")
    (tmp_path / "producer" / "views" / "bad.py").write_text("from producer import api\n"
                                                            "from producer.figures import x\n")
    (tmp_path / "producer" / "jobs.py").write_text("from .views import timeline\n")
    assert violations(tmp_path / "worker" / "bad.py") == [
        "worker/bad.py:2 imports producer.jobs.plan (producer is not below worker)"]
    assert violations(tmp_path / "producer" / "views" / "bad.py") == [
        "producer/views/bad.py:1 imports producer.api (producer.api is not below it)"]
    assert violations(tmp_path / "producer" / "jobs.py") == [
        "producer/jobs.py:1 imports producer.views.timeline (producer.views is not below it)"]
