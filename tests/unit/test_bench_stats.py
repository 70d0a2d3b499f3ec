"""The benchmark's statistics."""

from __future__ import annotations

import math

import pytest

from benchmarks.clusters import parse_size
from benchmarks.stats import cell, describe, median_interval, paired, percentile


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
    assert describe([None]) == describe([]) == {"median": None, "min": None, "max": None, "n": 0}


@pytest.mark.parametrize(("n", "k"), [(5, None), (6, 1), (8, 1), (9, 2), (12, 3), (14, 3), (20, 6)])
def test_the_median_interval_is_the_sign_tests(n, k):
    values = [float(v) for v in reversed(range(1, n + 1))]  # given in any order
    interval = median_interval(values)
    if k is None:
        assert interval is None
    else:
        assert interval == (float(k), float(n + 1 - k))
        # at least 95 %: the median falls outside only when k or more values lie on one side
        outside = 2 * sum(math.comb(n, j) for j in range(k)) / 2**n
        wider = 2 * sum(math.comb(n, j) for j in range(k + 1)) / 2**n
        assert outside <= 0.05 < wider


def test_the_median_interval_at_another_confidence():
    assert median_interval([float(v) for v in range(1, 6)], confidence=0.9) == (1.0, 5.0)
    assert median_interval([1.0, 2.0, 3.0, 4.0], confidence=0.9) is None
    # a tail exactly at the bound is within it: 5 values hold the median between their ends at 1 - 2/32
    assert median_interval([float(v) for v in range(1, 6)], confidence=1 - 2 / 32) == (1.0, 5.0)
    assert median_interval([]) is None


def test_paired_ratios_follow_the_repetitions_not_the_medians():
    # a machine that slows down, then speeds up: each pair near 0.9, the medians' ratio at 0.53
    tops = [90.0, 45.0, 180.0, 85.0, 170.0]
    bottoms = [100.0, 50.0, 200.0, 400.0, 190.0]
    result = paired(tops, bottoms)
    assert result["ratios"] == pytest.approx([0.9, 0.9, 0.9, 0.2125, 170 / 190])
    assert result["median"] == pytest.approx(0.9) and (result["min"], result["n"]) == (0.2125, 5)
    assert result["interval"] is None  # 5 pairs cannot bound a median at 95 %
    mixed = paired([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [2.0, 2.0, 2.0, 2.0, 2.0, 2.0])
    assert (mixed["median"], mixed["min"], mixed["max"], mixed["interval"]) == (1.75, 0.5, 3.0, (0.5, 3.0))


def test_paired_ratios_need_pairs():
    with pytest.raises(ValueError, match="unpaired series: 2 against 3"):
        paired([1.0, 2.0], [1.0, 2.0, 3.0])
    assert paired([1.0, 2.0], [0.0, 4.0])["ratios"] == [0.5]  # a side that measured nothing is left out
    assert paired([None, 2.0, 3.0], [1.0, 4.0, None])["ratios"] == [0.5]  # or that was not measured
