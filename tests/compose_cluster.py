"""A whole compose cluster for a test, under a project name of its own, always taken down with `down -v`.

A thin pytest wrapper over devcluster.compose.ComposeProject (the benchmark's launcher too):
a missing Docker skips (fails under REQUIRE_ALL=1), a failed command or teardown fails the test.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from devcluster.compose import ComposeProject, docker_ready
from settings import roles
from tests.helpers import Finished, skip_unless_required
from tests.scheduling import compose_slot, on_timeline, shared_outside_tests

__all__ = ["Compose", "compose_project", "docker_ready"]


class Compose(ComposeProject):
    """A ComposeProject whose commands fail the test, with what the tests ask of it besides."""

    def __call__(self, *args: str, timeout_s: float = 300, check: bool = True,  # type: ignore[override]
                 env: dict[str, str] | None = None) -> Finished:
        with shared_outside_tests(), on_timeline(compose=" ".join(args), project=self.project):
            proc = self.run(*args, timeout_s=timeout_s, env=env)
        if check and proc.returncode != 0:
            pytest.fail(f"docker compose {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}",
                        pytrace=False)
        return Finished(proc.returncode, proc.stdout, proc.stderr)

    def producer(self, *args: str, timeout_s: float = 120) -> Finished:
        return self("run", "--rm", "-T", "producer", *args, timeout_s=timeout_s, check=False)

    @property
    def host_env(self) -> dict[str, str]:
        """What a user's shell needs for the host's producer: the port, and where the owner's passwords are
        (a user's clone has them in secrets.local, where the producer looks by itself)."""
        return {"BROKER_URL": "", "RESULT_BACKEND": "", "REDIS_HOST": "", "REDIS_USER": "", "REDIS_PASSWORD": "",
                "REDIS_PASSWORD_FILE": "", "REDIS_PORT": self.env["REDIS_PORT"], "SECRETS_DIR": self.env["SECRETS_DIR"],
                "FLOWER_PORT": self.env["FLOWER_PORT"], "FLOWER_USER": self.env["FLOWER_USER"]}

    @property
    def flower_login(self) -> tuple[str, str]:
        return self.env["FLOWER_USER"], self.secret(roles.FLOWER)

    def flower(self, path: str, login: tuple[str, str] | None = None) -> tuple[int, Any]:
        """GET Flower's `path` on the host port, with basic auth when `login` is given: (status, JSON)."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.env['FLOWER_PORT']}{path}")
        if login:
            request.add_header("Authorization", "Basic " + base64.b64encode(":".join(login).encode()).decode())
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, None


@contextmanager
def compose_project(**env: str) -> Iterator[Compose]:
    """A compose project of its own (free host ports, own volumes, its own passwords, made by its
    first `up` in a folder of its own), removed with `down -v` even when a test fails. `env`
    overrides any variable of .env.example."""
    reason = docker_ready()
    if reason:
        skip_unless_required(f"Docker tests need an engine: {reason}")
    with compose_slot():
        cluster = Compose.new("cpd-test", **{"FLOWER_USER": "tester", "WORKERS": "2", **env})
        try:
            yield cluster
        finally:
            logs = cluster("logs", "--no-color", "--tail", "50", check=False, timeout_s=60)
            problems = cluster.down(grace_s=10, timeout_s=180)
            if problems:
                print(logs.stdout[-5000:])
                pytest.fail("; ".join(problems), pytrace=False)
