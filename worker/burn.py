"""CPU-bound work for `kind="cpu"` jobs: pure-Python arithmetic that holds the GIL.

The loop is calibrated once per process (how many rounds make a second of this core's
CPU time), so every cpu job does the same amount of work for a given duration. Two such
jobs on two processes take `duration` each; on two threads of one process they take turns
on the GIL and need about twice as long: the point the course page makes.
"""

from __future__ import annotations

import time

_ROUND = 10_000  # additions per round: short enough to calibrate finely
_rounds_per_second: float | None = None


def _spin(rounds: int) -> int:
    total = 0
    for _ in range(rounds):
        for i in range(_ROUND):
            total += i * i % 7
    return total


def rounds_per_second() -> float:
    """Rounds of `_spin` per second of this thread's CPU time, measured on first use."""
    global _rounds_per_second
    if _rounds_per_second is None:
        rounds, start = 0, time.thread_time()
        while (spent := time.thread_time() - start) < 0.2:
            _spin(5)
            rounds += 5
        _rounds_per_second = rounds / spent
    return _rounds_per_second


def burn_cpu(seconds: float) -> None:
    """Do about `seconds` of CPU work (as measured on an idle core when calibrated)."""
    _spin(round(seconds * rounds_per_second()))
