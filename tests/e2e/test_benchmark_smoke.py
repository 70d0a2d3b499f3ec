"""docs/performance.md's benchmark commands, with tiny sizes, against a compose cluster of their own:
they run to the end, write valid JSON, and leave no container or volume behind.

One module, so its tests run one after another (pytest-xdist keeps a file in one process): each
compares the benchmark containers on the machine before and after."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.compose_cluster import docker_ready
from tests.helpers import RECOVERY_BOUND_S, ROOT, skip_unless_required
from tests.scheduling import compose_slot

pytestmark = pytest.mark.docker


@pytest.fixture
def compose_turn():
    """The compose benchmarks start a compose project of their own: one of the suite's slots."""
    with compose_slot():
        yield


def bench_leftovers() -> list[str]:
    containers = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True,
                                check=True, timeout=60).stdout.split()
    volumes = subprocess.run(["docker", "volume", "ls", "--format", "{{.Name}}"], capture_output=True, text=True,
                             check=True, timeout=60).stdout.split()
    return [name for name in containers + volumes if name.startswith("cpd-bench-")]


def test_quick_compose_benchmark_runs_and_cleans_up(tmp_path, compose_turn):
    reason = docker_ready()
    if reason:
        skip_unless_required(f"the compose benchmark needs an engine: {reason}")
    before = bench_leftovers()
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--repeat", "1", "--out", str(out)], cwd=ROOT,
                          env=os.environ, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(out.read_text())["figures"]["compose"]
    assert figures["efficiency 4x0.2s/2"]["n"] == 1  # one pass: the local smoke counts repetitions
    assert figures["memory MiB worker"]["median"] > 0 and figures["memory MiB redis"]["median"] > 0
    assert figures["cold start s, 1 workers"]["median"] > 0
    # the smallest demo from Enter to its results, `docker compose run --rm producer` included (issue #31)
    assert all(figures[f"Enter to exit s: producer {args}"]["median"] > 0  # (one sample each: either may be slower)
               for args in ("--version", "--jobs 2 --duration 0.1"))
    assert "idle CPU % core, 2 workers" in figures and "engine CPU % core, 2 workers" in figures
    # the live view drew the compose cluster's events too (issue #12), from the host through the mapped port
    assert figures["view on 2: jobs/s"]["n"] == 1 and figures["view on 2: events/s"]["median"] > 0
    assert 0 < figures["view on 2: lag max ms, sent → drawn"]["median"] < 30_000
    assert bench_leftovers() == before


def test_recovery_benchmark_kills_a_container_and_its_job_comes_back(tmp_path, compose_turn):
    """`python -m benchmarks.recovery --compose`, once: a `docker kill`ed worker's job starts in the
    other container, a job longer than the recovery service's silence ran once, nothing is left."""
    reason = docker_ready()
    if reason:
        skip_unless_required(f"the recovery benchmark needs an engine: {reason}")
    before = bench_leftovers()
    out = tmp_path / "recovery.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.recovery", "--compose", "--reps", "1", "--skip-backstop",
                           "--long-job", "12", "--json", str(out)], cwd=ROOT, env=os.environ, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [row] = json.loads(out.read_text())["recovery"]
    assert row["where"] == "compose" and row["service"] is True
    [seconds] = row["kill_to_start_s"]
    # the benchmark itself fails unless the job ended in the other container, marked redelivered
    assert 0 < seconds < RECOVERY_BOUND_S
    # 12 s: twice the service's silence, on a worker that kept heartbeating: started once, never handed on
    assert row["long_job_runs"] == 1 and row["long_job_redelivered"] is False
    assert "kill -> start elsewhere" in proc.stdout
    assert bench_leftovers() == before
