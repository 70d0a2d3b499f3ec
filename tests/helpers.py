"""What tests share apart from fixtures: running the producer as a user does (`python -m producer ...`
in a subprocess), deadlines, and skips that CI turns into failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from cluster.queues import depth

ROOT = Path(__file__).resolve().parent.parent

T = TypeVar("T")

#: REQUIRE_ALL=1 (set by .ci/run): a missing tool fails the test instead of skipping it.
REQUIRE_ALL = os.environ.get("REQUIRE_ALL") == "1"

#: Issue #11's bound: seconds from `docker kill` of a busy worker to its job starting in another
#: container (the recovery service notices in 4-8 s; docs/when-things-break.md has the median of 5).
RECOVERY_BOUND_S = 10

NOTEBOOK = ROOT / "notebooks" / "parallelism.ipynb"


@dataclass
class Finished:
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

    def finish(self, timeout_s: float = 120) -> Finished:
        """Wait for it to exit (killing it past `timeout_s`) and return what it printed."""
        try:
            out, err = self.proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            err += f"\n[test] producer killed after {timeout_s} s"
        return Finished(self.proc.returncode, out, err)


def run_producer(*args: str, env: dict[str, str], timeout_s: float = 60) -> Finished:
    """Run `python -m producer *args` from the repo root with `env` added to the environment."""
    proc = subprocess.run(
        [sys.executable, "-m", "producer", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    return Finished(proc.returncode, proc.stdout, proc.stderr)


def skip_unless_required(reason: str) -> None:
    """Skip with a visible reason, or fail when REQUIRE_ALL=1 says every test must run."""
    if REQUIRE_ALL:
        pytest.fail(f"required but unavailable (REQUIRE_ALL=1): {reason}", pytrace=False)
    pytest.skip(reason)


def wait_for(condition: Callable[[], T], timeout_s: float, what: str, interval_s: float = 0.1,
             on_timeout: Callable[[], str] | None = None) -> T:
    """Poll `condition` until it returns something truthy, or fail after `timeout_s` saying `what`
    (and what `on_timeout` finds, for the failure's reader)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            found = f":\n{on_timeout()}" if on_timeout is not None else ""
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}{found}", pytrace=False)
        time.sleep(interval_s)


def wait_until_busy(workers: Any, count: int = 1, queued: int | None = None) -> dict[str, list[str]]:
    """Task ids per worker (a conftest `Workers`), once `count` workers are running a job, and
    `queued` jobs wait in the 'jobs' queue (every job sent: a fault injected then strikes
    running and queued jobs, not a producer still submitting)."""
    def enough() -> dict[str, list[str]] | None:
        busy = workers.busy()
        return busy if len(busy) >= count and (queued is None or depth(workers.app, "jobs") == queued) else None

    what = f"{count} busy worker(s)" + (f" and {queued} jobs queued" if queued is not None else "")
    return wait_for(enough, 20, what, 0.2)


def refusals(server: Any) -> list[dict]:
    """What Redis refused a role since the last look (ACL LOG), and forget it."""
    admin = server.client()
    try:
        entries = admin.acl_log()
        admin.acl_log_reset()
    finally:
        admin.close()
    return entries


@dataclass(frozen=True)
class Displayed:
    """A display message the kernel sent while a cell ran: a display's first data or an update of it."""

    cell: int
    kind: str  # display_data, update_display_data
    display_id: str
    sent_at: datetime  # the kernel's clock, from the message's header
    data: dict[str, Any]


def execute_notebook(env: dict[str, str], tmp_path: Path) -> tuple[Any, list[Displayed]]:
    """Run every cell of the notebook in a real kernel whose environment is ours plus `env`: the executed
    notebook, and every display message with a display id its cells sent (what a front end redraws live)."""
    import nbclient  # the test extra's; only the notebook's tests need them
    import nbformat

    displayed: list[Displayed] = []

    class Recording(nbclient.NotebookClient):
        """nbclient as it is, noting each display message on its way (nbclient keeps only their sum)."""

        def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
            display_id = (msg["content"].get("transient") or {}).get("display_id")
            if display_id and msg["msg_type"] in ("display_data", "update_display_data"):
                sent = msg["header"]["date"]
                displayed.append(Displayed(cell_index, msg["msg_type"], display_id,
                                           sent if isinstance(sent, datetime) else datetime.fromisoformat(sent),
                                           msg["content"]["data"]))
            return super().process_message(msg, cell, cell_index)

    nb = nbformat.read(NOTEBOOK, as_version=4)
    saved = dict(os.environ)
    os.environ.update(env)  # the kernel inherits it: the notebook finds the cluster as a user's would
    try:
        client = Recording(nb, timeout=120, kernel_name="python3",
                           resources={"metadata": {"path": str(NOTEBOOK.parent)}})
        client.execute()  # raises CellExecutionError naming the cell and its assert
    finally:
        os.environ.clear()
        os.environ.update(saved)
    nbformat.write(nb, tmp_path / "executed.ipynb")  # kept with the test's files, to look at when it fails
    assert all(cell.execution_count for cell in nb.cells if cell.cell_type == "code")
    return nb, displayed


def live_processes(where: Callable[[Path], bool]) -> list[Path]:
    """/proc/<pid> of each live process (zombies and this one left out) for which `where` holds;
    a process gone meanwhile, or not ours to read, is left out too."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z" and where(proc):
                found.append(proc)
        except OSError:
            continue
    return found


#: The SVG namespace, as ElementTree names its elements.
SVG = "{http://www.w3.org/2000/svg}"


def bars(html: str) -> dict[str, list[tuple[str, int]]]:
    """A live picture's bars (producer/views/svg_lanes.py) by how they ended: (task id, columns) of each."""
    import xml.etree.ElementTree as ET

    found = defaultdict(list)
    for g in ET.fromstring(html).iter(f"{SVG}g"):
        if (g.get("class") or "").startswith("bar "):
            found[(g.get("class") or "").removeprefix("bar ")].append((g.get("data-task"), int(g.get("data-columns"))))
    return found
