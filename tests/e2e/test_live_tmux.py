"""The live view in a real terminal: the producer inside tmux (80 x 24), its pane captured while it draws."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.helpers import ROOT, skip_unless_required

pytestmark = pytest.mark.integration


class Tmux:
    """A tmux server of this test's own (its own socket), running one command in an 80 x 24 pane."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.socket = f"live-test-{uuid.uuid4().hex[:8]}"
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        # the shell stays after the command, so its last frame and exit code can still be read
        script = f"cd {shlex.quote(str(ROOT))} && env {exports} {shlex.join(command)}; echo EXIT=$?; sleep 600"
        subprocess.run(["tmux", "-L", self.socket, "new-session", "-d", "-x", "80", "-y", "24", script],
                       check=True, env={**os.environ, "TERM": "xterm-256color"})

    def capture(self, history: bool = False, joined: bool = False) -> str:
        """The screen (or all the pane printed, with `history`); `joined` undoes the terminal's own wrapping."""
        args = ["-S", "-"] if history else []
        args += ["-J"] if joined else []
        out = subprocess.run(["tmux", "-L", self.socket, "capture-pane", "-p", *args], capture_output=True, text=True,
                             check=True).stdout
        return "\n".join(line.rstrip() for line in out.splitlines())

    def wait_for(self, predicate: Callable[[str], object], timeout_s: float, what: str) -> str:
        """The first screen `predicate` accepts, polled until a deadline (the last screen is shown if none)."""
        deadline = time.monotonic() + timeout_s
        while True:
            screen = self.capture()
            if predicate(screen):
                return screen
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}; the screen:\n{screen}",
                            pytrace=False)
            time.sleep(0.1)

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "-L", self.socket, "send-keys", *keys], check=True)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def tmux() -> Iterator[Callable[..., Tmux]]:
    if shutil.which("tmux") is None:
        skip_unless_required("tmux is not installed (scripts/test installs it)")
    started: list[Tmux] = []

    def start(*args: str, env: dict[str, str]) -> Tmux:
        session = Tmux([sys.executable, "-m", "producer", *args], env)
        started.append(session)
        return session

    yield start
    for session in started:
        session.kill()


def bars(screen: str, names: list[str]) -> dict[str, int]:
    """Bar characters drawn on each worker's lane (lanes are labelled with the worker's short name)."""
    found = {}
    for line in screen.splitlines():
        for name in names:
            short = name.partition("@")[0]
            if (line == short or line.startswith(short + " ")) and "timeline" not in line:
                found[short] = sum(ch in "━✗↻↺" or ch.isalnum() for ch in line[len(short):].split(" dead")[-1])
    return found


def busy_lanes(screen: str, names: list[str]) -> dict[str, int]:
    return {k: v for k, v in bars(screen, names).items() if v > 0}


def test_run_draws_lanes_that_grow_while_the_jobs_run_then_the_report(tmux, start_workers, redis_env):
    workers = start_workers(2)
    pane = tmux("--jobs", "4", "--duration", "3", env=redis_env)
    first = pane.wait_for(lambda s: len(busy_lanes(s, workers.names)) == 2, 30, "two lanes with bars")
    before = busy_lanes(first, workers.names)
    grown = pane.wait_for(lambda s: all(busy_lanes(s, workers.names).get(k, 0) > v for k, v in before.items()),
                          10, f"longer bars than in\n{first}")
    assert grown.splitlines()[0].startswith("run ")  # the live header, not the final report yet
    final = pane.wait_for(lambda s: "EXIT=" in s, 60, "the producer to finish")
    assert "ran in parallel on 2 slots" in final and "EXIT=0" in final
    assert "efficiency" in final  # the usual report follows the live view
    everything = pane.capture(history=True)
    assert "timeline: one row per worker slot" in everything
    assert everything == pane.capture(history=True, joined=True)  # 80 columns: no line wrapped


def test_watch_shows_a_killed_workers_lane_dead_and_its_job_again_elsewhere(tmux, start_workers, redis_env):
    # a short visibility timeout, so the killed worker's job comes back in seconds, not 30 s
    workers = start_workers(2, env={"VISIBILITY_TIMEOUT": "4"})
    pane = tmux("watch", "--seconds", "30", env=redis_env)
    pane.wait_for(lambda s: len(bars(s, workers.names)) == 2, 20, "both workers' lanes in watch")
    producer = subprocess.Popen([sys.executable, "-m", "producer", "--jobs", "2", "--duration", "3", "--json",
                                 "--timeout", "60"], cwd=ROOT, env={**os.environ, **redis_env,
                                                                    "VISIBILITY_TIMEOUT": "4"},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pane.wait_for(lambda s: len(busy_lanes(s, workers.names)) == 2, 20, "a job on each lane")
        os.killpg(workers.procs[0].pid, signal.SIGKILL)  # the worker and its pool, at once
        victim = workers.names[0].partition("@")[0]
        dead = pane.wait_for(lambda s: re.search(rf"^{victim} dead .*✗", s, re.M), 20,
                             "the killed worker's lane marked dead, its job lost")
        again = pane.wait_for(lambda s: "↻" in s and "redelivered 1" in s, 40,
                              f"the job to come back on the other lane after\n{dead}")
        survivor = workers.names[1].partition("@")[0]
        assert re.search(rf"^{survivor} .*↻", again, re.M), again
        out, err = producer.communicate(timeout=60)
        assert producer.returncode == 0, err
    finally:
        if producer.poll() is None:
            producer.kill()
    pane.keys("C-c")
    final = pane.wait_for(lambda s: "EXIT=" in s, 10, "watch to exit on Ctrl-C")
    assert "EXIT=0" in final and "Traceback" not in final


def test_the_first_live_frame_has_a_lane_for_every_worker(tmux, start_workers, redis_env):
    workers = start_workers(4)
    pane = tmux("--jobs", "4", "--duration", "2", env=redis_env)
    first = pane.wait_for(lambda s: s.startswith("run "), 30, "the live view's first frame")
    assert len(bars(first, workers.names)) == 4, first  # before: 2 or 3 lanes, the others came later
    final = pane.wait_for(lambda s: "EXIT=" in s, 60, "the producer to finish")
    assert "EXIT=0" in final


def test_the_quiz_asks_in_80_columns_and_asks_again_after_a_wrong_word(tmux, start_workers, redis_env):
    start_workers(2)
    prompt = "your answer (parallel / not):"
    pane = tmux("quiz", "--ask", "--duration", "0.3", "--no-amdahl", env=redis_env)

    def asked(times: int) -> Callable[[str], bool]:  # the prompt shown `times` times, waiting on the last
        return lambda s: pane.capture(history=True).count(prompt) == times and s.rstrip().endswith(prompt)

    pane.wait_for(asked(1), 30, "the first question")
    pane.keys("maybe", "Enter")
    again = pane.wait_for(asked(2), 10, "the question asked again")
    assert "Traceback" not in again and "unexpected error" not in again
    for times, answer in enumerate(("not", "parallel", "not"), start=2):
        pane.wait_for(asked(times), 60, f"a question for {answer!r}")
        pane.keys(answer, "Enter")
    final = pane.wait_for(lambda s: "EXIT=" in s, 120, "the quiz to end")
    everything = pane.capture(history=True)
    assert "EXIT=0" in final and "you got 3 of 3 right" in everything, everything
    assert everything == pane.capture(history=True, joined=True)  # 80 columns: no line wrapped by tmux
