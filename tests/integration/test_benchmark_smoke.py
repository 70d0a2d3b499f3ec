"""The benchmark runs end to end with tiny sizes on local processes and writes valid JSON (not timed),
and leaves no process of its own behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.helpers import ROOT, live_processes, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def marked() -> dict[str, str]:
    """A variable every process the benchmark starts inherits (Python keeps its environment), so
    what it left running is found, and nothing another test started beside it."""
    return {"CPD_TEST_MARK": uuid.uuid4().hex}


def command_line(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return f"(pid {proc.name}, gone meanwhile)"


def processes_marked(mark: dict[str, str]) -> list[str]:
    """The command lines of live processes whose environment carries `mark`."""
    needle = "{}={}".format(*next(iter(mark.items()))).encode()
    carries = lambda proc: needle in (proc / "environ").read_bytes().split(b"\0")  # noqa: E731
    return [command_line(proc) for proc in live_processes(carries)]


def test_a_process_left_behind_is_found_by_its_mark(marked):
    sleeper = subprocess.Popen(["sleep", "30"], env={**os.environ, **marked})
    try:
        # Popen returns once the child forked: until it execs, it is a copy of us, without the mark
        wait_for(lambda: processes_marked(marked), 5, "the sleeper to carry its mark")
        assert processes_marked(marked) == ["sleep 30 "]
        assert processes_marked({"CPD_TEST_MARK": "another"}) == []
    finally:
        sleeper.kill()
        sleeper.wait()
    assert processes_marked(marked) == []


def quick_local(tmp_path: Path, marked: dict[str, str], *parts: str, repeat: int = 1,
                load_repeat: int | None = None) -> tuple[dict, str]:
    """`python -m benchmarks --local --quick --repeat <repeat> --only <part>...` (once by default:
    medians of several are tests/unit/test_bench_stats.py's; each repetition here costs most of a
    minute of the suite); its JSON and stdout. Nothing of the benchmark's may be left running."""
    out = tmp_path / "bench.json"
    only = [arg for part in parts for arg in ("--only", part)]
    only += ["--load-repeat", str(load_repeat)] if load_repeat else []
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--local", "--quick", "--repeat", str(repeat), *only,
                           "--out", str(out)], cwd=ROOT, env={**os.environ, **marked}, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert processes_marked(marked) == []  # its workers, Flower, the view: nothing left anywhere
    return json.loads(out.read_text()), proc.stdout


# Three parts, three tests: none long enough to keep a test marked `alone` waiting for minutes.
def test_quick_local_benchmark_writes_every_figure(tmp_path, redis_server, marked):  # redis_server: skips without redis
    doc, stdout = quick_local(tmp_path, marked, "load", "idle", "cold", "view", load_repeat=2)
    figures = doc["figures"]["local"]
    assert figures["efficiency 4x0.2s/2"]["n"] == 2  # the load part's repetitions (--load-repeat)...
    assert figures["cold start s, 1 workers"]["n"] == figures["view on 2: CPU % of a core"]["n"] == 1  # ...the rest's
    assert 0 < figures["efficiency 4x0.2s/2"]["median"] <= 1.05
    assert figures["throughput jobs/s on 2"]["median"] > 0
    assert figures["round trip p50 ms"] > 0
    assert figures["memory MiB worker"]["n"] == 2  # both idle workers measured, once
    assert {"scaling efficiency sleep/1", "scaling efficiency cpu/2", "cold start s, 1 workers"} <= set(figures)
    # the smallest demo from Enter to its results, and the producer's start alone in it (issue #31)
    assert all(figures[f"Enter to exit s: producer {args}"]["median"] > 0  # (one sample each: either may be slower)
               for args in ("--version", "--jobs 2 --duration 0.1"))
    assert "Enter to exit s: producer --version" not in doc["figures"]["bare"]  # the baselines have no producer of ours
    assert doc["samples"]["local"]["efficiency"]["4x0.2s/2"][0]["failed"] == 0
    assert "benchmark (median" in stdout
    # bare Celery ran beside it, the same sizes, and every shared figure has its ratio
    bare, ratios = doc["figures"]["bare"], doc["ratios"]["local / bare"]
    assert bare["efficiency 4x0.2s/2"]["n"] == 2 and bare["throughput jobs/s on 2"]["median"] > 0
    assert bare["round trip p50 ms"] > 0 and doc["samples"]["bare"]["efficiency"]["4x0.2s/2"][0]["failed"] == 0
    assert ratios["throughput jobs/s on 2"] == pytest.approx(figures["throughput jobs/s on 2"]["median"]
                                                             / bare["throughput jobs/s on 2"]["median"])
    assert "local / bare" in stdout
    # Celery with the project's guarantees and nothing else (issue #24): its figures, and the same ratios as bare's
    guaranteed = doc["figures"]["guaranteed"]
    assert guaranteed["efficiency 4x0.2s/2"]["n"] == 2 and guaranteed["throughput jobs/s on 2"]["median"] > 0
    assert doc["samples"]["guaranteed"]["efficiency"]["4x0.2s/2"][0]["failed"] == 0
    with_flower = {key for key in guaranteed if "with Flower" in key}
    assert set(guaranteed) - with_flower == set(bare)  # the same figures, so the same ratios, unless a denominator is 0
    zero = {key for key, value in guaranteed.items()  # (2 idle workers may use no CPU tick in 2 s)
            if (value["median"] if isinstance(value, dict) else value) == 0}
    assert set(doc["ratios"]["local / guaranteed"]) >= set(ratios) - zero
    assert doc["ratios"]["guaranteed / bare"]["round trip p50 ms"] == pytest.approx(
        guaranteed["round trip p50 ms"] / bare["round trip p50 ms"])
    assert "local / guaranteed" in stdout
    # paired: each repetition's ratio, measured in the same minute, then their median (too few for an interval)
    tops, bottoms = (doc["samples"][name]["throughput"]["2"] for name in ("local", "guaranteed"))
    pair = doc["paired"]["local / guaranteed"]["throughput jobs/s on 2"]
    each = [a["jobs_per_s"] / b["jobs_per_s"] for a, b in zip(tops, bottoms, strict=True)]
    assert pair["ratios"] == pytest.approx(each)
    assert pair["n"] == 2 and pair["interval"] is None
    assert doc["paired"]["local / guaranteed"]["CPU ms per job on 2: worker"]["n"] == 2
    assert {"efficiency 4x0.2s/2", "throughput jobs/s on 2 with Flower"} <= set(doc["paired"]["local / guaranteed"])
    assert "paired ratios" in stdout and doc["machine"]["load_repeat"] == 2
    # its workers send task events (4 a job with task-sent), bare Celery's none: more PUBLISH per job
    published = {name: doc["samples"][name]["throughput"]["2"][0]["commands_per_job"].get("publish", 0)
                 for name in ("bare", "guaranteed")}
    assert published["guaranteed"] >= published["bare"] + 3
    # what each job cost: Redis commands (a no-op job needs at least its LPUSH and a fetch) and CPU per component
    assert figures["Redis commands per job on 2"]["median"] >= 2 and bare["Redis commands per job on 2"]["median"] >= 2
    sample = doc["samples"]["local"]["throughput"]["2"][0]
    assert {"lpush", "publish"} <= set(sample["commands_per_job"])
    assert set(sample["cpu_ms_per_job"]) == {"producer", "worker", "redis", "flower"}
    assert sample["cpu_ms_per_job"]["flower"] == 0 and "memory MiB flower" not in figures  # no Flower beside it...
    # ...but for the with-Flower throughput (issue #32): the local cluster and guaranteed Celery, each its own Flower
    for name in ("local", "guaranteed"):
        with_flower = doc["samples"][name]["throughput"]["2 with Flower"][0]
        assert with_flower["jobs_per_s"] > 0 and with_flower["cpu_ms_per_job"]["flower"] > 0  # it decoded their events
    assert "throughput jobs/s on 2 with Flower" in doc["ratios"]["local / guaranteed"]
    assert "throughput jobs/s on 2 with Flower" not in bare  # bare Celery sends no task events for a Flower to show
    # the live view under load (issue #12): watch's code drew every repetition, with plausible figures
    view = {key.removeprefix("view on 2: "): value["median"] for key, value in figures.items()
            if key.startswith("view on 2: ")}
    assert all(figures[f"view on 2: {name}"]["n"] == 1 for name in view)
    for clock in ("received", "sent"):
        p50, p99, worst = (view[f"lag {stat} ms, {clock} → drawn"] for stat in ("p50", "p99", "max"))
        assert 0 < p50 <= p99 <= worst < 30_000  # at least one frame interval apart, never the whole run
    assert 0 < view["CPU % of a core"] < 200 and 0 < view["frame p50 ms"] <= view["frame p99 ms"] < 5_000
    assert 0 < view["frames/s"] <= 4.5  # rich's Live at 4 refreshes a second
    assert view["jobs/s"] > 0 and view["events/s"] > view["jobs/s"]  # several events per job
    assert 0 < view["first bar ms, started → drawn"] < 30_000  # the first job's bar, from its start (issue #31)
    for sample in doc["samples"]["local"]["view"]["2"]:
        assert sample["failed"] == 0 and sample["events"] >= 3 * 200  # received, started, succeeded at least
    assert not any(key.startswith("view on") for key in bare | guaranteed)  # the view draws the project's cluster
    assert "view on 2: lag max ms" in stdout
    # the notebook's watch() cell under the same load (issue #34): its own frames, figures and budget
    notebook = {key.removeprefix("view on 2 notebook: "): value["median"] for key, value in figures.items()
                if key.startswith("view on 2 notebook: ")}
    assert notebook.keys() == view.keys()
    assert 0 < notebook["CPU % of a core"] < 200 and 0 < notebook["frames/s"] <= 4.5
    assert 0 < notebook["lag p99 ms, received → drawn"] < 30_000
    assert doc["samples"]["local"]["view"]["2 notebook"][0]["events"] >= 3 * 200


def test_quick_local_price_list_measures_every_row(tmp_path, redis_server, marked):
    doc, stdout = quick_local(tmp_path, marked, "price")  # every row once
    # the price list (issue #24 part 2): every row measured, one more guarantee each, in the list's order
    rows = doc["price"]["rows"]
    assert [r["row"].split(" (")[0] for r in rows][:2] == ["Celery's defaults", "+ prefetch 1"]
    assert len(rows) == 8 and all(r["jobs/s"]["median"] > 0 and r["efficiency"]["n"] == 1 for r in rows)
    assert all(r["round trip p50 ms"] > 0 and r["Redis commands per job"]["median"] >= 2 for r in rows)
    published = [doc["price"]["samples"][r["row"]]["throughput"][0]["commands_per_job"].get("publish", 0)
                 for r in rows]
    assert published[3] >= published[2] + 2.5  # task events: received, started, succeeded
    assert "recovery" in doc["price"]["samples"][rows[6]["row"]]["throughput"][0]["cpu_ms_per_job"]  # counted
    assert "the price list" in stdout


def test_quick_local_model_is_checked_on_one_and_two_cores(tmp_path, redis_server, marked):
    doc, stdout = quick_local(tmp_path, marked, "model")
    # the model checked on 1 and 2 cores (issue #24 part 5): every case predicted and measured, bigger machines sized
    model = doc["model"]
    assert {r["cores"] for r in model["validation"]} == {1, 2} and len(model["validation"]) >= 6
    assert all(r["measured_wall_s"] > 0 and r["predicted_wall_s"] > 0 for r in model["validation"])
    assert {(s["cores"], s["duration_s"]) for s in model["predictions"]} == {
        (c, d) for c in (8, 32, 96) for d in (0.1, 1.0, 10.0)}
    assert "PREDICTIONS for bigger machines" in stdout


def test_worker_profile_puts_the_samples_of_both_processes_in_categories(tmp_path, redis_server, marked):
    """`python -m benchmarks.profile_worker` under py-spy: both processes sampled, the job's own
    categories found in them, nothing left running."""
    raw = tmp_path / "worker.raw"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.profile_worker", "--jobs", "300", "--repeat", "1",
                           "--raw", str(raw)],
                          cwd=ROOT, env={**os.environ, **marked}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("300 no-op jobs on one worker, 1 run(s):")
    rows = {line[14:]: float(line[6:12].rstrip("%")) for line in lines[1:]}
    assert rows["task events: task-received, -started, -succeeded (a PUBLISH each)"] > 0
    assert rows["the run's finish and the result, one Lua step (runs:<id>, its result)"] > 0
    for process in ("main", "pool"):
        shares = [float(line[6:12].rstrip("%")) for line in lines[1:] if line.startswith(process)]
        assert sum(shares) == pytest.approx(100, abs=0.5)  # each process's shares add up
    assert raw.stat().st_size > 0
    assert processes_marked(marked) == []
