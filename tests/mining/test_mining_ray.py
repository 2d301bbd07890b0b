"""Serial and local-Ray evaluation give the same search (Ray pinned to a loopback address: Ray 2.60
rewrites 127.0.0.1 itself to the machine's interface address, see ``parallel.LOOPBACK``)."""
from __future__ import annotations

import dataclasses

import pytest

from flyer.factors.mining import MiningData, RayEvaluator, SearchConfig, SerialEvaluator, mine
from flyer.factors.mining.parallel import LOOPBACK

ray = pytest.importorskip("ray")


def test_ray_and_serial_give_the_same_result(mining_data: MiningData) -> None:
    cfg = SearchConfig(population=16, generations=2, seed=4, seeds=("$industry + $close",))
    serial = mine(SerialEvaluator(mining_data, batch_size=6), cfg)
    owns = not ray.is_initialized()
    if owns:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                 _node_ip_address=LOOPBACK)
    try:
        with RayEvaluator(mining_data, workers=2, batch_size=6) as evaluator:
            assert not evaluator._owns          # Ray started outside is left running by close()
            assert evaluator.describe() == "Ray: 2 worker(s) on 1 node(s)"
            assert [n["NodeManagerAddress"] for n in ray.nodes()] == [LOOPBACK]
            seen: list[tuple[int, int, int]] = []
            parallel = mine(evaluator, cfg, progress=lambda g, d, n: seen.append((g, d, n)))
            stats = evaluator.cache_stats()
        assert ray.is_initialized()
    finally:
        if owns:
            ray.shutdown()
    assert serial.pool and [dataclasses.astuple(p) for p in parallel.pool] == [dataclasses.astuple(p) for p in serial.pool]
    assert parallel.history == serial.history and parallel.weights == serial.weights
    assert seen and seen[-1][1] == seen[-1][2]
    assert stats.hits + stats.misses > 0
