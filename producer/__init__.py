"""The producer: submits task1/task2 jobs to the cluster, waits, and shows who ran what when.

As a library (a notebook, a script): ``from producer import run_jobs, compare, sweep, quiz``
(producer.api), imported lazily, so ``python -m producer`` still reports a bad setting in one line.
"""

from __future__ import annotations

from typing import Any

__all__ = ["compare", "quiz", "run_jobs", "sweep"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from producer import api

        return getattr(api, name)
    raise AttributeError(f"module 'producer' has no attribute {name!r}")
