"""The price list: what each guarantee costs, one row added at a time, from Celery's defaults to the project.

Every row runs on one loopback redis-server, one row's workers at a time (started for the
row and stopped after it, so no other row's idle workers share the cores), the rows
interleaved over the repetitions (the order reversed every other one). Rows 1-5 are bare
Celery (`benchmarks.bare_app`) with one more of the project's guarantees each; rows 6-8 are
the project's own worker (`celery -A worker`: its run list, its records, its settings), then
its recovery service, then Flower, all as local processes; the containers' row comes from
the compose cluster's load figures of the same run (`--both`), measured in its own turn.

Each row: no-op jobs/s end to end on 2 workers, with Redis commands and CPU ms per job of
every component; the round trip p50 of one no-op job; the efficiency of the benchmark's
biggest batch (256 x 0.1 s on 32).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from celery import Celery
from rich.console import Console
from rich.table import Table

from benchmarks.bare_app import GUARANTEES
from benchmarks.clusters import BareCluster, BenchLocalCluster, pids_cpu_ns
from benchmarks.measures import QUEUE, batch, round_trips, throughput
from benchmarks.stats import describe, percentile
from cluster.workers import consuming, online_workers

err = Console(stderr=True)

THROUGHPUT_WORKERS = 2


@dataclass(frozen=True)
class Row:
    """One line of the price list: what it adds, and how to run it."""

    label: str
    guarantees: tuple[str, ...] = ()  # bare Celery with these (rows 1-5)
    project: bool = False  # the project's own worker instead
    recovery: bool = False
    flower: bool = False


_G = tuple(GUARANTEES)
ROWS = (
    Row("Celery's defaults (prefetch 4, acks early, no events)"),
    Row("+ prefetch 1", _G[:1]),
    Row("+ acks late, reject on worker lost", _G[:2]),
    Row("+ task events (-E: received, started, succeeded)", _G[:3]),
    Row("+ task-sent events (= guaranteed Celery)", _G[:4]),
    Row("+ the project's worker: run list, records, settings", project=True),
    Row("+ the recovery service", project=True, recovery=True),
    Row("+ Flower (= the local cluster, with recovery)", project=True, recovery=True, flower=True),
)
CONTAINERS = "+ containers (compose: Docker network, healthchecks)"
#: The recovery service's CPU at full no-op load, in % of one core (issue #32's goal: at most 3).
RECOVERY_SHARE = "recovery service % of a core"


class ProjectRow:
    """The project's workers (and maybe its recovery service, Flower) on the price list's redis-server."""

    def __init__(self, host: BenchLocalCluster, row: Row) -> None:
        self.host, self.row = host, row

    @property
    def broker_url(self) -> str:
        return self.host.broker_url

    @property
    def admin_url(self) -> str:
        return self.host.admin_url

    def app(self) -> Celery:
        return self.host.app()

    def start(self, workers: int) -> None:
        cluster = self.host.started()
        if self.row.recovery:
            cluster.start_recovery()
        self.host.scale(workers)
        if self.row.flower:
            cluster.start_flower(timeout_s=120)

    def stop(self) -> None:
        cluster = self.host.started()
        cluster.stop_flower()
        cluster.stop_recovery()
        self.host.scale(0)

    def cpu_ns(self) -> dict[str, int]:
        cluster = self.host.started()
        return {**self.host.cpu_ns(), "recovery": pids_cpu_ns([cluster.recovery.pid]) if cluster.recovery else 0}


def _runner(host: BenchLocalCluster, row: Row, index: int) -> ProjectRow | BareCluster:
    if row.project:
        return ProjectRow(host, row)
    return BareCluster(host, f"price{index}", row.guarantees, db=6 + 2 * index)


def measure(case: tuple[int, float, int], throughput_jobs: int, trips: int, repeat: int,
            rows: tuple[Row, ...] = ROWS) -> dict[str, Any]:
    """Raw samples of every row, `repeat` times, interleaved; starts and always stops its own redis-server."""
    jobs, duration, most = case
    host = BenchLocalCluster(flower=False)
    raw: dict[str, Any] = {row.label: {"throughput": [], "round_trip_s": [], "efficiency": []} for row in rows}
    try:
        host.start(0)
        for rep in range(1, repeat + 1):
            order = list(enumerate(rows)) if rep % 2 else list(reversed(list(enumerate(rows))))
            for index, row in order:
                err.print(f"[price] {row.label} ({rep}/{repeat})", style="dim", highlight=False, markup=False)
                runner = _runner(host, row, index)
                try:
                    runner.start(most)
                    app = runner.app()
                    names = sorted(w.name for w in consuming(online_workers(app), QUEUE))
                    k = min(THROUGHPUT_WORKERS, len(names))
                    raw[row.label]["throughput"].append(throughput(app, names, k, throughput_jobs, runner))
                    raw[row.label]["round_trip_s"] += round_trips(app, names, trips)
                    raw[row.label]["efficiency"].append(batch(app, names, most, jobs, duration))
                    app.close()
                finally:
                    runner.stop()
    finally:
        host.stop()
    return raw


def figures(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """One row of figures per price-list row (medians and spreads), in the list's order."""
    out = []
    for label, samples in raw.items():
        runs = samples["throughput"]
        out.append({
            "row": label,
            "jobs/s": describe([r["jobs_per_s"] for r in runs]),
            "round trip p50 ms": percentile(samples["round_trip_s"], 50) * 1e3,
            "CPU ms per job": describe([sum(r["cpu_ms_per_job"].values()) for r in runs]),
            "CPU ms per job by component": {c: describe([r["cpu_ms_per_job"].get(c, 0.0) for r in runs])["median"]
                                            for c in runs[0]["cpu_ms_per_job"]} if runs else {},
            "Redis commands per job": describe([sum(r["commands_per_job"].values()) for r in runs]),
            "efficiency": describe([r["efficiency"] for r in samples["efficiency"]]),
            # issue #32: its CPU over the run, as a share of one core (ms per job x jobs per s = ms per s)
            **({RECOVERY_SHARE: describe([r["cpu_ms_per_job"]["recovery"] * r["jobs_per_s"] / 10 for r in runs])}
               if runs and runs[0]["cpu_ms_per_job"].get("recovery") else {}),
        })
    return out


def containers_row(compose: dict[str, Any], case: str) -> dict[str, Any]:
    """The containers' row from the compose cluster's load figures (the same run, its own turn)."""
    k = THROUGHPUT_WORKERS
    cpu = [v for key, v in compose.items() if key.startswith(f"CPU ms per job on {k}: ")]
    return {
        "row": CONTAINERS,
        "jobs/s": compose.get(f"throughput jobs/s on {k}"),
        "round trip p50 ms": compose.get("round trip p50 ms"),
        "CPU ms per job": {"median": sum(v["median"] for v in cpu), "n": 1} if cpu else None,
        "Redis commands per job": compose.get(f"Redis commands per job on {k}"),
        "efficiency": compose.get(f"efficiency {case}"),
    }


def show(rows: list[dict[str, Any]], case: str) -> Table:
    table = Table(title=f"the price list (medians; each row adds one thing to the row above; no-op jobs on "
                        f"{THROUGHPUT_WORKERS} workers)", title_justify="left")
    for col in ("row", "no-op jobs/s", "round trip p50 ms", "CPU ms/job", "Redis cmds/job", f"efficiency {case}",
                "recovery % core"):
        table.add_column(col, justify="left" if col == "row" else "right")

    def med(value: Any, fmt: str) -> str:
        number = value.get("median") if isinstance(value, dict) else value
        return "" if number is None else fmt.format(number)

    for r in rows:
        table.add_row(r["row"], med(r["jobs/s"], "{:.0f}"), med(r["round trip p50 ms"], "{:.2f}"),
                      med(r["CPU ms per job"], "{:.2f}"), med(r["Redis commands per job"], "{:.1f}"),
                      med(r["efficiency"], "{:.3f}"), med(r.get(RECOVERY_SHARE), "{:.1f}"))
    return table

