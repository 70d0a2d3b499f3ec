"""Running the producer the way a user does: `python -m producer ...` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    """A finished producer run: exit code, output, and the --json document if there was one."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def document(self) -> dict[str, Any]:
        return json.loads(self.stdout)


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
