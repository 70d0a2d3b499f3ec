"""`python -m benchmarks [--local | --both] [--quick] [--out FILE.json]`

Starts its own cluster (a compose project with a unique name, or local processes), measures,
prints a table against the goals, writes JSON, and removes everything it started, also on
Ctrl-C. Every figure is the median (and min–max) of `--repeat` repetitions, interleaved (the
load part's: `--load-repeat`).
Beside the local cluster run two baselines on the same redis-server (`--no-bare` leaves them
out): bare Celery with its defaults, and Celery with the project's guarantees and nothing else
of the project, so each figure has its ratios: compose / local, local / bare, local /
guaranteed (the project's own cost), guaranteed / bare (the guarantees' cost). The local
cluster runs without Flower, as guaranteed Celery does; for the with-Flower throughput each of
the two gets a Flower of its own for that measure (`throughput jobs/s on 2 with Flower`: the
cluster as users run it, against the same Flower). Compose runs Flower always. The figures
measured once a repetition have paired ratios too: the ratio of each repetition's pair,
measured in the same minute, then their median, with the interval that holds the median at
95 % (`benchmarks.stats.paired`): a 5 % gap told from this machine's noise, or not.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import celery
import click
from celery import Celery
from rich.console import Console
from rich.table import Table

from benchmarks import price, validate
from benchmarks.clusters import (
    BareCluster,
    BenchLocalCluster,
    Cluster,
    ComposeCluster,
    ProjectCluster,
    flower_on_demand,
)
from benchmarks.measures import (
    FIRST_RESULT_ARGS,
    QUEUE,
    batch,
    cold_start,
    first_result,
    idle_cpu,
    round_trips,
    throughput,
    view_under_load,
)
from benchmarks.stats import cell, describe, paired, percentile
from benchmarks.view import NOTEBOOK, TERMINAL
from cluster.errors import Interrupted
from cluster.workers import consuming, online_workers
from producer.experiments.sweep import restore

err = Console(stderr=True)

#: The with-Flower figures' suffix: `throughput jobs/s on 2 with Flower` (issue #32: the local cluster
#: and guaranteed Celery, each with a Flower of its own started for it).
WITH_FLOWER = "with Flower"


@dataclass(frozen=True)
class Sizes:
    """How much work each figure does."""

    efficiency: tuple[tuple[int, float, int], ...]  # (jobs, duration, workers)
    round_trips: int
    throughput_jobs: int
    throughput_workers: tuple[int, ...]
    cold_starts: tuple[int, ...]
    idle_seconds: float
    scaling: tuple[int, ...]
    scaling_sleep: tuple[int, float]
    scaling_cpu: tuple[int, float]
    view_jobs: int  # no-op jobs at full rate while the live view draws (issue #12)
    view_workers: int
    flower_workers: int = 2  # the with-Flower throughput's workers (issue #32)
    max_workers: int = field(init=False)

    def __post_init__(self) -> None:
        most = max([w for *_, w in self.efficiency] + list(self.throughput_workers) + list(self.scaling)
                   + [self.view_workers])
        object.__setattr__(self, "max_workers", most)


FULL = Sizes(efficiency=((8, 1.0, 4), (64, 0.25, 8), (256, 0.1, 32)), round_trips=300, throughput_jobs=2000,
             throughput_workers=(2, 4), cold_starts=(1, 4, 16), idle_seconds=60, scaling=(1, 2, 4, 8, 16, 32),
             scaling_sleep=(64, 0.25), scaling_cpu=(32, 0.1), view_jobs=2000, view_workers=32)
QUICK = Sizes(efficiency=((4, 0.2, 2),), round_trips=10, throughput_jobs=40, throughput_workers=(1, 2),
              cold_starts=(1,), idle_seconds=2, scaling=(1, 2), scaling_sleep=(4, 0.1), scaling_cpu=(2, 0.05),
              view_jobs=200, view_workers=2)


#: jobs (efficiency, throughput, latency, scaling); idle cost; cold start; the live view under load;
#: the price list of the guarantees (benchmarks/price.py); the model checked on 1 and 2 cores (benchmarks/validate.py)
PARTS = ("load", "idle", "cold", "view", "price", "model")
#: the parts `measure` runs on the clusters started for a group; price and model start their own (local only)
CLUSTER_PARTS = ("load", "idle", "cold", "view")


def measure(clusters: list[Cluster], sizes: Sizes, repeat: int, parts: tuple[str, ...] = PARTS,
            load_repeat: int | None = None) -> dict[str, Any]:
    """The figures of `parts` on each cluster, started here (stopped by the caller), every case interleaved;
    the load part `load_repeat` times (default: `repeat`).

    Each case runs on every cluster in turn, the order reversed every other repetition, so
    a slow spell of the machine falls on all. The baselines (`BareCluster`: bare and
    guaranteed Celery) run the load and idle parts only: their start-up is not the
    project's to improve, and the view draws the project's cluster.
    """
    def step(cluster: Cluster, text: str) -> None:
        err.print(f"[{cluster.name}] {text}", style="dim", highlight=False, markup=False)

    apps: dict[str, Celery] = {}
    names: dict[str, list[str]] = {}
    raw: dict[str, dict[str, Any]] = {}
    for cluster in clusters:
        step(cluster, f"starting {sizes.max_workers} workers")
        started = time.monotonic()
        cluster.start(sizes.max_workers)
        apps[cluster.name] = app = cluster.app()
        names[cluster.name] = sorted(w.name for w in consuming(online_workers(app), QUEUE))
        step(cluster, f"{len(names[cluster.name])} workers up in {time.monotonic() - started:.1f} s")
        raw[cluster.name] = {"efficiency": {}, "throughput": {}, "scaling": {}, "round_trip_s": [], "cold_start_s": {},
                             "view": {}}

    def each(rep: int) -> list[Cluster]:
        return clusters if rep % 2 else list(reversed(clusters))

    loads = load_repeat or repeat
    for rep in range(1, loads + 1 if "load" in parts else 1):
        for jobs, duration, k in sizes.efficiency:
            for c in each(rep):
                step(c, f"efficiency {jobs} x {duration:g} s on {k} workers ({rep}/{loads})")
                sample = batch(apps[c.name], names[c.name], k, jobs, duration)
                raw[c.name]["efficiency"].setdefault(f"{jobs}x{duration:g}s/{k}", []).append(sample)
        for k in sizes.throughput_workers:
            for c in each(rep):
                step(c, f"throughput {sizes.throughput_jobs} no-op jobs on {k} workers ({rep}/{loads})")
                sample = throughput(apps[c.name], names[c.name], k, sizes.throughput_jobs, c)
                raw[c.name]["throughput"].setdefault(str(k), []).append(sample)
        for k in (sizes.flower_workers,):  # the cluster as users run it, against the same Flower
            for c in each(rep):
                if (toggled := flower_on_demand(c)) is None:
                    continue
                step(c, f"throughput {sizes.throughput_jobs} no-op jobs on {k} workers with Flower ({rep}/{loads})")
                toggled.start_flower()
                try:
                    sample = throughput(apps[c.name], names[c.name], k, sizes.throughput_jobs, c)
                finally:
                    toggled.stop_flower()
                raw[c.name]["throughput"].setdefault(f"{k} {WITH_FLOWER}", []).append(sample)
        for c in each(rep):
            step(c, f"round trips ({rep}/{loads})")
            raw[c.name]["round_trip_s"] += round_trips(apps[c.name], names[c.name], max(1, sizes.round_trips // loads))
        for c in clusters:
            if c.baseline:
                continue
            for kind, (jobs, duration) in (("sleep", sizes.scaling_sleep), ("cpu", sizes.scaling_cpu)):
                for k in sizes.scaling:
                    step(c, f"scaling: {jobs} x {duration:g} s {kind} on {k} workers ({rep}/{loads})")
                    sample = batch(apps[c.name], names[c.name], k, jobs, duration, kind)
                    raw[c.name]["scaling"].setdefault(f"{kind}/{k}", []).append(sample)
    for rep in range(1, repeat + 1 if "view" in parts else 1):
        for c in each(rep):
            if c.baseline:
                continue
            k = sizes.view_workers
            for renderer in (TERMINAL, NOTEBOOK):  # the terminal's watch, and the notebook's (issue #34)
                step(c, f"live view ({renderer}): {sizes.view_jobs} no-op jobs on {k} workers ({rep}/{repeat})")
                sample = view_under_load(apps[c.name], names[c.name], k, sizes.view_jobs, c, renderer)
                key = str(k) if renderer == TERMINAL else f"{k} {NOTEBOOK}"
                raw[c.name]["view"].setdefault(key, []).append(sample)
    for c in clusters:
        restore(apps[c.name], QUEUE, names[c.name])
    if "idle" in parts:
        time.sleep(2)  # let the last jobs' work settle before measuring idle
        for c in clusters:
            raw[c.name]["memory_bytes"] = c.memory()
            step(c, f"idle CPU of {c.workers} workers for {sizes.idle_seconds:g} s")
            raw[c.name]["idle_cpu"] = idle_cpu(c, sizes.idle_seconds)
    for c in clusters:
        for rep in range(1, repeat + 1 if "cold" in parts and not c.baseline else 1):
            step(c, f"Enter to exit: producer {' '.join(FIRST_RESULT_ARGS)}, and --version ({rep}/{repeat})")
            raw[c.name].setdefault("first", []).append(first_result(cast(ProjectCluster, c)))  # not a baseline
        for rep in range(1, repeat + 1 if "cold" in parts and not c.baseline else 1):
            for n in sizes.cold_starts:
                step(c, f"cold start of {n} workers ({rep}/{repeat})")
                raw[c.name]["cold_start_s"].setdefault(str(n), []).append(cold_start(c, apps[c.name], n))
    for app in apps.values():
        app.close()
    return raw


def figures(raw: dict[str, Any]) -> dict[str, Any]:
    """The summary figures (median, min, max) from the raw samples."""
    out: dict[str, Any] = {}
    for case, runs in raw["efficiency"].items():
        delays = [d for run in runs for d in run["dispatch_s"]]
        out[f"efficiency {case}"] = describe([r["efficiency"] for r in runs])
        out[f"wall_s {case}"] = describe([r["wall_s"] for r in runs])
        if delays:  # from the result records: bare Celery's tasks return none
            out[f"dispatch p50 ms {case}"] = describe([percentile(r["dispatch_s"], 50) * 1e3 for r in runs])
            out[f"dispatch p99 ms {case}"] = describe([percentile(r["dispatch_s"], 99) * 1e3 for r in runs])
            out[f"queue wait mean s {case}"] = describe([r["queue_wait_mean_s"] for r in runs])
            out[f"run mean s {case}"] = describe([r["run_mean_s"] for r in runs])
            out[f"dispatch all p50 ms {case}"] = percentile(delays, 50) * 1e3
        jobs = int(case.split("x", 1)[0])
        out[f"submitted/s {case}"] = describe([jobs / r["submit_s"] for r in runs if r["submit_s"] > 0])
    if trips := raw["round_trip_s"]:
        out["round trip p50 ms"] = percentile(trips, 50) * 1e3
        out["round trip p99 ms"] = percentile(trips, 99) * 1e3
    for k, runs in raw["throughput"].items():
        out[f"throughput jobs/s on {k}"] = describe([r["jobs_per_s"] for r in runs])
        out[f"submitted/s on {k}"] = describe([r["submitted_per_s"] for r in runs])
        costed = [r for r in runs if "commands_per_job" in r]
        if costed:
            out[f"Redis commands per job on {k}"] = describe([sum(r["commands_per_job"].values()) for r in costed])
            for component in costed[0]["cpu_ms_per_job"]:
                out[f"CPU ms per job on {k}: {component}"] = describe([r["cpu_ms_per_job"][component]
                                                                        for r in costed])
    for key, runs in raw["scaling"].items():
        out[f"scaling efficiency {key}"] = describe([r["efficiency"] for r in runs])
    mem = raw.get("memory_bytes", {})
    for service in ("worker", "redis", "flower"):
        if mem.get(service):
            out[f"memory MiB {service}"] = describe([b / 2**20 for b in mem[service]])
    if idle := raw.get("idle_cpu"):
        out[f"idle CPU % core, {idle['workers']} workers"] = round(100 * idle["workers_core_share"], 2)
        out[f"engine CPU % core, {idle['workers']} workers"] = round(100 * idle["engine_core_share"], 2)
    for n, times in raw["cold_start_s"].items():
        out[f"cold start s, {n} workers"] = describe(times)
    if first := raw.get("first"):
        out[FIRST_RESULT] = describe([f["demo_s"] for f in first])
        out["Enter to exit s: producer --version"] = describe([f["start_s"] for f in first])
    for k, runs in raw.get("view", {}).items():
        for clock in ("received", "sent"):
            for stat in ("p50", "p99", "max"):
                out[view_key(k, f"lag {stat} ms, {clock} → drawn")] = describe([r[f"lag_{clock}_ms"][stat]
                                                                                 for r in runs])
        out[view_key(k, "event delivery p99 ms, sent → received")] = describe([r["delivery_ms"]["p99"]
                                                                                  for r in runs])
        out[view_key(k, "CPU % of a core")] = describe([100 * r["cpu_core_share"] for r in runs])
        out[view_key(k, "frame p50 ms")] = describe([r["frame_ms"]["p50"] for r in runs])
        out[view_key(k, "frame p99 ms")] = describe([r["frame_ms"]["p99"] for r in runs])
        out[view_key(k, "frame CPU p50 ms")] = describe([r["frame_cpu_ms"]["p50"] for r in runs])
        out[view_key(k, "frame CPU p99 ms")] = describe([r["frame_cpu_ms"]["p99"] for r in runs])
        out[view_key(k, "frames/s")] = describe([r["frames_per_s"] for r in runs])
        if first_bars := [r["first_bar_ms"] for r in runs if r.get("first_bar_ms") is not None]:
            out[view_key(k, FIRST_BAR)] = describe(first_bars)
        out[view_key(k, "events/s")] = describe([r["events_per_s"] for r in runs])
        out[view_key(k, "jobs/s")] = describe([r["jobs_per_s"] for r in runs])
    return out


def per_run(raw: dict[str, Any]) -> dict[str, list[float | None]]:
    """The figures measured once a repetition, in repetition order (named as in `figures`): the ones
    a paired ratio compares. A CPU figure only where every repetition was costed."""
    out: dict[str, list[float | None]] = {}
    for case, runs in raw.get("efficiency", {}).items():
        out[f"efficiency {case}"] = [r["efficiency"] for r in runs]
    for k, runs in raw.get("throughput", {}).items():
        out[f"throughput jobs/s on {k}"] = [r["jobs_per_s"] for r in runs]
        if runs and all("cpu_ms_per_job" in r for r in runs):
            for component in runs[0]["cpu_ms_per_job"]:
                out[f"CPU ms per job on {k}: {component}"] = [r["cpu_ms_per_job"][component] for r in runs]
    return out


def paired_ratios(samples: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Each pair of RATIOS in `samples` (one `measure`'s clusters: compose and local, measured an hour
    apart, are not pairs), for every figure both measured once a repetition (`per_run`): the ratio
    repetition by repetition, its median and the interval of that median (`stats.paired`)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for top, bottom in RATIOS:
        if top in samples and bottom in samples:
            tops, bottoms = per_run(samples[top]), per_run(samples[bottom])
            out[f"{top} / {bottom}"] = {key: paired(tops[key], bottoms[key]) for key in tops
                                        if key in bottoms and len(tops[key]) == len(bottoms[key])}
    return out


def show_paired(pairs: dict[str, dict[str, dict[str, Any]]]) -> Table:
    """The paired ratios: median, the 95 % interval of the median, min–max, against the goals."""
    table = Table(title="paired ratios, repetition by repetition (median [95 % interval of the median], "
                        "min–max)", title_justify="left")
    table.add_column("figure")
    table.add_column("goal")
    for pair in pairs:
        table.add_column(pair, justify="right")
    keys = list(dict.fromkeys(key for by_figure in pairs.values() for key in by_figure))
    for key in keys:
        cells = []
        for by_figure in pairs.values():
            if (p := by_figure.get(key)) is None or not p["n"]:
                cells.append("")
                continue
            interval = "[{:.2f}, {:.2f}]".format(*p["interval"]) if p["interval"] else "[too few]"
            cells.append(f"{p['median']:.2f} {interval} {p['min']:.2f}–{p['max']:.2f}")
        table.add_row(key, GOALS.get(key, ""), *cells)
    return table


#: Issue #31: the course page's smallest demo, from Enter to its results (compose: `docker compose run --rm producer`).
FIRST_RESULT = f"Enter to exit s: producer {' '.join(FIRST_RESULT_ARGS[:4])}"


#: Issue #31: the first job's bar on screen, from its start (the worker's task-started event).
FIRST_BAR = "first bar ms, started → drawn"


def view_key(workers: int | str, figure: str) -> str:
    """A live-view figure's name: `view on 32: lag max ms, sent → drawn` (the terminal's), `view on 32
    notebook: CPU % of a core` (the notebook's)."""
    return f"view on {workers}: {figure}"


GOALS = {
    "efficiency 8x1s/4": ">= 0.98", "efficiency 64x0.25s/8": ">= 0.97",
    "efficiency 256x0.1s/32": ">= 0.90; 0.95x guaranteed",
    "submitted/s 256x0.1s/32": ">= 2500", "round trip p50 ms": "<= 1.2x bare",
    # issue #32: the project's worker at guaranteed Celery's price; with Flower, against the same Flower
    "throughput jobs/s on 2": ">= 0.95x guaranteed", "throughput jobs/s on 4": ">= 0.95x guaranteed",
    f"throughput jobs/s on 2 {WITH_FLOWER}": ">= 0.95x guaranteed",
    "CPU ms per job on 2: worker": "<= 1.05x guaranteed",
    "cold start s, 4 workers": "<= 10", "memory MiB worker": "<= 60", FIRST_RESULT: "<= 2.5",
    # issue #12: the view keeps up with the cluster's full rate (the quick run's sizes get the same goals)
    **{view_key(k, f"lag {stat} ms, {clock} → drawn"): "<= 1000" for k in (FULL.view_workers, QUICK.view_workers)
       for stat in ("p99", "max") for clock in ("received", "sent")},
    **{view_key(k, "CPU % of a core"): "<= 10" for k in (FULL.view_workers, QUICK.view_workers)},
    # issue #34: the notebook's rendering of the same frames, within the same budget
    **{view_key(f"{k} {NOTEBOOK}", "CPU % of a core"): "<= 10" for k in (FULL.view_workers, QUICK.view_workers)},
    **{view_key(k, FIRST_BAR): "<= 1000" for k in (FULL.view_workers, QUICK.view_workers)},
}

#: The ratio columns: (numerator, denominator), shown when both ran.
RATIOS = (("compose", "local"), ("local", "bare"), ("local", "guaranteed"), ("guaranteed", "bare"))


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each pair of RATIOS that ran, for every figure both have (medians): `local / guaranteed` is
    what the project's own code costs, `guaranteed / bare` what Celery's guarantees cost."""
    out: dict[str, dict[str, float]] = {}
    for top, bottom in RATIOS:
        if top in results and bottom in results:
            pair = out[f"{top} / {bottom}"] = {}
            for key, value in results[top].items():
                a, b = (v["median"] if isinstance(v, dict) else v for v in (value, results[bottom].get(key)))
                if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
                    pair[key] = a / b
    return out


def show(results: dict[str, dict[str, Any]]) -> Table:
    targets = list(results)
    table = Table(title="benchmark (median, min–max over the repetitions)", title_justify="left")
    table.add_column("figure")
    table.add_column("goal")
    for target in targets:
        table.add_column(target, justify="right")
    pairs = ratios(results)
    for pair in pairs:
        table.add_column(pair, justify="right")
    keys = list(dict.fromkeys(key for t in targets for key in results[t]))
    for key in keys:
        values = [results[t].get(key) for t in targets]
        cells = [cell(v) if isinstance(v, dict) else "" if v is None else f"{v:.3f}" for v in values]
        cells += [f"{pair[key]:.2f}" if key in pair else "" for pair in pairs.values()]
        table.add_row(key, GOALS.get(key, ""), *cells)
    return table


def stop(clusters: list[Cluster]) -> None:
    """Stop every cluster, the ones started last first (the baselines use the local cluster's Redis)."""
    for cluster in reversed(clusters):
        cluster.stop()


def _interrupt(*_: Any) -> None:
    """SIGTERM (from `timeout`, CI, `kill`) tears down like Ctrl-C does."""
    raise KeyboardInterrupt


@click.command()
@click.option("--local", "target", flag_value="local", help="Local celery processes and redis-server only.")
@click.option("--both", "target", flag_value="both", help="The compose cluster, then local processes: ratios.")
@click.option("--compose", "target", flag_value="compose", default=True, help="The compose cluster (default).")
@click.option("--quick", is_flag=True, help="Tiny sizes: checks that everything runs (a minute or two).")
@click.option("--only", "parts", type=click.Choice(PARTS), multiple=True,
              help="Measure only this part (repeatable): load, idle (memory, CPU), cold (start-up), "
                   "view (the live view under load), price (the guarantees' price list, local), "
                   "model (the model checked on 1 and 2 cores, local).")
@click.option("--repeat", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option("--load-repeat", type=click.IntRange(1, 30), default=None,
              help="The load part's repetitions (default: --repeat). Each ratio against guaranteed Celery "
                   "moves by 15 % from one repetition to the next here: telling a 5 % gap takes about 9.")
@click.option("--bare/--no-bare", default=True, show_default=True,
              help="Run the baselines beside the local cluster, interleaved: bare Celery (its defaults) and "
                   "guaranteed Celery (the project's guarantees only); the local / bare and local / guaranteed "
                   "ratios.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the figures and samples as JSON.")
def main(target: str, quick: bool, parts: tuple[str, ...], repeat: int, load_repeat: int | None, bare: bool,
         out: Path | None) -> None:
    """Measure the cluster against the ideal: efficiency, latency, throughput, start-up, memory, the live view."""
    sizes = QUICK if quick else FULL
    signal.signal(signal.SIGTERM, _interrupt)
    results: dict[str, dict[str, Any]] = {}
    samples: dict[str, Any] = {}
    pairs: dict[str, dict[str, dict[str, Any]]] = {}  # paired ratios, within each group's clusters
    extra: dict[str, Any] = {}  # the price list's samples, the model's validation
    for group in (["compose", "local"] if target == "both" else [target]):
        if group == "compose":
            clusters: list[Cluster] = [ComposeCluster()]
        else:
            project = BenchLocalCluster(flower=False)  # Flower only for the with-Flower figures, as guaranteed's
            # the baselines run the load and idle parts only (see measure): not started for the others
            bare_too = bare and bool({"load", "idle"} & set(parts or PARTS))
            clusters = [project, *([BareCluster(project), BareCluster.guaranteed(project)] if bare_too else [])]
        chosen = parts or PARTS
        try:
            raw = measure(clusters, sizes, repeat, chosen, load_repeat) if set(chosen) & set(CLUSTER_PARTS) else {}
            if group == "local" and "price" in chosen:
                stop(clusters)  # the price list runs one row's workers at a time, nothing else beside them
                jobs, duration, most = sizes.efficiency[-1]
                # --quick: one pass (each row starts its workers anew: 24 starts in 3 passes took 4 minutes)
                extra["price"] = price.measure((jobs, duration, most), sizes.throughput_jobs,
                                               max(1, sizes.round_trips // repeat), 1 if quick else repeat)
            if group == "local" and "model" in chosen:
                stop(clusters)  # its confined clusters alone on the cores
                extra["model"] = validate.validate(list(validate.QUICK_CASES if quick else validate.CASES), repeat,
                                                   validate.QUICK_CALIBRATION_JOBS if quick
                                                   else validate.CALIBRATION_JOBS)
        except (KeyboardInterrupt, Interrupted):  # Interrupted: Ctrl-C during a batch, its jobs withdrawn
            err.print(f"[{group}] interrupted: removing what the benchmark started", markup=False)
            stop(clusters)
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001  (one line, then clean up)
            err.print(f"benchmark failed on {group}: {type(exc).__name__}: {exc}", markup=False)
            stop(clusters)
            sys.exit(1)
        stop(clusters)
        samples.update(raw)
        pairs.update(paired_ratios(raw))
        results.update({name: figures(samples[name]) for name in raw})
    console = Console(width=max(Console().width, 180))  # 3 clusters and 4 ratios: headers whole, not wrapped
    if results:
        console.print(show(results))
    if pairs:
        console.print(show_paired(pairs))
    price_list = None
    if "price" in extra:
        jobs, duration, most = sizes.efficiency[-1]
        case = f"{jobs}x{duration:g}s/{most}"
        price_list = price.figures(extra["price"])
        if "compose" in results:
            price_list.append(price.containers_row(results["compose"], case))
        console.print(price.show(price_list, case))
    if "model" in extra:
        for table in validate.show(extra["model"]):
            console.print(table)
    if out:
        meta = {"cpus": os.cpu_count(), "python": platform.python_version(), "celery": celery.__version__,
                "repeat": repeat, "load_repeat": load_repeat or repeat, "sizes": asdict(sizes),
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        doc = {"machine": meta, "figures": results, "ratios": ratios(results), "paired": pairs, "samples": samples}
        if price_list is not None:
            doc["price"] = {"case": case, "rows": price_list, "samples": extra["price"]}
        if "model" in extra:
            doc["model"] = extra["model"]
        out.write_text(json.dumps(doc, indent=1))
        err.print(f"written to {out}")


if __name__ == "__main__":
    main()
