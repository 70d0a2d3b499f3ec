"""`python -m benchmarks.validate`: the model (benchmarks/model.py) against this machine confined to 1 and 2 cores.

The model's inputs are measured once, on the local cluster (workers, redis-server, Flower,
the producer) confined with `taskset` to the most cores asked for (2): a worker's own time
per no-op job (one worker alone), the CPU per no-op job of each component and the Redis
commands per job (4 workers), and what a batch pays once to fill and drain (4 x 0.1 s on
4). Then fresh clusters confined to 1 core and to 2 cores run each case (J jobs of d
seconds on W workers), interleaved over the repetitions, and every case's median wall is
compared with the model's prediction: the 1-core cases are predicted from the 2-core
costs, out of sample. Finally the same costs predict bigger
machines (`sizing`): predictions, not measurements. `python -m benchmarks --only model` runs
it too, after the local cluster's parts. Each confined cluster runs in a child process
(`--child`) started under `taskset`, so everything it starts inherits the confinement.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, replace
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from benchmarks.clusters import ROOT, BenchLocalCluster
from benchmarks.measures import QUEUE, batch, round_trips, throughput
from benchmarks.model import Costs, error, predict, sizing
from cluster.workers import consuming, online_workers
from producer.experiments.sweep import restore

err = Console(stderr=True)

#: (jobs, seconds each, workers): no-op throughput, the benchmark's three batches, two in between
CASES = ((1000, 0.0, 4), (256, 0.1, 32), (64, 0.25, 8), (8, 1.0, 4), (128, 0.05, 16), (400, 0.02, 8))
QUICK_CASES = ((40, 0.0, 2), (4, 0.2, 2), (8, 0.05, 2))
CALIBRATION_JOBS, QUICK_CALIBRATION_JOBS = 1000, 40
CORES = (1, 2)
#: the machines the published predictions are for, and the job lengths
SIZING_CORES = (8, 32, 96)
SIZING_SECONDS = (0.1, 1.0, 10.0)


def cpu_list(cores: int) -> str:
    """The first `cores` CPUs this process may use, as taskset's -c list."""
    allowed = sorted(os.sched_getaffinity(0))
    if cores > len(allowed):
        raise click.UsageError(f"{cores} cores asked, {len(allowed)} available")
    return ",".join(str(c) for c in allowed[:cores])


def calibrate(app: Any, names: list[str], cluster: BenchLocalCluster, jobs: int, repeat: int) -> dict[str, Any]:
    """The model's inputs, measured: medians of `repeat` runs of each."""
    alone = [throughput(app, names, 1, jobs)["jobs_per_s"] for _ in range(repeat)]
    costed = [throughput(app, names, min(4, len(names)), jobs, cluster) for _ in range(repeat)]
    trips = round_trips(app, names, 60)
    # fill and drain: one 0.1 s job on each of 4 workers takes 0.1 s + a cycle + what a batch pays once
    k = min(4, len(names))
    fills = [batch(app, names, k, k, 0.1)["wall_s"] for _ in range(repeat)]
    components = costed[0]["cpu_ms_per_job"]
    cycle_ms = 1e3 / statistics.median(alone)
    return {
        "cycle_ms": cycle_ms,
        "fill_drain_ms": max(0.0, 1e3 * statistics.median(fills) - 100 - cycle_ms),
        "cpu_ms": {c: statistics.median(r["cpu_ms_per_job"][c] for r in costed) for c in components},
        "redis_commands": statistics.median(sum(r["commands_per_job"].values()) for r in costed),
        "round_trip_p50_ms": 1e3 * statistics.median(trips),
        "alone_jobs_per_s": alone,
    }


def costs_of(calibration: dict[str, Any]) -> Costs:
    """The model's Costs from a calibration."""
    return Costs(cpu_ms={c: ms for c, ms in calibration["cpu_ms"].items() if ms > 0},
                 cycle_ms=calibration["cycle_ms"], latency_ms=calibration["fill_drain_ms"],
                 redis_commands=calibration["redis_commands"])


def child(cases: list[tuple[int, float, int]], repeat: int, calibration_jobs: int) -> dict[str, Any]:
    """In the confined child: start a local cluster, calibrate if asked, run every case `repeat` times."""
    cluster = BenchLocalCluster()
    try:
        cluster.start(max(w for *_, w in cases) if cases else 4)
        app = cluster.app()
        names = sorted(w.name for w in consuming(online_workers(app), QUEUE))
        out: dict[str, Any] = {"cpus": sorted(os.sched_getaffinity(0)), "walls": {}}
        if calibration_jobs:
            err.print(f"calibrating on {len(out['cpus'])} core(s)", style="dim")
            out["calibration"] = calibrate(app, names, cluster, calibration_jobs, repeat)
        for rep in range(1, repeat + 1):
            for jobs, duration, workers in (cases if rep % 2 else list(reversed(cases))):
                err.print(f"{len(out['cpus'])} core(s): {jobs} x {duration:g} s on {workers} ({rep}/{repeat})",
                          style="dim")
                sample = batch(app, names, workers, jobs, duration)
                if sample["failed"]:
                    raise RuntimeError(f"{sample['failed']} jobs failed in {jobs} x {duration:g} s on {workers}")
                out["walls"].setdefault(f"{jobs}x{duration:g}s/{workers}", []).append(sample["wall_s"])
        restore(app, QUEUE, names)
        app.close()
        return out
    finally:
        cluster.stop()


def run_confined(cores: int, cases: list[tuple[int, float, int]], repeat: int, calibration_jobs: int) -> dict:
    """`python -m benchmarks.validate --child` under `taskset -c <the first cores>`; what it measured."""
    argv = ["taskset", "-c", cpu_list(cores), sys.executable, "-m", "benchmarks.validate", "--child",
            "--repeat", str(repeat), "--calibration-jobs", str(calibration_jobs),
            *[arg for case in cases for arg in ("--case", ",".join(map(str, case)))]]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)  # stderr: its progress, shown
    try:
        out, _ = proc.communicate()
    except BaseException:
        proc.send_signal(signal.SIGTERM)  # it stops its cluster, as on Ctrl-C
        proc.wait(120)
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"the {cores}-core run exited with {proc.returncode}")
    return json.loads(out.splitlines()[-1])


def validate(cases: list[tuple[int, float, int]], repeat: int, calibration_jobs: int,
             cores: tuple[int, ...] = CORES) -> dict[str, Any]:
    """Measure on each core count, predict each case from the most cores' calibration, compare; size bigger machines."""
    cores = tuple(c for c in cores if c <= len(os.sched_getaffinity(0)))
    runs = {c: run_confined(c, cases, repeat, calibration_jobs if c == max(cores) else 0) for c in cores}
    calibration = runs[max(cores)]["calibration"]
    costs = costs_of(calibration)
    rows = []
    for c in cores:
        for jobs, duration, workers in cases:
            walls = runs[c]["walls"][f"{jobs}x{duration:g}s/{workers}"]
            measured = statistics.median(walls)
            p = predict(costs, jobs, duration, workers, c)
            rows.append({"cores": c, "jobs": jobs, "duration_s": duration, "workers": workers,
                         "measured_wall_s": measured, "measured_min_max_s": [min(walls), max(walls)],
                         "predicted_wall_s": p.wall_s, "error": error(p.wall_s, measured), "bound": p.bound,
                         "measured_efficiency": p.ideal_s / measured if duration else None,
                         "predicted_efficiency": p.efficiency})
    # one producer process and Flower (one process decoding every event) saturate first; with no Flower
    # and as many producers as needed, Redis or the cores do
    without = replace(costs, cpu_ms={c: ms for c, ms in costs.cpu_ms.items() if c != "flower"},
                      single_process=("redis",))
    predictions = [{**asdict(sizing(model, c, d)), "flower": model is costs}
                   for model in (costs, without) for c in SIZING_CORES for d in SIZING_SECONDS]
    return {"calibration": calibration, "costs": asdict(costs), "redis_us_per_command": costs.redis_us_per_command,
            "validation": rows, "predictions": predictions}


def show(result: dict[str, Any]) -> list[Table]:
    """The validation table and the predictions for bigger machines (labelled as predictions)."""
    costs = result["costs"]
    check = Table(title=f"model vs measured (costs from the {max(r['cores'] for r in result['validation'])}-core "
                        f"run: {sum(costs['cpu_ms'].values()):.2f} ms CPU/job, worker cycle "
                        f"{costs['cycle_ms']:.2f} ms, latency {costs['latency_ms']:.2f} ms)", title_justify="left")
    for col in ("cores", "case", "measured wall s", "predicted wall s", "error", "bound"):
        check.add_column(col, justify="right")
    for r in result["validation"]:
        check.add_row(str(r["cores"]), f"{r['jobs']} x {r['duration_s']:g} s on {r['workers']}",
                      f"{r['measured_wall_s']:.3f}", f"{r['predicted_wall_s']:.3f}", f"{100 * r['error']:+.1f} %",
                      r["bound"])
    sized = Table(title="PREDICTIONS for bigger machines (not measured): workers one Redis and C cores can feed",
                  title_justify="left")
    for col in ("Flower, producers", "cores", "job s", "workers fed", "jobs/s", "first limit",
                "workers one Redis could feed"):
        sized.add_column(col, justify="right")
    for s in result["predictions"]:
        sized.add_row("with, one" if s["flower"] else "without, many", f"{s['cores']:g}", f"{s['duration_s']:g}",
                      f"{s['workers']:,}", f"{s['jobs_per_s']:,.0f}", s["limit"], f"{s['redis_workers']:,}")
    return [check, sized]


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


@click.command()
@click.option("--quick", is_flag=True, help="Tiny cases: checks that everything runs.")
@click.option("--repeat", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Write the calibration, validation and predictions.")
@click.option("--child", "as_child", is_flag=True, hidden=True)
@click.option("--case", "cases", multiple=True, hidden=True)
@click.option("--calibration-jobs", type=int, default=0, hidden=True)
def main(quick: bool, repeat: int, out: str | None, as_child: bool, cases: tuple[str, ...],
         calibration_jobs: int) -> None:
    """Validate the model of bigger machines on this one, confined to 1 and 2 cores."""
    signal.signal(signal.SIGTERM, _interrupt)
    if as_child:
        parsed = [(int(j), float(d), int(w)) for j, d, w in (c.split(",") for c in cases)]
        print(json.dumps(child(parsed, repeat, calibration_jobs)), flush=True)
        return
    started = time.monotonic()
    try:
        result = validate(list(QUICK_CASES if quick else CASES), repeat,
                          QUICK_CALIBRATION_JOBS if quick else CALIBRATION_JOBS)
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001  (one line)
        err.print(f"validation failed: {type(exc).__name__}: {exc}", markup=False)
        sys.exit(1)
    for table in show(result):
        Console(width=max(Console().width, 120)).print(table)
    err.print(f"{time.monotonic() - started:.0f} s")
    if out:
        with open(out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
