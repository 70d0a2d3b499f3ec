"""tests/run_timeline.py reads TEST_TIMELINE's lines: files by time, idle processes, the compose chain."""

from __future__ import annotations

import json

from tests.run_timeline import main


def test_the_timeline_sums_files_and_processes_and_lists_the_compose_chain(tmp_path, capsys):
    lines = [
        {"test": "tests/e2e/test_a.py::one", "process": "gw0", "marks": ["docker"], "start": 100.0, "end": 160.0},
        {"test": "tests/e2e/test_a.py::two", "process": "gw0", "marks": ["docker", "alone"], "start": 160.0,
         "end": 200.0},
        {"test": "tests/unit/test_b.py::three", "process": "gw1", "marks": ["parametrize"], "start": 100.0,
         "end": 110.0},
        {"slot": "tests/e2e/test_a.py::two", "start": 101.0, "end": 199.0},
        {"compose": "up -d --wait", "project": "cpd-test-1", "start": 102.0, "end": 130.0},
        {"compose": "ps -q", "project": "cpd-test-1", "start": 131.0, "end": 131.5},
    ]
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    main(str(path))
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "run: 100 s, 3 tests"
    assert out[1:3] == ["  gw0: busy 100 s, idle 0 s", "  gw1: busy 10 s, idle 90 s"]
    assert out[4].split() == ["100", "2", "0", "gw0", "tests/e2e/test_a.py", "(alone,", "docker)"]
    assert out[5].split() == ["10", "1", "0", "gw1", "tests/unit/test_b.py", "()"]
    assert "compose slots held: 98 s in all" in out
    assert out[out.index("slowest compose commands:") + 1].split() == ["2", "+", "28", "s", "cpd-test-1:", "up", "-d",
                                                                       "--wait"]
