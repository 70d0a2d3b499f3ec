"""The producer: submits task1/task2 jobs to the cluster, waits, and shows who ran what when.

As a library (a notebook, a script): ``from producer import run_jobs, compare, sweep, quiz``
(producer.api), imported lazily, so ``python -m producer`` still reports a bad setting in one line.
"""

from __future__ import annotations

import sys
import types
from typing import Any

__all__ = ["compare", "quiz", "run_jobs", "sweep"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from producer import api

        return getattr(api, name)
    raise AttributeError(f"module 'producer' has no attribute {name!r}")


class _Package(types.ModuleType):
    """This package, where the API's functions keep their names over the modules of the same name.

    Importing producer.compare, producer.sweep or producer.quiz would otherwise set
    `producer.compare` to the module (the import system does), and `from producer import
    compare` would hand a notebook a module instead of the function. The modules stay in
    sys.modules: `from producer.quiz import run_quiz` works as ever.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in __all__ and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
