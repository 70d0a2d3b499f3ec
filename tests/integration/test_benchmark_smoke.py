"""The benchmark runs end to end with tiny sizes and writes valid JSON (not timed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.integration


def test_quick_local_benchmark_writes_every_figure(tmp_path, redis_server):  # redis_server: skips without redis
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--local", "--quick", "--out", str(out)], cwd=ROOT,
                          env=os.environ, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    figures = doc["figures"]["local"]
    assert figures["efficiency 4x0.2s/2"]["n"] == 3  # three repetitions
    assert 0 < figures["efficiency 4x0.2s/2"]["median"] <= 1.05
    assert figures["throughput jobs/s on 2"]["median"] > 0
    assert figures["round trip p50 ms"] > 0
    assert figures["memory MiB worker"]["n"] == 2  # both idle workers measured
    assert {"scaling efficiency sleep/1", "scaling efficiency cpu/2", "cold start s, 1 workers"} <= set(figures)
    assert doc["samples"]["local"]["efficiency"]["4x0.2s/2"][0]["failed"] == 0
    assert "benchmark (median" in proc.stdout
    # nothing left running: no worker of the benchmark's in the process table
    leftovers = subprocess.run(["pgrep", "-f", "celery -A worker worker -n bench"], capture_output=True, text=True)
    assert leftovers.stdout == ""
