"""Where a job runs: which pool, which slot in it, how many CPUs, which machine.

The producer needs these to count parallel slots honestly: jobs that overlap in one
process (threads, greenlets) are not parallel for the CPU, and containers of one machine
share its cores however many of them there are.
"""

from __future__ import annotations

import os
import threading
from functools import cache
from pathlib import Path

from celery.signals import worker_process_init

_in_prefork_child = False


@worker_process_init.connect(weak=False)
def _mark_prefork_child(**_: object) -> None:
    global _in_prefork_child
    _in_prefork_child = True


def _gevent_patched() -> bool:
    try:
        from gevent import monkey
    except ImportError:
        return False
    return bool(monkey.is_module_patched("socket"))


def pool_kind() -> str:
    """The pool this job runs in: prefork, gevent, threads or solo (see records.POOLS)."""
    if _in_prefork_child:
        return "prefork"
    if _gevent_patched():
        return "gevent"
    return "solo" if threading.current_thread() is threading.main_thread() else "threads"


def slot_id(pool: str) -> str:
    """An id for the slot this job occupies: the greenlet or thread inside its process."""
    if pool == "gevent":
        import gevent

        return f"g{id(gevent.getcurrent()):x}"
    if pool == "threads":
        return f"t{threading.get_native_id()}"
    return str(os.getpid())


def _cgroup_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs allowed by a cgroup quota (v2 cpu.max or v1 cfs_quota), None if unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota_us / period_us if quota_us > 0 else None
    except (OSError, ValueError):
        return None


@cache
def usable_cpus() -> float:
    """CPUs this process may run on: its affinity, capped by its container's CPU quota."""
    affinity = float(len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else float(os.cpu_count() or 1)
    quota = _cgroup_quota()
    return min(affinity, quota) if quota else affinity


@cache
def machine_id() -> str:
    """The kernel's boot id, shared by every container of one machine (so by its CPUs)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
    except OSError:
        import socket

        return socket.gethostname()
