"""The config base: one content hash, one file reader, one validation error for every config.

Every flyer config (backtest, costs, enhance, risk, model and training, features, ensemble,
factor set, nightly, workflow, experiment) is a frozen dataclass that inherits :class:`Config`:

* ``Config.from_dict(raw, where)`` builds it from a parsed mapping: unknown keys are refused,
  each value is coerced to its annotated type (``coerce``: dates from ISO text, floats from
  integers, finite numbers only, tuples from lists, nested configs from tables) and the
  dataclass's ``__post_init__`` checks ranges; every refusal is a :class:`ConfigError` that names
  the field (``where.key``) and exits 2.
* ``Config.from_file(path, table)`` reads a TOML or YAML file through :func:`read_file`.
* ``Config.to_dict()`` is the JSON-ready form; ``Config.identity()`` what the content key hashes
  (``to_dict()`` unless a config leaves labels out); ``Config.key()`` = ``content_key(identity())``.
* ``Config.replace(**changes)`` derives a new config (validated again); nothing is mutated.

``content_key(obj, digits)`` is the one content hash: sha256 of the canonical JSON (sorted keys,
no spaces, dates as ISO text) of ``obj``, cut to ``digits`` hex digits. ``read_file`` is the one
reader of TOML/YAML settings files, bounded in size and nesting, UTF-8 only.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import hashlib
import json
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from flyer.core.errors import FlyerError, UsageError

#: the largest settings file read (bytes) and the deepest nesting of tables and lists
MAX_FILE_BYTES = 2_000_000
MAX_DEPTH = 24
FILE_SUFFIXES = (".toml", ".yaml", ".yml")


class ConfigError(UsageError, ValueError):
    """A setting that is not valid (unknown key, wrong type, out of range, unreadable file):
    one line naming the field, exit 2. A ``ValueError`` too, for callers that validate values."""

    exit_code = 2


def check(ok: bool, where: str, message: str) -> None:
    """Raise ``ConfigError("<where>: <message>")`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"{where}: {message}" if where else message)


# ----------------------------------------------------------------------------- content keys
def to_jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON types: dates as ISO text, configs by ``to_dict``, dataclasses by
    field, mappings with string keys, tuples and sets as lists (sets sorted)."""
    if isinstance(obj, Config):
        return obj.to_dict()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (dt.date, dt.datetime)):
        return obj.isoformat()
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value)
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (set, frozenset)):
        return sorted(to_jsonable(v) for v in obj)
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return obj.item()
    return obj


def canonical_json(obj: Any) -> str:
    """Sorted keys, no spaces, plain JSON types (``to_jsonable``): equal content, equal text."""
    return json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"), allow_nan=True)


def content_key(obj: Any, digits: int = 12) -> str:
    """The content hash of ``obj``: the first ``digits`` hex digits of sha256 of its canonical
    JSON. The one way flyer names runs, backtests, experiments, factor sets and cache entries."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:digits]


def digest(data: bytes, digits: int = 16) -> str:
    """sha256 of raw bytes (array contents, file contents), ``digits`` hex digits."""
    return hashlib.sha256(data).hexdigest()[:digits]


# ------------------------------------------------------------------------------ file reader
def read_file(path: str | Path, *, what: str = "config", table: str | None = None) -> dict[str, Any]:
    """The settings mapping of a TOML (``.toml``) or YAML (``.yaml``/``.yml``) file.

    ``table``: when the file has a table of that name, that table is returned (a backtest
    config may sit under ``[backtest]``). Refused with a ``ConfigError`` (one line, exit 2):
    a missing file or a folder, another suffix, more than ``MAX_FILE_BYTES``, text that is not
    UTF-8, a parse error (with its line), nesting deeper than ``MAX_DEPTH``, a top level that is
    not a table.
    """
    p = Path(path).expanduser()
    text = read_text(p, what=what)
    data = parse_text(text, p.suffix.lower(), f"{what} {p}")
    if table is not None and isinstance(data.get(table), dict):
        return dict(data[table])
    return data


def read_text(path: str | Path, *, what: str = "config", suffixes: tuple[str, ...] = FILE_SUFFIXES) -> str:
    """The UTF-8 text of a settings file (the checks of ``read_file`` before parsing); a missing
    file is a ``FlyerError`` (exit 1), anything else a ``ConfigError`` (exit 2)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise FlyerError(f"{what} file not found: {p}")
    if not p.is_file():
        raise ConfigError(f"{what} {p} is a folder, not a file")
    if p.suffix.lower() not in suffixes:
        raise ConfigError(f"{what} file must be {' or '.join(suffixes)}: {p}")
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError(f"{what} {p} is {size:,} bytes: a settings file holds at most {MAX_FILE_BYTES:,}")
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{what} {p}: cannot read it: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {p} is not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    if "\x00" in text:
        raise ConfigError(f"{what} {p} holds a NUL byte: not a text settings file")
    return text


def parse_text(text: str, suffix: str, where: str) -> dict[str, Any]:
    """Parse TOML or YAML ``text`` (see ``read_file``)."""
    if _nesting(text) > 4 * MAX_DEPTH:  # cheap pre-check: no parser recursion on hostile input
        raise ConfigError(f"{where}: nested more than {MAX_DEPTH} levels deep")
    try:
        if suffix == ".toml":
            import tomllib

            data: Any = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply to read") from None
    except Exception as exc:  # noqa: BLE001 - tomllib / yaml parse errors of any kind: one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"{where}: cannot parse: {first}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the file must hold a table of settings, got {type(data).__name__}")
    if _depth(data) > MAX_DEPTH:
        raise ConfigError(f"{where}: nested more than {MAX_DEPTH} levels deep")
    return data


def parse_scalar(text: str) -> Any:
    """One TOML value written on a command line (``20``, ``true``, ``"x"``, ``2020-01-01``,
    ``[1, 2]``), else the text itself (``--set data.source=sim``)."""
    import tomllib

    if len(text) > 10_000 or _nesting(text) > MAX_DEPTH:
        raise ConfigError(f"value {text[:40]!r}...: too long or nested too deeply for a setting")
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):
        return text


def _nesting(text: str) -> int:
    """The deepest bracket nesting in ``text`` (an upper bound of a file's table depth)."""
    deepest = level = 0
    for ch in text:
        if ch in "[{":
            level += 1
            deepest = max(deepest, level)
        elif ch in "]}":
            level = max(level - 1, 0)
    return deepest


def _depth(obj: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(obj, dict):
        return max((_depth(v, level + 1) for v in obj.values()), default=level + 1)
    if isinstance(obj, list):
        return max((_depth(v, level + 1) for v in obj), default=level + 1)
    return level


# --------------------------------------------------------------------------------- coercion
def coerce(value: Any, hint: Any, name: str) -> Any:
    """``value`` as the annotated type ``hint`` (dates from ISO text, floats from integers and
    finite only, tuples from lists or comma-separated text, literals checked, nested configs
    from tables); a ``ConfigError`` naming ``name`` when it does not fit."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors: list[ConfigError] = []
        for a in (a for a in args if a is not type(None)):
            try:
                return coerce(value, a, name)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0] if errors else ConfigError(f"{name}: must not be empty")
    if origin is typing.Literal:
        if value in args and type(value) in {type(a) for a in args}:
            return value
        raise ConfigError(f"{name}: must be one of {', '.join(map(str, args))}, got {value!r}")
    if isinstance(hint, type) and issubclass(hint, Config):
        if isinstance(value, hint):
            return value
        if isinstance(value, Mapping):
            return hint.from_dict(value, name)
        raise ConfigError(f"{name}: must be a table of settings, got {value!r}")
    if hint is dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{name}: must be a date YYYY-MM-DD, got {_short(value)}")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name}: must be true or false, got {_short(value)}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
            return int(value)
        raise ConfigError(f"{name}: must be an integer, got {_short(value)}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(float(value)):
                raise ConfigError(f"{name}: must be a finite number, got {value!r}")
            return float(value)
        raise ConfigError(f"{name}: must be a number, got {_short(value)}")
    if hint is str:
        if isinstance(value, str):
            return value
        if hasattr(value, "__fspath__"):
            return str(value)
        raise ConfigError(f"{name}: must be a string, got {_short(value)}")
    if origin is tuple:
        items = [s.strip() for s in value.split(",") if s.strip()] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ConfigError(f"{name}: must be a list, got {_short(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(v, args[0], f"{name}[{i}]") for i, v in enumerate(items))
        if args and len(args) != len(items):
            raise ConfigError(f"{name}: must be a list of {len(args)} values, got {_short(value)}")
        return tuple(coerce(v, a, f"{name}[{i}]") for i, (v, a) in enumerate(zip(items, args))) if args else tuple(items)
    if origin in (dict, Mapping, typing.Mapping) or hint in (dict, Mapping):
        if isinstance(value, Mapping):
            return value
        raise ConfigError(f"{name}: must be a table, got {_short(value)}")
    if isinstance(hint, type) and not isinstance(value, hint):
        try:
            return hint(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{name}: {str(exc).splitlines()[0] if str(exc) else 'bad value'}") from None
    return value


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@functools.lru_cache(maxsize=None)
def field_hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of a dataclass's init fields."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


# ----------------------------------------------------------------------------------- base
C = TypeVar("C", bound="Config")


class Config:
    """Base of every frozen config dataclass (module docstring). Subclasses set ``SECTION``
    (the name a field path starts with, e.g. ``backtest``) and may override ``identity``,
    ``to_dict`` or ``normalise`` (rewrite a raw mapping before coercion: flat aliases)."""

    SECTION: ClassVar[str] = "config"

    # --- building
    @classmethod
    def normalise(cls, raw: dict[str, Any], where: str) -> dict[str, Any]:
        """Rewrite a raw mapping before coercion (default: as is)."""
        return raw

    @classmethod
    def from_dict(cls: type[C], raw: Mapping[str, Any] | None, where: str | None = None) -> C:
        """Build from a parsed mapping (see module docstring); ``where`` prefixes field names."""
        where = cls.SECTION if where is None else where
        if raw is None:
            raw = {}
        if isinstance(raw, cls):
            return raw
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where} must be a table of settings, got {_short(raw)}")
        data = cls.normalise({str(k): v for k, v in raw.items()}, where)
        hints = field_hints(cls)  # type: ignore[arg-type]  # a Config class is hashable
        unknown = sorted(k for k in data if k not in hints)
        if unknown:
            raise ConfigError(f"unknown setting(s) in {where or 'the top level'}: {', '.join(unknown)} "
                              f"(known: {', '.join(sorted(hints))})")
        values = {k: coerce(v, hints[k], _join(where, k)) for k, v in data.items()}
        try:
            return cls(**values)
        except ConfigError as exc:  # a check names "<SECTION>.field": name it by where it was read
            msg = str(exc)
            if where != cls.SECTION and msg.startswith(f"{cls.SECTION}."):
                msg = _join(where, msg[len(cls.SECTION) + 1:])
            raise ConfigError(msg) from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: {str(exc).splitlines()[0]}") from None

    @classmethod
    def from_file(cls: type[C], path: str | Path, table: str | None = None) -> C:
        """Read a TOML/YAML file (its ``table`` when present) and build from it."""
        return cls.from_dict(read_file(path, what=f"{cls.SECTION} config", table=table), cls.SECTION)

    def replace(self: C, **changes: Any) -> C:
        """A copy with ``changes`` (validated again by ``__post_init__``)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    # --- identity
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (dates as ISO text, nested configs as dicts)."""
        return {f.name: to_jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def identity(self) -> Any:
        """What ``key`` hashes (default: ``to_dict()``)."""
        return self.to_dict()

    def key(self) -> str:
        """Content key (12 hex digits) of ``identity()``."""
        return content_key(self.identity())


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
