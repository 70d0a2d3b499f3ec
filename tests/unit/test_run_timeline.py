"""tests/run_timeline.py reads TEST_TIMELINE's lines: files by time, idle processes, the compose chain."""

from __future__ import annotations

import json
from types import SimpleNamespace

from tests.run_timeline import main
from tests.scheduling import longest_first


def test_the_timeline_sums_files_and_processes_and_lists_the_compose_chain(tmp_path, capsys):
    lines = [
        {"test": "tests/e2e/test_a.py::one", "process": "gw0", "marks": ["docker"], "start": 100.0, "end": 160.0},
        {"test": "tests/e2e/test_a.py::two", "process": "gw0", "marks": ["docker", "alone"], "start": 160.0,
         "end": 200.0},
        {"test": "tests/unit/test_b.py::three", "process": "gw1", "marks": ["parametrize"], "start": 100.0,
         "end": 110.0},
        {"slot": "tests/e2e/test_a.py::two", "start": 101.0, "end": 199.0},
        {"wait": "room", "test": "tests/e2e/test_a.py::two", "process": "gw0", "start": 160.0, "end": 172.5},
        {"wait": "slot", "test": "tests/e2e/test_a.py::one", "process": "gw0", "start": 100.0, "end": 101.0},
        {"compose": "up -d --wait", "project": "cpd-test-1", "start": 102.0, "end": 130.0},
        {"compose": "ps -q", "project": "cpd-test-1", "start": 131.0, "end": 131.5},
    ]
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    durations = tmp_path / "durations.json"
    main(str(path), str(durations))
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "run: 100 s, 3 tests, 14 s of them waiting (for the machine or a compose slot)"
    assert out[1:3] == ["  gw0: busy 100 s, idle 0 s", "  gw1: busy 10 s, idle 90 s"]
    assert out[4].split() == ["100", "14", "2", "0", "gw0", "tests/e2e/test_a.py", "(alone,", "docker)"]
    assert out[5].split() == ["10", "0", "1", "0", "gw1", "tests/unit/test_b.py", "()"]
    assert "compose slots held: 98 s in all" in out
    assert out[out.index("slowest compose commands:") + 1].split() == ["2", "+", "28", "s", "cpd-test-1:", "up", "-d",
                                                                       "--wait"]
    # each file's own time, its waits taken out: what tests/conftest.py orders the files by
    assert json.loads(durations.read_text()) == {"tests/e2e/test_a.py": 86, "tests/unit/test_b.py": 10}


def test_the_longest_files_start_first_and_each_keeps_its_tests_order():
    items = [SimpleNamespace(nodeid=n) for n in ("tests/unit/test_u.py::a", "tests/unit/test_u.py::b",
                                                 "tests/e2e/test_short.py::c", "tests/e2e/test_long.py::d",
                                                 "tests/e2e/test_long.py::e", "tests/unit/test_new.py::f")]
    seconds = {"tests/e2e/test_long.py": 200, "tests/e2e/test_short.py": 5}
    assert [item.nodeid.split("::")[1] for item in longest_first(items, seconds)] == ["d", "e", "c", "a", "b", "f"]
