"""The nemesis run (benchmarks.nemesis), its one-minute version: faults at random on a compose
cluster while a plain Celery client and the producer send jobs; the run's own checks must hold.
The ten-minute run and its figures: docs/when-things-break.md."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.compose_cluster import docker_ready
from tests.helpers import ROOT, skip_unless_required
from tests.scheduling import compose_slot

pytestmark = [pytest.mark.faults, pytest.mark.docker]


def test_a_minute_of_random_faults_loses_no_job_and_fails_no_healthy_one(tmp_path):
    if why := docker_ready():
        skip_unless_required(why)
    out = tmp_path / "nemesis.json"
    with compose_slot():
        proc = subprocess.run([sys.executable, "-m", "benchmarks.nemesis", "--minutes", "1", "--seed", "169",
                               "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    verdict = json.loads(out.read_text())
    assert verdict["problems"] == [] and verdict["lost"] == 0 and verdict["failed"] == 0
    assert verdict["jobs"] >= 200 and verdict["plain_jobs"] > 100 and verdict["producer_jobs"] > 50, verdict
    assert set(verdict["faults"]) == {"kill", "pause", "cut", "redis-restart", "junk"}, verdict["faults"]
    assert sum(verdict["faults"].values()) >= 5 and verdict["back_to_full_strength_s"] is not None
    assert "nemesis: every check holds" in proc.stdout
    assert proc.stdout.count("\n+") >= sum(verdict["faults"].values())  # the schedule, printed as it struck
