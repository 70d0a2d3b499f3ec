"""`python -m tests.run_timeline FILE`: where a suite run's time went, from TEST_TIMELINE=FILE (tests/conftest.py).

Per file: its time (setup and teardown included, waits for the machine or a compose slot too),
its process and marks; per process: busy and idle; the compose slots' time, held by one
project after another: the chain that bounds the run from below however many processes share the
rest; and the slowest compose commands (tests/compose_cluster.py).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path


def main(path: str) -> None:
    lines = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    tests, slots = [t for t in lines if "test" in t], [t for t in lines if "slot" in t]
    commands = [t for t in lines if "compose" in t]
    t0, t1 = min(t["start"] for t in tests), max(t["end"] for t in tests)
    files: dict[str, dict] = defaultdict(lambda: {"s": 0.0, "n": 0, "first": float("inf"), "marks": set()})
    busy: dict[str, float] = defaultdict(float)
    for test in tests:
        entry = files[test["test"].split("::")[0]]
        entry["s"] += test["end"] - test["start"]
        entry["n"] += 1
        entry["first"] = min(entry["first"], test["start"] - t0)
        entry["process"] = test["process"]
        entry["marks"] |= set(test["marks"]) - {"parametrize", "usefixtures"}
        busy[test["process"]] += test["end"] - test["start"]
    print(f"run: {t1 - t0:.0f} s, {len(tests)} tests")
    for process, seconds in sorted(busy.items()):
        print(f"  {process}: busy {seconds:.0f} s, idle {t1 - t0 - seconds:.0f} s")
    print(f"{'seconds':>8} {'tests':>5} {'from':>6}  process  file (marks)")
    for name, entry in sorted(files.items(), key=lambda item: -item[1]["s"]):
        if entry["s"] >= 5:
            print(f"{entry['s']:8.0f} {entry['n']:5d} {entry['first']:6.0f}  {entry['process']:7}  {name} "
                  f"({', '.join(sorted(entry['marks']))})")
    print(f"compose slots held: {sum(s['end'] - s['start'] for s in slots):.0f} s in all")
    for slot in sorted(slots, key=lambda s: s["start"]):
        print(f"  {slot['start'] - t0:6.0f} +{slot['end'] - slot['start']:4.0f} s  {slot['slot']}")
    print("slowest compose commands:")
    for command in sorted(commands, key=lambda c: c["start"] - c["end"])[:15]:
        print(f"  {command['start'] - t0:6.0f} +{command['end'] - command['start']:4.0f} s  {command['project']}: "
              f"{command['compose'][:90]}")


if __name__ == "__main__":
    main(sys.argv[1])
