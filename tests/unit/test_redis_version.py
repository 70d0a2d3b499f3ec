"""Which redis-server the local cluster runs (devcluster.redis_server.choose), without running one."""

from __future__ import annotations

import pytest

from cluster.errors import RedisServerMissing
from devcluster.redis_server import MIN_REDIS, choose, parse_version


def test_the_version_is_read_from_what_redis_server_says():
    assert parse_version("Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64") == (7, 0, 15)
    assert parse_version("Redis server v=6.2.14 sha=1") == (6, 2, 14)
    assert parse_version("") is None and parse_version("v=seven") is None


def test_the_newest_good_one_wins_wherever_it_stands_on_path():
    # the redis-bin extra's 6.2 in an activated venv's bin/ stands before the system's 7.0
    assert choose({"/venv/bin/redis-server": (6, 2, 14), "/usr/bin/redis-server": (7, 0, 15)}) == \
        "/usr/bin/redis-server"
    assert choose({"/a/redis-server": (7, 0, 15), "/b/redis-server": (7, 0, 15)}) == "/a/redis-server"
    assert choose({"/old": (5, 0, 7), "/bundled": (6, 2, 14)}) == "/bundled"
    assert MIN_REDIS == (6, 2)


def test_none_good_enough_says_what_was_found_and_what_is_needed_in_one_line():
    with pytest.raises(RedisServerMissing) as caught:
        choose({"/usr/bin/redis-server": (6, 0, 16), "/opt/redis-server": None})
    message = str(caught.value)
    assert message.startswith("redis-server 6.0.16 (/usr/bin/redis-server), unknown version (/opt/redis-server) "
                              "is too old: the cluster needs Redis 6.2 or newer (BLMOVE); apt-get install")
    assert "\n" not in message and caught.value.exit_code == 3


def test_none_at_all_says_how_to_install_one():
    with pytest.raises(RedisServerMissing, match=r"^redis-server is not installed: apt-get install redis-server"):
        choose({})
