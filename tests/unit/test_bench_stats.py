"""The benchmark's statistics."""

from __future__ import annotations

import math

import pytest

from benchmarks.clusters import parse_size
from benchmarks.stats import cell, describe, percentile


def test_percentile_interpolates_like_numpy():
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 50) == 2.5
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 4.0
    assert percentile(values, 99) == pytest.approx(3.97)
    assert math.isnan(percentile([], 50))


def test_describe_and_cell():
    stats = describe([3.0, 1.0, 2.0])
    assert stats == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert cell(stats, "{:.1f}") == "2.0 (1.0–3.0)"
    assert cell(describe([])) == "n/a"
    assert cell(describe([0.5])) == "0.500"


@pytest.mark.parametrize("text, expected", [("45.2MiB", int(45.2 * 2**20)), ("1.5GiB", int(1.5 * 2**30)),
                                            ("512KiB", 512 * 1024), ("0B", 0), ("12.3MB", 12_300_000)])
def test_docker_stats_sizes_parse(text, expected):
    assert parse_size(text) == expected


def test_describe_leaves_out_what_was_not_measured():
    assert describe([None, 2.0, None, 4.0]) == {"median": 3.0, "min": 2.0, "max": 4.0, "n": 2}
    assert describe([None])["n"] == 0
