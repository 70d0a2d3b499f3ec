"""The course page continued, in compose: the quiz as `docker compose run --rm producer quiz`,
and the notebook from the host's venv, both against 4 worker containers."""

from __future__ import annotations

import re

import pytest

from tests.compose_cluster import compose_project
from tests.helpers import execute_notebook

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def cluster():
    with compose_project(WORKERS="4") as compose:
        compose("up", "-d", "--build", "--wait", timeout_s=600)
        yield compose


def test_the_quiz_in_compose_answers_as_the_course_page(cluster):
    run = cluster.producer("quiz", timeout_s=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("answer: NOT PARALLEL") == 2 and run.stdout.count("answer: PARALLEL") == 1
    assert "Traceback" not in run.stderr
    figures = re.findall(r"speedup (\d+\.\d+)x, peak overlap (\d+)", run.stdout)
    (cashier_speedup, cashier_peak), (stalls_speedup, stalls_peak), (cup_speedup, _) = figures[:3]
    # all four stalls at once; the speedup well above one after another's 1x, as a busy machine
    # delays a start by tenths of a second (measured 3.09 with four test processes beside it)
    assert cashier_peak == "1" and stalls_peak == "4" and float(stalls_speedup) >= 2.5 and float(cup_speedup) <= 1.2


def test_the_notebook_runs_against_the_compose_cluster(cluster, tmp_path):
    execute_notebook(cluster.host_env, tmp_path)
