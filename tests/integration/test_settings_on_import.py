"""No module reads a setting or raises on import (issue #33): every module of every room imports
under an environment each of whose settings is bad; only an entry point refuses it, in one line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.integration

ROOMS = ("settings", "worker", "cluster", "recovery", "devcluster", "producer")
#: Run as programs, not imported: Flower's config file (Flower executes it), the entry points.
PROGRAMS = {"worker.flowerconfig", "producer.__main__", "recovery.__main__"}
BAD = {"VISIBILITY_TIMEOUT": "abc", "REDIS_USER": "not a role", "WORKER_WAIT": "-1", "BROKER_URL": "amqp://x/",
       "REDIS_PASSWORD_FILE": "/nowhere/pw"}


def modules() -> list[str]:
    found = []
    for room in ROOMS:
        for path in sorted((ROOT / room).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            if name not in PROGRAMS:
                found.append(name)
    return found


def test_every_module_imports_under_bad_settings():
    names = modules()
    assert len(names) >= 60 and "worker" in names and "producer.commands.main" in names
    script = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\nprint('imported')"
    env = {**os.environ, **BAD}
    run = subprocess.run([sys.executable, "-c", script, *names], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "imported", run.stderr[-3000:]
    # yet each entry point refuses them, the first bad one named, in one line
    for program, says in (([sys.executable, "-m", "producer", "status"], "producer: error: "),
                          ([sys.executable, "-m", "recovery"], "recovery: error: "),
                          ([sys.executable, "-m", "celery", "-A", "worker", "inspect", "ping"], "celery: error: ")):
        refused = subprocess.run(program, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert refused.returncode != 0 and refused.stderr.startswith(says), (program, refused.stderr)
        assert len(refused.stderr.splitlines()) == 1 and "Traceback" not in refused.stderr, refused.stderr
