"""Median, spread and percentiles of repeated measurements (pure, unit-tested)."""

from __future__ import annotations

import math
import statistics
from typing import Any


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation, as numpy's default does."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def describe(values: list[float | None]) -> dict[str, Any]:
    """{median, min, max, n}: what a table cell shows for repeated runs; None (not measured) left out."""
    values = [v for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def cell(stats: dict[str, Any], fmt: str = "{:.3f}") -> str:
    """`median (min–max)` for a table."""
    if not stats.get("n"):
        return "n/a"
    if stats["n"] == 1:
        return fmt.format(stats["median"])
    return f"{fmt.format(stats['median'])} ({fmt.format(stats['min'])}–{fmt.format(stats['max'])})"


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """Where the median lies with at least `confidence`, from the values alone (no normal law assumed):
    the k-th smallest and the k-th largest value, k the largest with P(Binomial(n, 1/2) < k) ≤ (1 −
    confidence) / 2 (the sign test's interval). None when there are too few values for one: 6 at 95 %.

    9 values give the 2nd and the 8th (96 %); 5 values cannot bound a median at 95 %.
    """
    n, alpha = len(values), (1 - confidence) / 2
    k, below = 0, 0.0
    while k < n and (below := below + math.comb(n, k) / 2**n) <= alpha:
        k += 1
    if k == 0:
        return None
    ordered = sorted(values)
    return ordered[k - 1], ordered[n - k]


def paired(tops: list[float | None], bottoms: list[float | None]) -> dict[str, Any]:
    """The ratios of two series measured side by side, repetition by repetition (`tops[i] / bottoms[i]`,
    interleaved in the same minute): {median, min, max, n, interval (median_interval), ratios}. A pair
    with a side not measured (None: a batch with a failed job) or measured at 0 is left out.

    A drift of the machine over the run moves both sides of a pair alike, where the ratio of the
    two medians can put a fast hour's run against a slow hour's.
    """
    if len(tops) != len(bottoms):
        raise ValueError(f"unpaired series: {len(tops)} against {len(bottoms)} repetitions")
    ratios = [a / b for a, b in zip(tops, bottoms, strict=True) if a is not None and b]
    return {**describe(list(ratios)), "interval": median_interval(ratios), "ratios": ratios}
