"""Running the producer the way a user does: `python -m producer ...` in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: Issue #11's bound: seconds from `docker kill` of a busy worker to its job starting in another
#: container (the recovery service notices in 4-8 s; docs/when-things-break.md has the median of 5).
RECOVERY_BOUND_S = 10


@dataclass
class Run:
    """A finished producer run: exit code, output, and the --json document if there was one."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def document(self) -> dict[str, Any]:
        return json.loads(self.stdout)


def ctrl_c_reaches_it() -> None:
    """preexec_fn for a child the test will send SIGINT, as a terminal's Ctrl-C: a shell that ran
    the tests in the background (`cmd &`, no job control) left SIGINT ignored, and a child
    inherits that; Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Background:
    """A producer running in the background while a test injects a fault."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "producer", *args], cwd=ROOT, env={**os.environ, **env},
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     preexec_fn=ctrl_c_reaches_it)

    def finish(self, timeout_s: float = 120) -> Run:
        """Wait for it to exit (killing it past `timeout_s`) and return what it printed."""
        try:
            out, err = self.proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            err += f"\n[test] producer killed after {timeout_s} s"
        return Run(self.proc.returncode, out, err)


def run_producer(*args: str, env: dict[str, str], timeout_s: float = 60) -> Run:
    """Run `python -m producer *args` from the repo root with `env` added to the environment."""
    proc = subprocess.run(
        [sys.executable, "-m", "producer", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)
