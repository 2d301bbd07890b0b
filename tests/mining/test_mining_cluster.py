"""A real two-node Ray cluster on this machine: ``flyer mine --address`` and ``flyer train
--address`` (walk-forward folds as tasks) equal the serial runs.

The test starts its own head and worker nodes with ``ray start --block`` (so each node's
processes stay children of the ``ray start`` process it launched), on loopback addresses, on
free ports, with their own temp folders and ``RAY_AUTH_MODE=disabled`` (the installed Ray
enables token authentication for ``ray start --head``). At the end it stops exactly those
process trees by PID; it never runs ``ray stop``, which would stop every Ray process on the
machine.

Loopback, not the network interface: Ray 2.60's ``ray start`` rewrites ``--node-ip-address
127.0.0.1`` (and ``--address 127.0.0.1:...``, and ``localhost``) to the machine's interface
address (``services.resolve_ip_for_localhost``), so a node "on 127.0.0.1" would advertise and
be reached on the interface. Other loopback addresses are kept as given: the head runs on
127.0.0.2, the second node on 127.0.0.3, and the driver connects to 127.0.0.2.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

BIN = Path(sys.executable).parent
IP = "127.0.0.1"          # for finding free ports
HEAD_IP, WORKER_IP = "127.0.0.2", "127.0.0.3"
ARGS = ["mine", "--universe", "all", "--horizon", "5", "--population", "12", "--generations", "2",
        "--train", "2018-01-01:2019-06-30", "--valid", "2019-07-01:2019-12-31", "--test", "2020-01-01:2020-12-31",
        "--seed", "3", "--batch-size", "3", "--baseline", "0"]


def _free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind((IP, 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _env() -> dict[str, str]:
    return {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "FLYER_DEBUG": "1"}


def _node(args: list[str], temp: Path) -> subprocess.Popen:
    ports = _free_ports(6)
    # ``python -m ray.scripts.scripts``, not the ``ray`` script: a copied venv's script may name
    # another interpreter in its shebang
    cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--block", "--num-cpus", "1", "--temp-dir", str(temp), "--disable-usage-stats",
           "--node-manager-port", str(ports[0]), "--object-manager-port", str(ports[1]),
           "--dashboard-agent-listen-port", str(ports[2]), "--dashboard-agent-grpc-port", str(ports[3]),
           "--runtime-env-agent-port", str(ports[4]), "--metrics-export-port", str(ports[5]), *args]
    log = open(temp / "start.log", "w")  # noqa: SIM115 - closed with the node
    return subprocess.Popen(cmd, env=_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_port(host: str, port: int, proc: subprocess.Popen, seconds: float = 40) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"ray start exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"Ray head did not listen on {port}")


def _wait_started(log: Path, proc: subprocess.Popen, seconds: float = 60) -> None:
    """Until ``ray start`` says the node is up (its log), or fail."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"ray start exited with {proc.returncode}")
        if "Ray runtime started" in log.read_text(errors="replace"):
            return
        time.sleep(0.3)
    raise TimeoutError(f"the Ray node did not start: {log}")


def _stop(proc: subprocess.Popen) -> list[int]:
    """SIGTERM then SIGKILL the ``ray start`` process and every process below it; their PIDs."""
    try:
        root = psutil.Process(proc.pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    for p in reversed(tree):
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(tree, timeout=10)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)
    proc.wait(timeout=5)
    return [p.pid for p in tree]


@pytest.fixture()
def cluster() -> Iterator[str]:
    """A head and a worker node (1 CPU each) on loopback addresses; yields the GCS address."""
    root = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))      # short: Ray's socket paths have a length limit
    (root / "h").mkdir()
    (root / "w").mkdir()
    port, client = _free_ports(2)
    head = _node(["--head", "--node-ip-address", HEAD_IP, "--port", str(port), "--ray-client-server-port", str(client),
                  "--include-dashboard", "false"], root / "h")
    nodes = [head]
    try:
        _wait_port(HEAD_IP, port, head)
        nodes.append(_node(["--address", f"{HEAD_IP}:{port}", "--node-ip-address", WORKER_IP], root / "w"))
        _wait_started(root / "w" / "start.log", nodes[-1])  # both nodes up before a driver counts them
        yield f"{HEAD_IP}:{port}"
    finally:
        pids = [pid for n in reversed(nodes) for pid in _stop(n)]
        assert pids and not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]


def test_mine_on_a_two_node_cluster_equals_the_serial_run(cluster: str, sim_home: Path, tmp_path: Path) -> None:
    flyer = str(BIN / "flyer")
    on_ray = subprocess.run([flyer, *ARGS, "--address", cluster, "--workers", "2", "--out", str(tmp_path / "ray.toml"),
                             "--home", str(sim_home)], env=_env(), capture_output=True, text=True, timeout=180)
    assert on_ray.returncode == 0, on_ray.stdout + on_ray.stderr
    assert "Ray: 2 worker(s) on 2 node(s)" in on_ray.stdout
    serial = subprocess.run([flyer, *ARGS, "--mode", "serial", "--out", str(tmp_path / "serial.toml"),
                             "--home", str(sim_home)], env=_env(), capture_output=True, text=True, timeout=180)
    assert serial.returncode == 0, serial.stdout + serial.stderr
    a, b = (tmp_path / "ray.toml").read_text(), (tmp_path / "serial.toml").read_text()
    assert "[weights]" in a and "mined_001" in a
    assert a == b                                     # formulas, weights and figures, to the last digit
    ra, rb = (tmp_path / "ray.report.md").read_text(), (tmp_path / "serial.report.md").read_text()
    assert ra.replace("ray.toml", "x") == rb.replace("serial.toml", "x")


TRAIN = ["train", "--model", "lgbm", "--factors", "basic", "--train", "2018-01-01:2018-12-31",
         "--valid", "2019-01-01:2019-06-30", "--test", "2019-07-01:2020-12-31", "--walk-forward",
         "--retrain-months", "6", "--threads", "1"]


def test_walk_forward_training_on_a_two_node_cluster_equals_the_serial_run(cluster: str, sim_home: Path,
                                                                            tmp_path: Path) -> None:
    """``flyer train --address``: the folds run as tasks on both nodes; the run (id, predictions,
    per-fold metrics) is the serial run's."""
    import shutil

    import polars as pl

    flyer = str(BIN / "flyer")
    homes = {m: tmp_path / m for m in ("ray", "serial")}
    for h in homes.values():
        h.mkdir()
        shutil.copy(sim_home / "market.duckdb", h / "market.duckdb")
    on_ray = subprocess.run([flyer, *TRAIN, "--address", cluster, "--workers", "2", "--home", str(homes["ray"])],
                            env=_env(), capture_output=True, text=True, timeout=300)
    assert on_ray.returncode == 0, on_ray.stdout + on_ray.stderr
    assert "Ray: 2 worker(s) on 2 node(s)" in on_ray.stdout
    serial = subprocess.run([flyer, *TRAIN, "--home", str(homes["serial"])], env=_env(), capture_output=True,
                            text=True, timeout=300)
    assert serial.returncode == 0, serial.stdout + serial.stderr
    (ra,), (rb,) = ([p for p in (h / "runs").iterdir() if p.is_dir()] for h in (homes["ray"], homes["serial"]))
    assert ra.name == rb.name                                 # the same config and data: the same run id
    pa, pb = (pl.read_parquet(r / "predictions.parquet") for r in (ra, rb))
    assert pa.height > 0 and pa.equals(pb)
    assert _untimed(json.loads((ra / "metrics.json").read_text())) == _untimed(json.loads((rb / "metrics.json").read_text()))


def _untimed(value: object) -> object:
    """A metrics tree without its wall-clock seconds (the only field that may differ)."""
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if "seconds" not in k}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value
