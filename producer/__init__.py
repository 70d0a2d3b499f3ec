"""The producer: submits task1/task2 jobs to the cluster, waits, and shows who ran what when.

As a library (a notebook, a script): ``from producer import run_jobs, compare, sweep, quiz, watch``
(producer.api), imported lazily, so ``python -m producer`` still reports a bad setting in one line.
"""

from __future__ import annotations

from typing import Any

__all__ = ["compare", "quiz", "run_jobs", "sweep", "watch"]

#: The project's version, also where no package metadata is (the image copies the code, it does
#: not install it); tests/unit/test_cli.py checks it against pyproject.toml.
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in __all__:
        from producer import api

        return getattr(api, name)
    raise AttributeError(f"module 'producer' has no attribute {name!r}")
