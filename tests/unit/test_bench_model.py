"""The model of bigger machines: each bound, the prediction, Redis's saturation and the sizing, hand-computed."""

from __future__ import annotations

import pytest

from benchmarks.model import Costs, error, predict, rate_limits, redis_saturation_jobs_per_s, sizing

# 7.0 ms of CPU per job in all; a worker's own 5 ms per job; 2 ms to fill and drain a batch
COSTS = Costs(cpu_ms={"producer": 1.0, "worker": 4.0, "redis": 0.5, "flower": 1.5}, cycle_ms=5.0, latency_ms=2.0,
              redis_commands=25)


def exactly(value: float) -> object:
    return pytest.approx(value, rel=1e-12, abs=1e-12)


def test_costs_add_up_and_price_a_redis_command():
    assert COSTS.total_cpu_ms == 7.0
    assert COSTS.redis_us_per_command == exactly(20.0)  # 0.5 ms over 25 commands
    assert Costs({"redis": 0.5}, cycle_ms=1.0).redis_us_per_command is None  # commands not counted


def test_a_batch_on_two_cores_is_bound_by_the_cores():
    p = predict(COSTS, 256, 0.1, 32, 2)
    # workers: 8 rounds x 105 ms; cores: 256 x 7 ms / 2; single processes: 256 x their own ms
    assert p.bounds_s == exactly({"workers": 0.84, "cores": 0.896, "redis": 0.128, "producer": 0.256,
                                  "flower": 0.384})
    assert p.bound == "cores"
    assert p.wall_s == exactly(0.898)  # + 2 ms of latency
    assert p.ideal_s == exactly(0.8)
    assert p.efficiency == exactly(0.8 / 0.898)
    assert p.jobs_per_s == exactly(256 / 0.898)


def test_the_same_batch_on_eight_cores_is_bound_by_the_workers():
    p = predict(COSTS, 256, 0.1, 32, 8)
    assert p.bounds_s["cores"] == exactly(0.224)
    assert p.bound == "workers" and p.wall_s == exactly(0.842)
    assert p.efficiency == exactly(0.8 / 0.842)


def test_an_uneven_batch_pays_a_whole_last_round():
    p = predict(COSTS, 33, 1.0, 32, 96)
    assert p.bounds_s["workers"] == exactly(2 * 1.005)
    assert p.ideal_s == exactly(2.0) and p.wall_s == exactly(2.012)


def test_no_op_jobs_have_a_rate_and_no_efficiency():
    p = predict(COSTS, 1000, 0.0, 4, 2)
    assert p.bounds_s["workers"] == exactly(1.25) and p.bounds_s["cores"] == exactly(3.5)
    assert p.bound == "cores" and p.wall_s == exactly(3.502)
    assert p.efficiency is None and p.ideal_s == 0.0
    assert p.jobs_per_s == exactly(1000 / 3.502)


def test_on_many_cores_one_process_saturates_first():
    p = predict(COSTS, 1000, 0.0, 400, 96)
    assert p.bound == "flower"  # 1.5 ms a job on its one core: 1.5 s, above 7 s / 96 and 3 x 5 ms
    assert p.wall_s == exactly(1.502)


def test_cpu_jobs_add_their_duration_to_the_cores_bound_and_count_cores_as_slots():
    p = predict(COSTS, 32, 0.1, 8, 2, kind="cpu")
    assert p.bounds_s["workers"] == exactly(0.42)
    assert p.bounds_s["cores"] == exactly(32 * 0.107 / 2)
    assert p.bound == "cores" and p.wall_s == exactly(1.714)
    assert p.ideal_s == exactly(1.6)  # 16 rounds on the 2 cores, not 4 on the 8 workers
    assert p.efficiency == exactly(1.6 / 1.714)


@pytest.mark.parametrize("jobs, duration, workers, cores", [(0, 1, 1, 1), (1, 1, 0, 1), (1, 1, 1, 0), (1, -1, 1, 1)])
def test_impossible_batches_are_refused(jobs, duration, workers, cores):
    with pytest.raises(ValueError):
        predict(COSTS, jobs, duration, workers, cores)


def test_rate_limits_and_redis_saturation():
    assert rate_limits(COSTS, 2) == exactly({"cores": 2000 / 7, "redis": 2000.0, "producer": 1000.0,
                                             "flower": 1000 / 1.5})
    assert redis_saturation_jobs_per_s(COSTS) == exactly(2000.0)
    assert "flower" not in rate_limits(Costs({"worker": 4.0, "redis": 0.5}, cycle_ms=5.0), 2)


def test_sizing_names_the_first_limit_and_what_one_redis_could_feed():
    costs = Costs(cpu_ms={"producer": 1.0, "worker": 4.0, "redis": 0.5, "flower": 1.2}, cycle_ms=5.0)
    small = sizing(costs, 2, 0.1)
    # each worker 1 / 0.105 jobs/s; 2 cores do 2000 / 6.7 jobs/s: 31.34 workers
    assert (small.workers, small.limit, small.redis_workers) == (31, "cores", 210)
    assert small.jobs_per_s == exactly(31 / 0.105)
    big = sizing(costs, 8, 1.0)
    # Flower's one core (833 jobs/s) fills before 8 cores (1,194) or Redis (2,000)
    assert (big.workers, big.limit, big.redis_workers) == (837, "flower", 2010)
    assert big.jobs_per_s == exactly(837 / 1.005)


def test_without_flower_redis_is_where_to_shard():
    costs = Costs(cpu_ms={"producer": 0.2, "worker": 4.0, "redis": 0.5}, cycle_ms=5.0)
    s = sizing(costs, 96, 10.0)
    assert (s.limit, s.workers, s.redis_workers) == ("redis", 20010, 20010)


def test_relative_error():
    assert error(110.0, 100.0) == exactly(0.1)
    assert error(90.0, 100.0) == exactly(-0.1)
