"""CPU-bound work for `kind="cpu"` jobs: pure-Python arithmetic that holds the GIL.

A job burns until its own thread has used `seconds` of CPU time, so every cpu job does the
same amount of work wherever it runs: two such jobs in two processes on two cores take
`seconds` each; on two threads of one process they take turns on the GIL (a thread waiting
for it uses no CPU) and need about twice as long, which is the point the course page makes.

Why not a loop calibrated once per process: measured, calibrations in different processes
differed by 10-40 %, enough to make threads look faster than a single process.
"""

from __future__ import annotations

import time

_ROUND = 10_000  # additions between two looks at the clock (~0.5 ms)


def burn_cpu(seconds: float) -> int:
    """Spend `seconds` of this thread's CPU time on arithmetic; returns the (useless) sum."""
    end = time.thread_time() + seconds
    total = 0
    while time.thread_time() < end:
        for i in range(_ROUND):
            total += i * i % 7
    return total
