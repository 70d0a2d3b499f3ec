"""Where the local cluster keeps its state file, and how to read it: standard library only.

`devcluster.local_cluster` writes it (`python -m producer local up`); the settings
(settings.model) read it to find that cluster when no broker variable is set, from any shell.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from settings.private_file import write_private

#: Set it to keep a cluster's state elsewhere; the tests do, so they never touch a user's cluster.
DIR_VARIABLE = "LOCAL_CLUSTER_DIR"

#: Any of these in the environment says where Redis is, and wins over a local cluster.
BROKER_VARIABLES = ("BROKER_URL", "RESULT_BACKEND", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD",
                    "BROKER_URL_FILE", "RESULT_BACKEND_FILE", "REDIS_PASSWORD_FILE", "REDIS_TLS_CA_FILE")

STATE_FILE = "state.json"


def state_dir(env: Mapping[str, str]) -> Path:
    """The folder of the local cluster's state, data and logs.

    The runtime folder first (private to the user, emptied at logout or reboot, as a
    cluster's processes are), else the user's cache folder.
    """
    if env.get(DIR_VARIABLE):
        return Path(env[DIR_VARIABLE])
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "celery-parallelism"
    cache = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return cache / "celery-parallelism" / "local"


def read_state(directory: Path) -> dict[str, Any] | None:
    """The state `local up` wrote in `directory`, or None if there is none (or it is unreadable)."""
    try:
        state = json.loads((directory / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def write_state(directory: Path, state: dict[str, Any]) -> Path:
    """Write the state atomically, readable by the user alone: it holds Redis' password."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    # atomic: a reader sees the old state or the new one, never half of it
    return write_private(directory / STATE_FILE, json.dumps(state, indent=1))


def process_identity(pid: int) -> str | None:
    """What tells this process apart from a later one given the same pid: its start time.

    None if no such process runs. Linux reads /proc; elsewhere (macOS) `ps` says it.
    """
    stat = Path(f"/proc/{pid}/stat")
    if sys.platform.startswith("linux"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return None if fields[0] == "Z" else fields[19]  # starttime, in clock ticks since boot
    out = subprocess.run(["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True, check=False)
    return out.stdout.strip() or None


def is_running(record: Mapping[str, Any]) -> bool:
    """Whether the process a state record describes (pid and identity) still runs."""
    pid, identity = record.get("pid"), record.get("identity")
    return isinstance(pid, int) and identity is not None and process_identity(pid) == identity


def local_urls(env: Mapping[str, str]) -> tuple[str, str] | None:
    """(broker URL, result backend) of a running local cluster, unless the environment names a Redis."""
    if any(env.get(name) for name in BROKER_VARIABLES):
        return None
    state = read_state(state_dir(env))
    if state is None or not is_running(state.get("redis", {})):
        return None
    return state["broker_url"], state["result_backend"]
