"""The benchmark's clusters keep the contract `measure` relies on (benchmarks.clusters.Cluster)."""

from __future__ import annotations

import inspect
import shutil
from typing import Protocol

import pytest

from benchmarks.clusters import BareCluster, BenchLocalCluster, Cluster, ComposeCluster, Metered, ProjectCluster


def members(protocol: type) -> set[str]:
    """Every member a protocol declares, its bases' too (typing keeps this list private before 3.12)."""
    return {name for base in protocol.__mro__ if Protocol in base.__bases__ or base is protocol
            for name in [*vars(base), *getattr(base, "__annotations__", {})] if not name.startswith("_")}


@pytest.fixture
def clusters():
    """One of each, not started (nothing runs: a folder of its own each, removed after)."""
    compose, local = ComposeCluster(), BenchLocalCluster()
    yield {"compose": compose, "local": local, "bare": BareCluster(local), "guaranteed": BareCluster.guaranteed(local)}
    local.stop()
    shutil.rmtree(compose.compose_project.home, ignore_errors=True)


def test_the_protocols_say_what_measure_uses():
    assert members(Metered) == {"admin_url", "cpu_ns"}
    assert members(Cluster) - members(Metered) == {
        "name", "baseline", "workers", "broker_url", "result_backend", "start", "scale", "remove_workers", "stop",
        "app", "memory", "worker_cpu_ns", "engine_cpu_ns"}
    assert members(ProjectCluster) - members(Cluster) == {"producer"}


def test_every_cluster_has_every_member(clusters):
    for key, cluster in clusters.items():
        wanted = members(ProjectCluster if key in ("compose", "local") else Cluster)
        # looked up without running a property: the local cluster's need it started
        missing = {m for m in wanted if not _has(cluster, m)}
        assert missing == set(), key
        assert cluster.name == key and cluster.baseline == (key not in ("compose", "local"))


def _has(obj: object, name: str) -> bool:
    try:
        inspect.getattr_static(obj, name)
    except AttributeError:
        return False
    return True


def test_the_local_cluster_says_so_when_asked_for_before_it_started(clusters):
    with pytest.raises(RuntimeError, match="not started"):
        clusters["local"].started()
    with pytest.raises(RuntimeError, match="not started"):
        clusters["bare"].broker_url  # noqa: B018  (the property is the call under test)
