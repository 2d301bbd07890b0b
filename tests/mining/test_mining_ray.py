"""Local Ray: the same search as serial, every Ray process listening on loopback only and no
dashboard process (``parallel.local_ray``); an unreachable cluster fails fast in one line."""
from __future__ import annotations

import dataclasses
import ipaddress
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flyer.core.errors import FlyerError
from flyer.core import ray_local
from flyer.factors.mining import MiningData, RayEvaluator, SearchConfig, SerialEvaluator, mine
from flyer.factors.mining import parallel

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")


def _is_loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    mapped = getattr(addr, "ipv4_mapped", None)
    return (mapped or addr).is_loopback


def _ray_listeners() -> tuple[list[tuple[str, str]], list[str]]:
    """(process name, ip:port) of every listening socket of this process and its children, and
    the children's command lines."""
    me = psutil.Process()
    found, cmds = [], []
    for p in [me, *me.children(recursive=True)]:
        try:
            cmd = " ".join(p.cmdline())
            conns = p.net_connections(kind="inet")
        except psutil.Error:
            continue
        if p.pid != me.pid:
            cmds.append(cmd)
        name = (cmd.split() or ["?"])[0].rsplit("/", 1)[-1]
        found += [(name, f"{c.laddr.ip}:{c.laddr.port}") for c in conns if c.status == psutil.CONN_LISTEN]
    return found, cmds


def test_local_ray_listens_on_loopback_only_and_equals_serial(mining_data: MiningData) -> None:
    if ray.is_initialized():
        pytest.skip("Ray was started elsewhere in this process")
    cfg = SearchConfig(population=16, generations=2, seed=4, seeds=("$industry + $close",))
    serial = mine(SerialEvaluator(mining_data, batch_size=6), cfg)
    with RayEvaluator(mining_data, workers=2, batch_size=6) as evaluator:
        assert evaluator._owns and evaluator.describe() == "Ray: 2 worker(s) on 1 node(s)"
        assert [n["NodeManagerAddress"] for n in ray.nodes()] == [parallel.LOOPBACK]
        seen: list[tuple[int, int, int]] = []
        parallel_run = mine(evaluator, cfg, progress=lambda g, d, n: seen.append((g, d, n)))
        stats = evaluator.cache_stats()
        listeners, cmds = _ray_listeners()
    assert not ray.is_initialized()         # the evaluator started Ray, so close() stopped it
    names = {n for n, _ in listeners}
    assert {"gcs_server", "raylet"} <= names and len(listeners) >= 6, listeners
    outside = [(n, a) for n, a in listeners if not _is_loopback(a.rsplit(":", 1)[0])]
    assert not outside, f"Ray processes listening beyond loopback: {outside}"
    assert not [c for c in cmds if "dashboard/dashboard.py" in c], "a dashboard process was started"
    assert serial.pool and [dataclasses.astuple(p) for p in parallel_run.pool] == \
        [dataclasses.astuple(p) for p in serial.pool]
    assert parallel_run.history == serial.history and parallel_run.weights == serial.weights
    assert seen and seen[-1][1] == seen[-1][2]
    assert stats.hits + stats.misses > 0


def test_local_ray_restores_what_it_changes() -> None:
    import os

    from ray._private import node as ray_node
    from ray._private import ray_constants

    before = (os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"), ray_constants.ENABLE_RAY_CLUSTER,
              ray_node.Node.start_api_server)
    with parallel.local_ray(ray):
        assert os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0" and not ray_constants.ENABLE_RAY_CLUSTER
    assert (os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"), ray_constants.ENABLE_RAY_CLUSTER,
            ray_node.Node.start_api_server) == before


def _free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.9", 0))
        return s.getsockname()[1]


def test_unreachable_cluster_fails_fast_in_one_line(sim_home: Path, tmp_path: Path) -> None:
    address = f"127.0.0.9:{_free_loopback_port()}"     # nothing listens there
    flyer = str(Path(sys.executable).parent / "flyer")
    t0 = time.monotonic()
    res = subprocess.run([flyer, "mine", "--universe", "all", "--horizon", "5", "--train", "2018-01-01:2019-06-30",
                          "--valid", "2019-07-01:2019-12-31", "--address", address, "--out", str(tmp_path / "m.toml"),
                          "--home", str(sim_home)], capture_output=True, text=True, timeout=120)
    took = time.monotonic() - t0
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
    assert res.returncode == 1, res.stdout + res.stderr
    assert len(lines) == 1 and "cannot reach a Ray cluster" in lines[0] and address in lines[0], lines
    assert took < 60


def test_check_reachable_names_a_timeout_and_a_bad_address(monkeypatch: pytest.MonkeyPatch) -> None:
    def silent(*args: object, **kwargs: object) -> None:
        raise TimeoutError("timed out")

    monkeypatch.setattr(ray_local.socket, "create_connection", silent)
    with pytest.raises(FlyerError, match=r"cannot reach a Ray cluster at 127.0.0.9:6379: no answer within 5 s"):
        parallel.check_reachable("127.0.0.9:6379")
    with pytest.raises(FlyerError, match="HOST:PORT"):
        parallel.check_reachable("127.0.0.9")
