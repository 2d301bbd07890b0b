"""Workflow files: one TOML file writes an experiment down (``flyer run workflow.toml``).

A workflow names, in tables (every key optional unless marked; see ``examples/*.toml``):

* ``name``, ``description``: labels only (not part of the identity);
* ``[data]``: ``source`` (a source kind, default ``sim``) and that source's settings (``stocks``,
  ``start``, ``end``, ``path``, ...); ``ingest = "missing"`` (default: only when the store holds
  no successful ingest of that source over that span), ``"always"`` or ``"never"``;
  ``mix_markets = true`` lets the home's store hold this market beside another one (by default
  another market than the store holds is refused: ``flyer.data.markets``);
* ``[[factors]]``: factor evaluations: ``set`` (a library name or file) or ``formulas`` (a table
  ``name = "formula"``), ``universe``, ``horizon``, ``quantiles``, ``start``, ``end``;
* ``[[models]]``: ``name`` (a label; default the model kind), ``model`` (required), ``train``,
  ``valid``, ``test`` (``"START:END"``), ``walk_forward``, ``retrain_months``, ``window``,
  ``objective``, ``seed``, ``params`` (a table), and any ``DataConfig`` key (``factors``,
  ``universe``, ``label_horizon``, ...): exactly ``flyer.models.make_config``'s arguments;
* ``[[backtests]]``: ``name``, ``models`` (model names; default all) and ``BacktestConfig`` keys
  (``strategy``, ``k``, ``n_drop``, costs, ...); ``start``/``end`` default to the model's test span;
* ``[reports]``: ``backtest``, ``factors`` (booleans, default true).

``load(path, overrides)`` parses and resolves the file (``--set models.0.k=20`` style overrides
apply first): defaults filled, factor sets reduced to content keys, model configs to run ids,
backtest configs to their dicts. ``Workflow.key`` (12 hex) hashes that resolved identity, so
labels, comments and key order do not matter and any change of content names a new experiment.
"""
from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flyer.core.config import ConfigError
from flyer.core.errors import FlyerError

TOP_KEYS = ("name", "description", "data", "factors", "models", "backtests", "reports")
INGEST_MODES = ("missing", "always", "never")
FACTOR_KEYS = ("set", "formulas", "name", "universe", "horizon", "quantiles", "start", "end", "factors")
SPLIT_KEYS = ("train", "valid", "test", "walk_forward", "retrain_months", "window", "objective", "params", "seed")


class WorkflowError(ConfigError):
    """A workflow file that cannot be resolved (one line naming the table and key; exit 2)."""


@dataclass(frozen=True)
class DataStep:
    """Where the market comes from: ``source`` as ``flyer.data.sources.base.to_dict`` gives it."""

    source: dict[str, Any]
    ingest: str = "missing"
    mix_markets: bool = False


@dataclass(frozen=True)
class FactorStep:
    """One factor evaluation (``flyer.factors.pipeline.evaluate``)."""

    label: str
    factor_set: Any  # flyer.factors.FactorSet
    universe: str = "all"
    horizon: int = 5
    quantiles: int = 5
    start: dt.date | None = None
    end: dt.date | None = None

    def identity(self) -> dict[str, Any]:
        return {"key": self.factor_set.key(), "universe": self.universe, "horizon": self.horizon,
                "quantiles": self.quantiles, "start": _iso(self.start), "end": _iso(self.end)}


@dataclass(frozen=True)
class ModelStep:
    """One training run: its label and its ``TrainConfig`` (the run id adds the data it reads:
    ``flyer.models.runs.run_id``)."""

    name: str
    config: Any  # flyer.models.TrainConfig


@dataclass(frozen=True)
class BacktestStep:
    """One backtest config applied to the predictions of each model in ``models``."""

    name: str
    models: tuple[str, ...]
    config: Any  # flyer.backtest.BacktestConfig (start/end None: the model's test span)


@dataclass(frozen=True)
class Workflow:
    """A resolved workflow (see the module docstring); ``text`` is the file as written."""

    name: str
    description: str
    data: DataStep
    factors: tuple[FactorStep, ...]
    models: tuple[ModelStep, ...]
    backtests: tuple[BacktestStep, ...]
    reports: dict[str, bool]
    text: str = ""
    path: str = ""
    overrides: tuple[str, ...] = field(default_factory=tuple)

    def model(self, name: str) -> ModelStep:
        return next(m for m in self.models if m.name == name)

    def identity(self) -> dict[str, Any]:
        """What the experiment id hashes: content only (labels replaced by run ids)."""
        runs = {m.name: m.config.key() for m in self.models}
        return {"data": self.data.source, "factors": [f.identity() for f in self.factors],
                "models": [runs[m.name] for m in self.models],
                "backtests": [{"runs": [runs[n] for n in b.models], "config": b.config.to_dict()} for b in self.backtests],
                "reports": dict(sorted(self.reports.items()))}

    @property
    def key(self) -> str:
        """Content key of the resolved workflow (``identity``); an experiment's id adds the data
        its models read (``flyer.experiments.experiment_key``)."""
        from flyer.core.config import content_key

        return content_key(self.identity())

    def resolved(self) -> dict[str, Any]:
        """The resolved workflow as JSON (labels and full configs; ``resolved.json``)."""
        from flyer.models.config import to_dict

        return {"key": self.key, "name": self.name, "description": self.description, "path": self.path,
                "overrides": list(self.overrides), "data": dataclasses.asdict(self.data),
                "factors": [{"label": f.label, "name": f.factor_set.name, **f.identity(),
                             "formulas": [[n, str(e)] for n, e in f.factor_set]} for f in self.factors],
                "models": [{"name": m.name, "config_key": m.config.key(), "config": to_dict(m.config)}
                           for m in self.models],
                "backtests": [{"name": b.name, "models": list(b.models), "config": b.config.to_dict()}
                              for b in self.backtests],
                "reports": self.reports, "identity": self.identity()}


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


def _date(value: Any, where: str) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value.date() if isinstance(value, dt.datetime) else value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise WorkflowError(f"workflow: {where}: bad date {value!r} (expected YYYY-MM-DD)") from None


def _span(value: Any, where: str) -> tuple[dt.date, dt.date] | None:
    """``"START:END"`` or ``[START, END]`` -> (start, end)."""
    if value is None:
        return None
    parts = value.split(":") if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else None
    if not parts or len(parts) != 2:
        raise WorkflowError(f"workflow: {where}: expected \"START:END\", got {value!r}")
    a, b = _date(parts[0], where), _date(parts[1], where)
    assert a is not None and b is not None
    return a, b


def _table(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise WorkflowError(f"workflow: {where} must be a table, got {type(raw).__name__}")
    return dict(raw)


def _tables(raw: Any, where: str) -> list[dict[str, Any]]:
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    return [_table(t, f"{where}[{i}]") for i, t in enumerate(items)]


# ------------------------------------------------------------------------------ overrides
def parse_value(text: str) -> Any:
    """A TOML value (``20``, ``true``, ``"x"``, ``2020-01-01``, ``[1, 2]``), else the text itself."""
    from flyer.core.config import parse_scalar

    return parse_scalar(text)


def apply_overrides(raw: dict[str, Any], overrides: tuple[str, ...]) -> dict[str, Any]:
    """``raw`` with each ``dotted.key=value`` set (``models.0.k=20``: index 0 of ``models``)."""
    out = copy.deepcopy(raw)
    for item in overrides:
        path, sep, text = item.partition("=")
        if not sep or not path.strip():
            raise WorkflowError(f"workflow: bad override {item!r}: expected KEY=VALUE, e.g. data.stocks=150")
        keys = path.strip().split(".")
        node: Any = out
        for k in keys[:-1]:
            node = _child(node, k, item)
        last = keys[-1]
        if isinstance(node, list):
            node[_index(node, last, item)] = parse_value(text.strip())
        else:
            node[last] = parse_value(text.strip())
    return out


def _child(node: Any, key: str, item: str) -> Any:
    if isinstance(node, list):
        return node[_index(node, key, item)]
    if not isinstance(node, dict):
        raise WorkflowError(f"workflow: override {item!r}: {key!r} is not inside a table")
    return node.setdefault(key, {})


def _index(node: list, key: str, item: str) -> int:
    if not key.isdigit() or int(key) >= len(node):
        raise WorkflowError(f"workflow: override {item!r}: {key!r} is not an index of a list of {len(node)}")
    return int(key)


def _iso_default(x: Any) -> Any:
    return x.isoformat() if isinstance(x, dt.date) else str(x)


# ------------------------------------------------------------------------------ resolution
def resolve_data(raw: dict[str, Any]) -> DataStep:
    from flyer.data.sources.base import source_from_dict, to_dict

    raw = dict(raw)
    ingest = raw.pop("ingest", "missing")
    if ingest not in INGEST_MODES:
        raise WorkflowError(f"workflow: [data] ingest must be one of {', '.join(INGEST_MODES)}, not {ingest!r}")
    mix = raw.pop("mix_markets", False)
    if not isinstance(mix, bool):
        raise WorkflowError(f"workflow: [data] mix_markets must be true or false, not {mix!r}")
    raw["kind"] = raw.pop("source", raw.pop("kind", "sim"))
    src = source_from_dict(raw, "[data]")
    return DataStep(json.loads(json.dumps(to_dict(src), default=str)), ingest, mix)


def resolve_factor(raw: dict[str, Any], i: int) -> FactorStep:
    from flyer.factors.factorset import FactorSet
    from flyer.factors.library import load

    where = f"[[factors]] {i}"
    unknown = sorted(set(raw) - set(FACTOR_KEYS))
    if unknown:
        raise WorkflowError(f"workflow: {where}: unknown key(s) {', '.join(unknown)} (takes: {', '.join(FACTOR_KEYS)})")
    if ("set" in raw) == ("formulas" in raw):
        raise WorkflowError(f"workflow: {where}: give exactly one of set = \"alpha158\" or formulas = {{name = \"...\"}}")
    try:
        if "set" in raw:
            fs = load(str(raw["set"]))
        else:
            fs = FactorSet.from_formulas(str(raw.get("name", f"formulas{i}")), dict(_table(raw["formulas"], where)))
        if raw.get("factors"):
            fs = fs.select([f.strip() for f in str(raw["factors"]).split(",")])
    except (FileNotFoundError, KeyError, ValueError, FlyerError) as exc:
        raise WorkflowError(f"workflow: {where}: {str(exc).splitlines()[0]}") from None
    label = _label(str(raw.get("name") or Path(str(raw.get("set") or fs.name)).stem), f"{where} name")
    horizon = _int(raw.get("horizon", 5), f"{where} horizon", 1, 250)
    quantiles = _int(raw.get("quantiles", 5), f"{where} quantiles", 2, 20)
    universe = raw.get("universe", "all")
    if not isinstance(universe, str) or not universe:
        raise WorkflowError(f"workflow: {where} universe: must be a universe name (all, csi500, csi300 or an index "
                            f"code), got {universe!r}")
    start, end = _date(raw.get("start"), where), _date(raw.get("end"), where)
    if start is not None and end is not None and start > end:
        raise WorkflowError(f"workflow: {where}: start {start} is after end {end}")
    return FactorStep(label, fs, universe, horizon, quantiles, start, end)


def _int(value: Any, where: str, lo: int, hi: int) -> int:
    """An integer setting in [lo, hi] (a ``WorkflowError`` naming it otherwise)."""
    from flyer.core.config import coerce

    try:
        v = coerce(value, int, where)
    except ConfigError as exc:
        raise WorkflowError(f"workflow: {exc}") from None
    if not lo <= v <= hi:
        raise WorkflowError(f"workflow: {where}: must be in {lo}..{hi}, got {v}")
    return int(v)


def _label(value: Any, where: str) -> str:
    """A name that becomes a file or folder name and is printed (``flyer.core.names.safe_name``)."""
    from flyer.core.names import safe_name

    try:
        return safe_name(value, where)
    except FlyerError as exc:
        raise WorkflowError(f"workflow: {exc}") from None


def resolve_model(raw: dict[str, Any], i: int) -> ModelStep:
    from flyer.models.config import DataConfig, make_config

    where = f"[[models]] {i}"
    raw = dict(raw)
    if "model" not in raw:
        raise WorkflowError(f"workflow: {where}: missing key model (lgbm, linear, mlp, gru, lstm, transformer)")
    kind = raw.pop("model")
    if not isinstance(kind, str):
        raise WorkflowError(f"workflow: {where} model: must be a model kind (lgbm, linear, ...), got {kind!r}")
    name = _label(raw.pop("name", kind), f"{where} name")
    data_keys = {f.name for f in dataclasses.fields(DataConfig)} - {"factor_key"}
    unknown = sorted(set(raw) - set(SPLIT_KEYS) - data_keys)
    if unknown:
        raise WorkflowError(f"workflow: {where}: unknown key(s) {', '.join(unknown)}")
    spans = {k: _span(raw.pop(k, None), f"{where} {k}") for k in ("train", "valid", "test")}
    if spans["train"] is None or spans["valid"] is None:
        raise WorkflowError(f"workflow: {where}: train and valid spans are required (\"START:END\")")
    split = {k: raw.pop(k) for k in ("walk_forward", "retrain_months", "window", "objective", "seed") if k in raw}
    params = _table(raw.pop("params", {}), f"{where} params")
    try:
        cfg = make_config(kind, spans["train"], spans["valid"], spans["test"], params=params or None, **split, **raw)
    except (TypeError, ValueError) as exc:
        raise WorkflowError(f"workflow: {where}: {str(exc).splitlines()[0]}") from exc
    except FlyerError as exc:
        raise WorkflowError(f"workflow: {where}: {exc}") from None
    return ModelStep(name, cfg)


def resolve_backtest(raw: dict[str, Any], i: int, model_names: list[str]) -> BacktestStep:
    from flyer.backtest.config import BacktestConfig

    where = f"[[backtests]] {i}"
    raw = dict(raw)
    name = _label(raw.pop("name", f"backtest{i}"), f"{where} name")
    models = raw.pop("models", None) or list(model_names)
    models = [models] if isinstance(models, str) else models
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise WorkflowError(f"workflow: {where} models: must be a list of model names, got {models!r}")
    missing = [m for m in models if m not in model_names]
    if missing:
        raise WorkflowError(f"workflow: {where}: no model named {', '.join(map(repr, missing))} "
                            f"(models: {', '.join(model_names) or 'none'})")
    try:
        cfg = BacktestConfig.from_dict(raw, f"{where}")
    except (TypeError, ValueError) as exc:
        raise WorkflowError(f"workflow: {str(exc).splitlines()[0]}") from None
    return BacktestStep(name, tuple(models), cfg)


def resolve(raw: dict[str, Any], *, text: str = "", path: str = "", overrides: tuple[str, ...] = ()) -> Workflow:
    """A ``Workflow`` from the parsed TOML dict (see the module docstring)."""
    unknown = sorted(set(raw) - set(TOP_KEYS))
    if unknown:
        raise WorkflowError(f"workflow: unknown top-level key(s) {', '.join(unknown)} (takes: {', '.join(TOP_KEYS)})")
    data = resolve_data(_table(raw.get("data", {}), "[data]"))
    factors = tuple(resolve_factor(t, i) for i, t in enumerate(_tables(raw.get("factors"), "[[factors]]")))
    models = tuple(resolve_model(t, i) for i, t in enumerate(_tables(raw.get("models"), "[[models]]")))
    names = [m.name for m in models]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise WorkflowError(f"workflow: model name(s) {', '.join(dupes)} used twice: give each [[models]] a name")
    backtests = tuple(resolve_backtest(t, i, names) for i, t in enumerate(_tables(raw.get("backtests"), "[[backtests]]")))
    reports = _table(raw.get("reports", {}), "[reports]")
    bad = sorted(set(reports) - {"backtest", "factors"})
    if bad:
        raise WorkflowError(f"workflow: [reports]: unknown key(s) {', '.join(bad)} (takes: backtest, factors)")
    if not all(isinstance(v, bool) for v in reports.values()):
        raise WorkflowError(f"workflow: [reports]: values must be true or false, got {reports!r}")
    if not (factors or models):
        raise WorkflowError("workflow: nothing to do: add [[factors]] or [[models]]")
    labels = [f.label for f in factors]
    for kind, names_ in (("[[factors]]", labels), ("[[backtests]]", [b.name for b in backtests])):
        twice = sorted({n for n in names_ if names_.count(n) > 1})
        if twice:
            raise WorkflowError(f"workflow: {kind} name(s) {', '.join(twice)} used twice: give each a name")
    description = raw.get("description", "")
    if not isinstance(description, str) or len(description) > 2000 or any(ord(c) < 32 and c not in "\n\t" for c in description):
        raise WorkflowError("workflow: description must be text (at most 2,000 characters, no control characters)")
    return Workflow(_label(raw.get("name", Path(path).stem if path else "workflow"), "name"), description,
                    data, factors, models, backtests,
                    {"backtest": bool(reports.get("backtest", True)), "factors": bool(reports.get("factors", True))},
                    text, path, tuple(overrides))


def load(path: str | os.PathLike, overrides: tuple[str, ...] | list[str] = ()) -> Workflow:
    """Read, override and resolve a workflow file (TOML, through ``flyer.core.config``'s reader)."""
    from flyer.core.config import parse_text, read_text

    p = Path(path).expanduser()
    text = read_text(p, what="workflow", suffixes=(".toml",))
    raw = parse_text(text, ".toml", f"workflow {p}")
    return resolve(apply_overrides(raw, tuple(overrides)), text=text, path=str(p), overrides=tuple(overrides))


def from_dict(raw: dict[str, Any], name: str = "workflow") -> Workflow:
    """A workflow built in Python (same tables as the file); ``text`` is its TOML-like JSON."""
    return resolve({"name": name, **raw}, text=json.dumps(raw, indent=1, default=_iso_default))
