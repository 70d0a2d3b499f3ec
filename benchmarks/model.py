"""A model of a batch's wall time on any machine, from what one job costs each component (pure, unit-tested).

The benchmark measures, for no-op jobs, the CPU milliseconds per job of each component
(producer, workers, Redis, Flower), Redis commands per job, and a worker's own time per job
besides the job (`cycle_ms`: one worker alone, back to back, with prefetch 1 and acks late
it takes the next job only once the last one is acknowledged). From those alone the model
predicts J jobs of d seconds on W workers and C cores as the largest of three bounds, the
classic asymptotic bounds of a closed queueing network:

- the workers: each runs ceil(J / W) jobs one after another, d + cycle each;
- the cores: every job costs `cpu_ms` in all, shared by C cores (a cpu job adds d);
- the single processes: Redis, the producer and Flower each run on one core at most, so
  each caps the rate at 1 / its CPU per job, whatever C is;

plus the fill and drain a batch pays once (`latency_ms`: the first job's trip out and the
last result's back). Near the knee, where two bounds are close, the real wall is a little
above the largest (queueing); the validation in docs/performance.md says by how much.

`redis_saturation_jobs_per_s` is the rate at which one Redis core is full: past it, queues
must be sharded over several Redis (or a Redis Cluster). `sizing` answers "how many workers
can one Redis and C cores feed for jobs of d seconds".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: Components that are one process, hence one core at most, however many cores the machine has.
SINGLE_PROCESS = ("redis", "producer", "flower")


@dataclass(frozen=True)
class Costs:
    """What one no-op job costs, measured: CPU ms per component, Redis commands, a worker's own time."""

    cpu_ms: dict[str, float]  # per job, e.g. {"producer": 1.0, "worker": 4.2, "redis": 0.6, "flower": 1.2}
    cycle_ms: float  # a worker's time per job besides the job itself (1 / its no-op rate, alone)
    latency_ms: float = 0.0  # paid once per batch: first dispatch, last result
    redis_commands: float = 0.0  # per job, all components together
    single_process: tuple[str, ...] = field(default=SINGLE_PROCESS)

    @property
    def total_cpu_ms(self) -> float:
        return sum(self.cpu_ms.values())

    @property
    def redis_us_per_command(self) -> float | None:
        """Redis's CPU per command it runs, in microseconds (None without commands counted)."""
        if not self.redis_commands:
            return None
        return 1e3 * self.cpu_ms.get("redis", 0.0) / self.redis_commands


@dataclass(frozen=True)
class Prediction:
    """A batch's predicted wall time, its efficiency and the bound that sets it."""

    wall_s: float
    ideal_s: float
    efficiency: float | None  # ideal / wall; None for no-op jobs (no ideal to reach)
    jobs_per_s: float
    bound: str  # "workers", "cores", or the single process that saturates ("redis", ...)
    bounds_s: dict[str, float]


def predict(costs: Costs, jobs: int, duration_s: float, workers: int, cores: float,
            kind: str = "sleep") -> Prediction:
    """Wall time of `jobs` jobs of `duration_s` on `workers` one-process workers sharing `cores` cores."""
    if jobs < 1 or workers < 1 or cores <= 0 or duration_s < 0:
        raise ValueError("need jobs >= 1, workers >= 1, cores > 0, duration >= 0")
    job_cpu_s = duration_s if kind == "cpu" else 0.0
    rounds = math.ceil(jobs / workers)
    bounds = {
        "workers": rounds * (duration_s + costs.cycle_ms / 1e3),
        "cores": jobs * (costs.total_cpu_ms / 1e3 + job_cpu_s) / cores,
    }
    for name in costs.single_process:
        if costs.cpu_ms.get(name):
            bounds[name] = jobs * costs.cpu_ms[name] / 1e3
    bound = max(bounds, key=lambda name: bounds[name])
    wall = bounds[bound] + costs.latency_ms / 1e3
    slots = min(workers, math.floor(cores)) if kind == "cpu" else workers
    ideal = math.ceil(jobs / max(1, slots)) * duration_s
    return Prediction(wall, ideal, ideal / wall if duration_s > 0 else None, jobs / wall, bound, bounds)


def rate_limits(costs: Costs, cores: float) -> dict[str, float]:
    """Jobs/s each shared resource can sustain at most: all `cores`, and each single process's one core."""
    limits = {"cores": 1e3 * cores / costs.total_cpu_ms}
    for name in costs.single_process:
        if costs.cpu_ms.get(name):
            limits[name] = 1e3 / costs.cpu_ms[name]
    return limits


def redis_saturation_jobs_per_s(costs: Costs) -> float:
    """Jobs/s at which one Redis core is busy all the time (its CPU per job, or commands x cost per command)."""
    return 1e3 / costs.cpu_ms["redis"]


@dataclass(frozen=True)
class Sizing:
    """How many workers `cores` cores and one Redis can keep busy with jobs of `duration_s`."""

    cores: float
    duration_s: float
    workers: int  # the most workers fed before a shared resource saturates
    jobs_per_s: float  # their rate
    limit: str  # what saturates first: "cores", "redis", "producer", "flower"
    redis_workers: int  # workers one Redis alone could feed (past them: shard queues or a Redis Cluster)


def sizing(costs: Costs, cores: float, duration_s: float) -> Sizing:
    """Workers fed with `duration_s` jobs on `cores` cores: each runs 1 / (d + cycle) jobs/s until a limit is full."""
    period_s = duration_s + costs.cycle_ms / 1e3  # one worker's time per job
    limits = rate_limits(costs, cores)
    limit = min(limits, key=lambda name: limits[name])

    def fed(jobs_per_s: float) -> int:
        return math.floor(jobs_per_s * period_s + 1e-9)  # 2000 x 1.005 is 2010, not 2009.99...

    workers = fed(limits[limit])
    return Sizing(cores, duration_s, workers, workers / period_s, limit, fed(redis_saturation_jobs_per_s(costs)))


def error(predicted: float, measured: float) -> float:
    """Relative error of a prediction: (predicted - measured) / measured."""
    return (predicted - measured) / measured
