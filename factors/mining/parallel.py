"""Evaluators: run ``evaluate_batch`` over a list of formulas, serially or as Ray tasks.

Both split the formulas into the same batches of ``batch_size`` (a batch shares one engine
plan), so both give identical results. ``RayEvaluator`` puts the ``MiningData`` into Ray's
object store once (``ray.put`` in ``__init__``); every task receives the reference and a batch
of formula strings, and returns the batch's ``EvalResult`` list.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Callable

from flyer.factors.mining.evaluate import EvalResult, evaluate_batch
from flyer.factors.mining.panel import MiningData
from flyer.errors import FlyerError

Progress = Callable[[int, int], None]


def batches(items: list[str], size: int) -> list[list[str]]:
    """Consecutive chunks of ``size`` (the last may be shorter)."""
    size = max(1, size)
    return [items[i:i + size] for i in range(0, len(items), size)]


class SerialEvaluator:
    """Evaluates in this process, batch after batch (tests, debugging, one core)."""

    def __init__(self, data: MiningData, batch_size: int = 16) -> None:
        self.data = data
        self.batch_size = batch_size

    def evaluate(self, formulas: list[str], progress: Progress | None = None) -> list[EvalResult]:
        out: list[EvalResult] = []
        for chunk in batches(formulas, self.batch_size):
            out.extend(evaluate_batch(self.data, chunk))
            if progress:
                progress(len(out), len(formulas))
        return out

    def close(self) -> None:
        pass

    def __enter__(self) -> SerialEvaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _eval_task(data: MiningData, formulas: list[str]) -> list[EvalResult]:
    """The Ray task body (``data`` arrives resolved from the object store)."""
    return evaluate_batch(data, formulas)


class RayEvaluator:
    """Evaluates batches as Ray tasks on a local Ray (``num_cpus``) or a cluster (``address``).

    Starts Ray only when it is not running yet, and shuts it down in ``close`` only then. With
    ``address`` the cluster's workers must be able to import ``factors`` (install flyer there).
    """

    def __init__(self, data: MiningData, *, num_cpus: int | None = None, address: str | None = None,
                 batch_size: int = 16) -> None:
        import ray

        self._ray = ray
        self.batch_size = batch_size
        self._owns = not ray.is_initialized()
        if self._owns:
            _init_ray(ray, num_cpus, address)
        self._data_ref = ray.put(data)
        self._task = ray.remote(num_cpus=1, max_retries=0)(_eval_task)

    def evaluate(self, formulas: list[str], progress: Progress | None = None) -> list[EvalResult]:
        chunks = batches(formulas, self.batch_size)
        refs = [self._task.remote(self._data_ref, c) for c in chunks]
        sizes = {r: len(c) for r, c in zip(refs, chunks)}
        pending, done = list(refs), 0
        while pending:
            ready, pending = self._ray.wait(pending, num_returns=1)
            done += sum(sizes[r] for r in ready)
            if progress:
                progress(done, len(formulas))
        out: list[EvalResult] = []
        try:
            parts = self._ray.get(refs)
        except self._ray.exceptions.RayError as exc:  # a worker died or cannot import flyer
            raise FlyerError(f"Ray evaluation failed: {_first_line(exc)}") from exc
        for part in parts:
            out.extend(part)
        return out

    def close(self) -> None:
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()

    def __enter__(self) -> RayEvaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _init_ray(ray: Any, num_cpus: int | None, address: str | None) -> None:
    """Quiet ``ray.init``: a local instance without dashboard, or a connection to ``address``."""
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    opts: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False,
                            "configure_logging": True}
    try:
        if address:
            ray.init(address=address, **opts)
        else:
            ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, **opts)
    except Exception as exc:  # noqa: BLE001 - connection problems are user errors
        raise FlyerError(f"cannot start Ray{' at ' + address if address else ''}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def make_evaluator(data: MiningData, mode: str = "serial", *, num_cpus: int | None = None,
                   address: str | None = None, batch_size: int = 16) -> SerialEvaluator | RayEvaluator:
    """``serial`` or ``ray`` evaluator (``address`` implies ray)."""
    if mode == "serial" and not address:
        return SerialEvaluator(data, batch_size)
    if mode in ("ray", "serial"):
        return RayEvaluator(data, num_cpus=num_cpus, address=address, batch_size=batch_size)
    raise FlyerError(f"unknown mode {mode!r}; use ray or serial")
