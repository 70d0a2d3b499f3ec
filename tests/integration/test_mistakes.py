"""Sixty-odd mistakes a newcomer makes, each run as the real CLI in a subprocess, output piped
(issue #23): every one is one line on stderr, the documented exit code, no traceback, no hang.

The first table needs no cluster (bad arguments, bad settings, a Redis that is not there, no
local cluster); the second runs against real workers on a loopback redis-server. The exit
codes are the ones `producer --help` and docs/producer.md document (cluster.errors).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cluster.errors import RET_BROKER, RET_JOBS_FAILED, RET_LOCAL, RET_NO_WORKERS, RET_OK, RET_USAGE
from devcluster.redis_server import free_port
from tests.helpers import ROOT

pytestmark = pytest.mark.integration

CLOSED = free_port()  # nothing listens there: Redis "stopped"

#: (args, extra environment, exit code, a fragment of the one line)
WITHOUT_A_CLUSTER = [
    (["--jobs", "0"], {}, RET_USAGE, "--jobs"),
    (["--jobs", "-3"], {}, RET_USAGE, "--jobs"),
    (["--jobs", "abc"], {}, RET_USAGE, "'abc' is not a valid whole number"),
    (["--jobs", "1.5"], {}, RET_USAGE, "'1.5' is not a valid whole number"),
    (["--jobs", "100001"], {}, RET_USAGE, "--jobs"),
    (["--jobs"], {}, RET_USAGE, "'--jobs' requires an argument"),
    (["--jobs", "8", "extra"], {}, RET_USAGE, "unexpected extra argument"),
    (["--duration", "-1"], {}, RET_USAGE, "--duration"),
    (["--duration", "nan"], {}, RET_USAGE, "'nan' is not a number"),
    (["--duration", "99999"], {}, RET_USAGE, "--duration"),
    (["--duration", "soon"], {}, RET_USAGE, "'soon' is not a valid number"),
    (["--timeout", "0"], {}, RET_USAGE, "--timeout"),
    (["--timeout", "nan"], {}, RET_USAGE, "--timeout"),
    (["--kind", "io"], {}, RET_USAGE, "--kind"),
    (["--task", "task3"], {}, RET_USAGE, "--task"),
    (["--task", "task1", "--task", "task3"], {}, RET_USAGE, "--task"),
    (["--fail-rate", "1.5"], {}, RET_USAGE, "--fail-rate"),
    (["--flaky-rate", "-0.1"], {}, RET_USAGE, "--flaky-rate"),
    (["--queue", " "], {}, RET_USAGE, "must not be empty"),
    (["--frobnicate"], {}, RET_USAGE, "--frobnicate"),
    (["compare-all"], {}, RET_USAGE, "did you mean 'compare'?"),
    (["swep"], {}, RET_USAGE, "did you mean 'sweep'?"),
    (["--plot", "run.txt"], {}, RET_USAGE, "cannot save .txt files"),
    (["--plot", "run"], {}, RET_USAGE, "cannot save .(no suffix) files"),
    (["--plot", "/proc/run.png"], {}, RET_USAGE, "cannot write '/proc/run.png'"),
    (["--trace", "/tmp"], {}, RET_USAGE, "'/tmp' is a directory"),
    (["compare", "--jobs", "0"], {}, RET_USAGE, "--jobs"),
    (["compare", "--kind", "io"], {}, RET_USAGE, "--kind"),
    (["sweep", "--jobs", "0"], {}, RET_USAGE, "--jobs"),
    (["sweep", "--plot", "curve.doc"], {}, RET_USAGE, "cannot save .doc files"),
    (["watch", "--seconds", "1"], {}, RET_USAGE, "--seconds"),
    (["watch", "--seconds", "abc"], {}, RET_USAGE, "'abc' is not a valid number"),
    (["status", "--frob"], {}, RET_USAGE, "--frob"),
    (["purge", "--queue"], {}, RET_USAGE, "'--queue' requires an argument"),
    (["quiz", "--workers", "1"], {}, RET_USAGE, "--workers"),
    (["quiz", "--duration", "0"], {}, RET_USAGE, "--duration"),
    (["quiz", "--answers", "maybe,p,p"], {}, RET_USAGE, "not 'maybe'"),
    (["quiz", "--answers", "p,p"], {}, RET_USAGE, "give 3 answers"),
    (["quiz", "--ask", "--answers", "p,p,p"], {}, RET_USAGE, "--ask or --answers, not both"),
    (["quiz", "--ask"], {}, RET_USAGE, "--ask needs a terminal"),
    (["local", "up", "--workers", "0"], {}, RET_USAGE, "--workers"),
    (["local", "up", "--pool", "eventlet"], {}, RET_USAGE, "--pool"),
    (["local", "up", "--concurrency", "abc"], {}, RET_USAGE, "'abc' is not a valid whole number"),
    (["local", "up", "--port", "0"], {}, RET_USAGE, "--port"),
    (["local", "up", "--timeout", "0"], {}, RET_USAGE, "--timeout"),
    (["local", "frob"], {}, RET_USAGE, "frob"),
    (["local", "status"], {}, RET_LOCAL, "no local cluster is up: python -m producer local up"),
    (["local", "logs"], {}, RET_LOCAL, "no local cluster is up"),
    ([], {"BROKER_TIMEOUT": "abc"}, RET_USAGE, "BROKER_TIMEOUT='abc'"),
    ([], {"WORKER_WAIT": "-1"}, RET_USAGE, "WORKER_WAIT='-1'"),
    ([], {"BROKER_URL": "http://localhost"}, RET_USAGE, "redis://"),
    ([], {"REDIS_TLS_CA_FILE": "/nonexistent/ca.pem"}, RET_USAGE, "REDIS_TLS_CA_FILE"),
    ([], {"BROKER_URL": "", "RESULT_BACKEND": "", "REDIS_PASSWORD_FILE": "/nonexistent/pw"}, RET_USAGE,
     "REDIS_PASSWORD_FILE=/nonexistent/pw: cannot read it"),
    ([], {"BROKER_URL": "", "RESULT_BACKEND": "", "REDIS_PORT": "abc"}, RET_USAGE, "REDIS_PORT='abc'"),
    ([], {"BROKER_URL": "", "RESULT_BACKEND": "", "REDIS_USER": "bob"}, RET_USAGE,
     "REDIS_USER='bob': not a user of this cluster; one of admin, flower, keda, producer, recovery, worker"),
    ([], {}, RET_BROKER, "start it (docker compose up -d --wait, or python -m producer local up)"),
    (["status"], {}, RET_BROKER, "cannot reach Redis at"),
    (["purge", "--yes"], {}, RET_BROKER, "cannot reach Redis at"),
    (["compare"], {}, RET_BROKER, "cannot reach Redis at"),
    (["sweep"], {}, RET_BROKER, "cannot reach Redis at"),
    (["watch", "--seconds", "5"], {}, RET_BROKER, "cannot reach Redis at"),
    (["quiz"], {}, RET_BROKER, "cannot reach Redis at"),
    (["--plot", "run.png", "--jobs", "2"], {}, RET_BROKER, "cannot reach Redis at"),
]


def producer(args: list[str], env: dict[str, str], timeout_s: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "producer", *args], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)


def one_clear_line(run: subprocess.CompletedProcess, code: int, fragment: str) -> None:
    assert run.returncode == code, run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    errors = [line for line in run.stderr.splitlines() if line.startswith("producer: ")]
    assert len(errors) == 1 and fragment in errors[0], run.stderr
    assert errors[0] == run.stderr.splitlines()[-1]  # the last word, after any progress or note
    assert len(errors[0]) < 400


@pytest.fixture
def nowhere(tmp_path: Path) -> dict[str, str]:
    """No Redis on this port, no local cluster recorded, quick to give up."""
    return {"BROKER_URL": f"redis://127.0.0.1:{CLOSED}/0", "RESULT_BACKEND": f"redis://127.0.0.1:{CLOSED}/1",
            "BROKER_TIMEOUT": "1", "LOCAL_CLUSTER_DIR": str(tmp_path / "none"), "COLUMNS": "80"}


@pytest.mark.parametrize("args, env, code, fragment", WITHOUT_A_CLUSTER,
                         ids=[" ".join(a) or next((k for k in e if e[k]), "run") for a, e, _, _ in WITHOUT_A_CLUSTER])
def test_a_mistake_without_a_cluster_is_one_clear_line(args, env, code, fragment, nowhere):
    started = time.monotonic()
    one_clear_line(producer(args, {**nowhere, **env}), code, fragment)
    assert time.monotonic() - started < 15  # no hang: BROKER_TIMEOUT is 1 s


#: (args, exit code, fragment); run against 2 real workers on queue "jobs"
WITH_A_CLUSTER = [
    (["--queue", "nobody"], RET_NO_WORKERS, "start them first: docker compose up -d --wait"),
    (["--queue", "jobs-threads"], RET_NO_WORKERS, "FLAVOURS=1 docker compose up -d --wait"),
    (["sweep", "--queue", "nobody"], RET_NO_WORKERS, "no worker consumes queue 'nobody'"),
    (["compare", "--queue", "nobody"], RET_NO_WORKERS, "no worker consumes 'nobody'"),
    (["quiz", "--workers", "3"], RET_USAGE, "2 online: WORKERS=3 docker compose up -d --wait"),
    (["quiz", "--workers", "6"], RET_USAGE, "or quiz --workers 2"),
    (["--jobs", "2", "--duration", "0", "--fail-rate", "1"], RET_JOBS_FAILED, "error: 2 failed (each job named above)"),
    (["--jobs", "4", "--duration", "2", "--timeout", "0.5"], RET_JOBS_FAILED, "withdrew"),
]


def test_mistakes_against_a_cluster_are_one_clear_line(start_workers, redis_env):
    start_workers(2)
    env = {**redis_env, "WORKER_WAIT": "0.5", "COLUMNS": "80"}
    for args, code, fragment in WITH_A_CLUSTER:
        run = producer(args, env)
        assert run.returncode == code, (args, run.stderr)
        assert "Traceback" not in run.stderr + run.stdout, args
        assert fragment in run.stderr.splitlines()[-1], (args, run.stderr)


def test_with_stdout_and_stderr_in_one_file_errors_follow_the_report(start_workers, redis_env, tmp_path):
    start_workers(2)
    both = tmp_path / "both.txt"
    with open(both, "w") as out:  # 300 job lines: more than one buffer of stdout
        code = subprocess.run([sys.executable, "-m", "producer", "--jobs", "300", "--duration", "0", "--fail-rate",
                               "0.5", "--no-timeline"], cwd=ROOT, env={**os.environ, **redis_env}, stdout=out,
                              stderr=subprocess.STDOUT, timeout=120).returncode
    lines = both.read_text().splitlines()
    assert code == RET_JOBS_FAILED
    errors = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    verdict = max(i for i, line in enumerate(lines) if line.startswith(("ran ", "jobs of 0 s")))
    assert errors and min(errors) > verdict, "an error line landed inside the report"


def test_watch_piped_ends_after_its_seconds_with_the_lanes(start_workers, redis_env):
    workers = start_workers(2)
    started = time.monotonic()
    run = producer(["watch", "--seconds", "3"], {**redis_env, "COLUMNS": "80"}, timeout_s=30)
    assert run.returncode == RET_OK, run.stderr
    assert 3 <= time.monotonic() - started < 15
    assert all(name.split("@")[0] in run.stdout for name in workers.names), run.stdout  # a lane each
    assert "following the cluster for 3 s" in run.stderr


def test_the_mistakes_number_sixty_or_more():
    assert len(WITHOUT_A_CLUSTER) + len(WITH_A_CLUSTER) + 2 >= 60
