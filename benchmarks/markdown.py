"""`python -m benchmarks.markdown FILE.json`: docs/performance.md's price list and model tables from one run."""

from __future__ import annotations

import json
import sys
from typing import Any


def _num(value: Any, fmt: str) -> str:
    number = value.get("median") if isinstance(value, dict) else value
    return "–" if number is None else fmt.format(number)


def price_table(rows: list[dict[str, Any]], case: str) -> list[str]:
    """The price list: each row adds one thing to the row above."""
    out = ["| row | no-op jobs/s (2 workers) | round trip p50 ms | CPU ms per job | Redis commands per job "
           f"| efficiency {case} | recovery service % of a core |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        recovery = _num(r.get("recovery service % of a core"), "{:.1f}") if "recovery service % of a core" in r else ""
        out.append(f"| {r['row']} | {_num(r['jobs/s'], '{:,.0f}')} | {_num(r['round trip p50 ms'], '{:.2f}')} "
                   f"| {_num(r['CPU ms per job'], '{:.2f}')} | {_num(r['Redis commands per job'], '{:.1f}')} "
                   f"| {_num(r['efficiency'], '{:.3f}')} | {recovery} |")
    return out


def model_tables(model: dict[str, Any]) -> list[str]:
    """The model against measurements on 1 and 2 cores, then its predictions (labelled so)."""
    out = ["| cores | case | measured wall s | predicted wall s | error | bound |", "|---|---|---|---|---|---|"]
    for r in model["validation"]:
        out.append(f"| {r['cores']} | {r['jobs']} × {r['duration_s']:g} s on {r['workers']} "
                   f"| {r['measured_wall_s']:.3f} | {r['predicted_wall_s']:.3f} | {100 * r['error']:+.1f} % "
                   f"| {r['bound']} |")
    out += ["", "**Predictions, not measurements:**", "",
            "| Flower, producers | cores | job length | workers fed | jobs/s | first limit "
            "| workers one Redis could feed |",
            "|---|---|---|---|---|---|---|"]
    for s in model["predictions"]:
        flower = "with, one" if s["flower"] else "without, many"
        out.append(f"| {flower} | {s['cores']:g} | {s['duration_s']:g} s | {s['workers']:,} "
                   f"| {s['jobs_per_s']:,.0f} | {s['limit']} | {s['redis_workers']:,} |")
    return out


def main(argv: list[str]) -> int:
    with open(argv[0]) as f:
        doc = json.load(f)
    if "price" in doc:
        print("\n".join(price_table(doc["price"]["rows"], doc["price"].get("case", "")) + [""]))
    if "model" in doc:
        print("\n".join(model_tables(doc["model"])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
