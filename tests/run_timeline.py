"""`python -m tests.run_timeline FILE [--durations OUT]`: where a suite run's time went, from
TEST_TIMELINE=FILE (tests/scheduling.py writes it: each test, wait, compose slot and command).

Per file: its time (setup and teardown included), how much of it was waiting for the machine
(a test marked `alone`) or a compose slot, its process and marks; per process: busy and idle;
the compose slots' time, held by one project after another: the chain that bounds the run from
below however many processes share the rest; and the slowest compose commands
(tests/compose_cluster.py).

`--durations OUT` writes each file's own time (its waits taken out) as JSON: tests/durations.json
is such a file, from which tests/conftest.py starts the longest files first.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def file_of(test: str) -> str:
    return test.split("::")[0]


def own_seconds(tests: list[dict], waits: list[dict]) -> dict[str, float]:
    """Each file's time less its tests' waits: what it takes with the machine and a slot free."""
    seconds: dict[str, float] = defaultdict(float)
    for test in tests:
        seconds[file_of(test["test"])] += test["end"] - test["start"]
    for wait in waits:
        seconds[file_of(wait["test"])] -= wait["end"] - wait["start"]
    return dict(seconds)


def main(path: str, durations: str | None = None) -> None:
    lines = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    waits = [t for t in lines if "wait" in t]
    tests, slots = [t for t in lines if "test" in t and "wait" not in t], [t for t in lines if "slot" in t]
    commands = [t for t in lines if "compose" in t]
    t0, t1 = min(t["start"] for t in tests), max(t["end"] for t in tests)
    files: dict[str, dict] = defaultdict(lambda: {"s": 0.0, "n": 0, "first": float("inf"), "marks": set()})
    busy: dict[str, float] = defaultdict(float)
    for test in tests:
        entry = files[file_of(test["test"])]
        entry["s"] += test["end"] - test["start"]
        entry["n"] += 1
        entry["first"] = min(entry["first"], test["start"] - t0)
        entry["process"] = test["process"]
        entry["marks"] |= set(test["marks"]) - {"parametrize", "usefixtures"}
        busy[test["process"]] += test["end"] - test["start"]
    waited: dict[str, float] = defaultdict(float)
    for wait in waits:
        waited[file_of(wait["test"])] += wait["end"] - wait["start"]
    print(f"run: {t1 - t0:.0f} s, {len(tests)} tests, {sum(waited.values()):.0f} s of them waiting "
          f"(for the machine or a compose slot)")
    for process, seconds in sorted(busy.items()):
        print(f"  {process}: busy {seconds:.0f} s, idle {t1 - t0 - seconds:.0f} s")
    print(f"{'seconds':>8} {'waited':>6} {'tests':>5} {'from':>6}  process  file (marks)")
    for name, entry in sorted(files.items(), key=lambda item: -item[1]["s"]):
        if entry["s"] >= 5:
            print(f"{entry['s']:8.0f} {waited[name]:6.0f} {entry['n']:5d} {entry['first']:6.0f}  {entry['process']:7}  "
                  f"{name} ({', '.join(sorted(entry['marks']))})")
    print(f"compose slots held: {sum(s['end'] - s['start'] for s in slots):.0f} s in all")
    for slot in sorted(slots, key=lambda s: s["start"]):
        print(f"  {slot['start'] - t0:6.0f} +{slot['end'] - slot['start']:4.0f} s  {slot['slot']}")
    print("slowest compose commands:")
    for command in sorted(commands, key=lambda c: c["start"] - c["end"])[:15]:
        print(f"  {command['start'] - t0:6.0f} +{command['end'] - command['start']:4.0f} s  {command['project']}: "
              f"{command['compose'][:90]}")
    if durations:  # a file under a second starts last anyway: left out
        own = {name: round(seconds) for name, seconds in sorted(own_seconds(tests, waits).items()) if seconds >= 1}
        Path(durations).write_text(json.dumps(own, indent=0) + "\n")
        print(f"each file's own seconds: {durations}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.run_timeline", description=__doc__.splitlines()[0])
    parser.add_argument("file", help="the TEST_TIMELINE file of a run")
    parser.add_argument("--durations", metavar="OUT", help="write each file's own seconds (JSON) to OUT")
    arguments = parser.parse_args()
    main(arguments.file, arguments.durations)
