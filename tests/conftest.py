"""Shared test helpers: free ports, deadlines, and skips that CI turns into failures."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")

#: REQUIRE_ALL=1 (set by .ci/run): a missing tool fails the test instead of skipping it.
REQUIRE_ALL = os.environ.get("REQUIRE_ALL") == "1"


def skip_unless_required(reason: str) -> None:
    """Skip with a visible reason, or fail when REQUIRE_ALL=1 says every test must run."""
    if REQUIRE_ALL:
        pytest.fail(f"required but unavailable (REQUIRE_ALL=1): {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], T], timeout_s: float, what: str, interval_s: float = 0.1) -> T:
    """Poll `condition` until it returns something truthy, or fail after `timeout_s` saying `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}", pytrace=False)
        time.sleep(interval_s)


# The local cluster's fixtures, for the integration and fault tests (imported last: they use
# the helpers above).
from tests.local_cluster import (  # noqa: E402,F401
    persistent_redis,
    private_local_cluster_dir,
    recovery_service,
    redis_env,
    redis_server,
    start_workers,
)
