"""settings.private_file: a secret's file is private from its first byte and replaced whole."""

from __future__ import annotations

import os
import stat

import pytest

from devcluster import redis_server
from devcluster.local_cluster import LocalCluster, ManagedProcess
from devcluster.redis_server import RedisProcess
from settings import roles
from settings.private_file import write_private

REAL_WRITE = os.write


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int]]:
    """(mode, uid, gid) of the file each os.write goes to, as it was when the bytes came."""
    seen: list[tuple[int, int, int]] = []

    def spy(fd: int, data: bytes) -> int:
        st = os.fstat(fd)
        seen.append((stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid))
        return REAL_WRITE(fd, data)

    monkeypatch.setattr(os, "write", spy)
    return seen


@pytest.fixture
def umask():
    """Set a umask for the test, and put the old one back."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask", [0o000, 0o077])
@pytest.mark.parametrize("mode", [0o600, 0o400, 0o444])
def test_the_mode_is_set_before_the_first_byte_whatever_the_umask(tmp_path, writes, umask, mode, mask):
    umask(mask)
    path = write_private(tmp_path / "secret", "s3cret", mode)
    assert writes and {w[0] for w in writes} == {mode}
    assert stat.S_IMODE(path.stat().st_mode) == mode and path.read_text() == "s3cret"
    assert [p.name for p in tmp_path.iterdir()] == ["secret"]  # no partial file left behind


def test_the_default_is_the_owners_alone(tmp_path):
    assert stat.S_IMODE(write_private(tmp_path / "s", "x").stat().st_mode) == 0o600


def test_the_file_is_replaced_whole_not_rewritten_in_place(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("old")
    path.chmod(0o644)
    with path.open() as reader:  # a reader of the old file keeps reading the old file
        write_private(path, "new")
        assert reader.read() == "old"
    assert path.read_text() == "new" and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_failed_write_leaves_the_old_file_and_no_partial_one(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    path.write_text("old")

    def full(fd: int, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError, match="No space"):
        write_private(path, "new")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["state.json"]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may give a file away (the secrets service runs as root)")
def test_the_owner_is_set_before_the_first_byte(tmp_path, writes):
    path = write_private(tmp_path / "redis_password", "pw", 0o400, (1234, 5678))
    assert writes and set(writes) == {(0o400, 1234, 5678)}
    assert (path.stat().st_uid, path.stat().st_gid) == (1234, 5678)


def test_the_local_clusters_secrets_are_private_even_over_an_old_file(tmp_path):
    cluster = LocalCluster(tmp_path, 6379, {"worker": "pw"}, ManagedProcess("redis", 1, None, tmp_path / "log"),
                           flower_password="fl")
    cluster.secrets_dir.mkdir()
    (cluster.secrets_dir / "redis-worker").write_text("older and longer")
    (cluster.secrets_dir / "redis-worker").chmod(0o644)
    cluster.write_secrets()
    for name, password in [("redis-worker", "pw"), ("flower", "fl")]:
        path = cluster.secrets_dir / name
        assert path.read_text() == password and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_redis_servers_users_file_is_private_even_over_an_old_one(tmp_path, monkeypatch, writes):
    monkeypatch.setattr(redis_server, "redis_version", lambda binary: (7, 2, 0))  # no redis-server is run
    server = RedisProcess(tmp_path, port=6379, passwords={role: "pw" for role in roles.ROLES}, binary="redis-server")
    server.acl_path.write_text("an older and longer file " * 100)
    server.acl_path.chmod(0o644)
    server.write_acl()
    assert server.acl_path.read_text() == roles.acl_file(server.passwords, "jobs", (7, 2, 0))
    assert stat.S_IMODE(server.acl_path.stat().st_mode) == 0o600 and writes and {m for m, *_ in writes} == {0o600}
