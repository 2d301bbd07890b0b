"""Calling vendors that throttle and ban: pacing with jitter, backoff, a circuit breaker, stats.

Every network call of the akshare and baostock sources goes through one ``Caller``:
  1. ``Caller.pace``: at most one REQUEST per ``delay`` seconds to each vendor, each gap drawn
     uniformly from ``delay * (1 +- jitter)`` (Eastmoney bans bursts for hours; since 2025 even
     steady one-call-every-few-seconds crawls), vendors paced independently. A library call
     that sends several HTTP requests (Tencent: one per year, Sina: data and outstanding
     shares) is paced before each of them (``flyer.data.sources.net.bounded_requests``);
  2. ``Caller.call``: every request inside bounded by ``timeout`` seconds (connect, each read;
     ``net.bounded_requests``), what the library prints captured into the log
     (``net.captured_output``); retries on connection errors, timeouts, cut answers and
     malformed answers (a block page answered with HTTP 200), waiting ``backoff``, then twice
     that, ... (capped at ``max_backoff``);
  3. ``Breaker``: after ``breaker`` consecutive failed attempts a vendor is switched off for
     ``cooldown`` seconds; the next call after that is one trial (success closes it again). A
     vendor that answers "I have no such data" (``VendorNoData``) is not failing: not counted;
  4. ``VendorStats``: calls, requests, failures, breaker openings, symbols served and waits per
     vendor, printed as one summary line per vendor (``Caller.summary``).
The clock, the sleep and the random draws are parameters, so tests run on a fake clock.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flyer.data.sources.net import DEFAULT_TIMEOUT, bounded_requests, captured_output

from flyer.core.errors import FlyerError


class VendorError(FlyerError):
    """A vendor call that did not give an answer (after its retries, or its breaker is open)."""

    def __init__(self, vendor: str, message: str) -> None:
        super().__init__(message)
        self.vendor = vendor


class VendorDown(VendorError):
    """The vendor failed ``tries`` times in a row, or its circuit breaker is open."""


class VendorNoData(VendorError):
    """The vendor answered that it has no such data (e.g. Sina: "hfq factor not available"):
    the next vendor is asked; not a failure (no retry, not counted against the breaker)."""


class VendorSchemaError(VendorError):
    """The vendor answered with a frame whose columns are not the ones flyer reads (the vendor
    or the akshare version changed them); not retried, counted against the breaker."""


@dataclass(frozen=True)
class Politeness:
    """How gently to call a vendor. Seconds; ``jitter`` is a fraction of ``delay``."""

    delay: float = 3.0          # mean gap between two calls to one vendor
    jitter: float = 0.5         # each gap uniform in delay * [1 - jitter, 1 + jitter]
    tries: int = 3              # attempts per call
    backoff: float = 5.0        # wait before the first retry, doubling after
    max_backoff: float = 300.0
    breaker: int = 3            # consecutive failed attempts that switch a vendor off
    cooldown: float = 900.0     # how long it stays off before one trial call
    timeout: float = DEFAULT_TIMEOUT  # seconds to connect, and per read, of every request

    def __post_init__(self) -> None:
        if self.delay < 0 or not 0 <= self.jitter <= 1:
            raise ValueError(f"delay must be >= 0 and jitter in [0, 1], got {self.delay}, {self.jitter}")
        if self.tries < 1 or self.breaker < 1:
            raise ValueError(f"tries and breaker must be >= 1, got {self.tries}, {self.breaker}")
        if not 0 < self.timeout <= 600:
            raise ValueError(f"timeout must be in (0, 600] seconds, got {self.timeout}")


@dataclass
class VendorStats:
    """What happened with one vendor during a run."""

    calls: int = 0
    requests: int = 0           # HTTP requests those calls sent (0 for socket vendors)
    failures: int = 0
    opened: int = 0
    served: int = 0             # symbols (or indexes) whose rows came from this vendor
    fallbacks: int = 0          # of those, how many after another vendor had failed
    schema_errors: int = 0
    no_data: int = 0            # answers "no such data" (the next vendor was asked)
    printed: int = 0            # lines the library printed (captured into the log)
    waited: float = 0.0         # seconds slept for pacing and backoff
    last_error: str = ""

    def line(self, name: str) -> str:
        parts = [f"{self.calls} calls" + (f" ({self.requests} requests)" if self.requests > self.calls else ""),
                 f"{self.failures} failed"]
        if self.served:
            parts.append(f"{self.served} served" + (f" ({self.fallbacks} as fallback)" if self.fallbacks else ""))
        if self.opened:
            parts.append(f"breaker opened {self.opened}x")
        if self.schema_errors:
            parts.append(f"{self.schema_errors} answers with changed columns")
        if self.no_data:
            parts.append(f"{self.no_data} without the data asked for")
        parts.append(f"{self.waited:.0f}s waited")
        tail = f"; last error: {self.last_error}" if (self.failures or self.schema_errors) and self.last_error else ""
        return f"{name}: {', '.join(parts)}{tail}"


@dataclass
class Breaker:
    """Consecutive-failure circuit breaker of one vendor (step 3)."""

    limit: int
    cooldown: float
    failures: int = 0
    strikes: int = 0            # answers in a row whose columns were wrong (reset by a parsed answer)
    open_until: float | None = None

    def allows(self, now: float) -> bool:
        """False while open; after the cooldown one trial call is allowed (half-open)."""
        return self.open_until is None or now >= self.open_until

    def success(self) -> None:
        self.failures, self.open_until = 0, None

    def failure(self, now: float, schema: bool = False) -> bool:
        """Count a failed attempt (``schema``: an answer with the wrong columns); True when this
        one opened the breaker."""
        if schema:
            self.strikes += 1
        else:
            self.failures += 1
        half_open = self.open_until is not None  # a failed trial call re-opens at once
        if self.failures >= self.limit or self.strikes >= self.limit or half_open:
            self.open_until = now + self.cooldown
            self.failures = self.strikes = 0
            return True
        return False


def network_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the vendor did not answer properly": connection errors, timeouts,
    and a block page parsed as data (JSON/Key/Type/Value errors)."""
    try:
        import requests
        # RequestException: also an answer cut short (ChunkedEncodingError), a broken encoding
        net: tuple[type[BaseException], ...] = (requests.exceptions.RequestException,)
    except ImportError:  # pragma: no cover - requests comes with akshare
        net = ()
    return (*net, ConnectionError, TimeoutError, OSError, ValueError, KeyError, TypeError, IndexError)


@dataclass
class Caller:
    """Paced, retrying, breaker-guarded calls to named vendors (steps 1-4)."""

    policy: Politeness = field(default_factory=Politeness)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    retryable: tuple[type[BaseException], ...] = field(default_factory=network_errors)
    stats: dict[str, VendorStats] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)   # what readers noticed (units fixed, ...)
    _last: dict[str, float] = field(default_factory=dict)
    _breakers: dict[str, Breaker] = field(default_factory=dict)

    def vendor(self, name: str) -> VendorStats:
        return self.stats.setdefault(name, VendorStats())

    def breaker(self, name: str) -> Breaker:
        return self._breakers.setdefault(name, Breaker(self.policy.breaker, self.policy.cooldown))

    def available(self, name: str) -> bool:
        """Whether ``name``'s breaker lets a call through now."""
        return self.breaker(name).allows(self.clock())

    def _wait(self, name: str, seconds: float) -> None:
        if seconds > 0:
            self.vendor(name).waited += seconds
            self.sleep(seconds)

    def pace(self, name: str) -> None:
        """Step 1: sleep until this vendor's next call is due."""
        last = self._last.get(name)
        if last is not None and self.policy.delay > 0:
            gap = self.policy.delay * (1 + self.policy.jitter * self.rng.uniform(-1.0, 1.0))
            self._wait(name, last + gap - self.clock())
        self._last[name] = self.clock()

    def call(self, name: str, what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """``fn(**kwargs)`` at vendor ``name`` (steps 1-3); ``what`` names the call in errors.
        Raises ``VendorDown`` when the breaker is open or every try failed."""
        stats, breaker = self.vendor(name), self.breaker(name)
        wait = self.policy.backoff
        for attempt in range(1, self.policy.tries + 1):
            if not breaker.allows(self.clock()):
                raise VendorDown(name, f"{name} is switched off after repeated failures ({what}; last: {stats.last_error})")
            self.pace(name)
            stats.calls += 1
            said: list[str] = []
            try:
                out = self._bounded(name, fn, kwargs, said)
            except self.retryable as exc:
                stats.failures += 1
                stats.last_error = _one_line(exc) + (f" (it printed: {said[-1][:80]})" if said else "")
                if breaker.failure(self.clock()):
                    stats.opened += 1
                    raise VendorDown(name, f"{what} failed {attempt}x, {name} switched off for "
                                           f"{self.policy.cooldown:.0f}s ({stats.last_error})") from exc
                if attempt == self.policy.tries:
                    raise VendorDown(name, f"{what} failed after {attempt} tries ({stats.last_error})") from exc
                self._wait(name, min(wait, self.policy.max_backoff))
                wait *= 2
                continue
            breaker.success()
            return out
        raise AssertionError("unreachable")  # pragma: no cover

    def _bounded(self, name: str, fn: Callable[..., Any], kwargs: dict[str, Any], said: list[str]) -> Any:
        """``fn(**kwargs)`` with every request bounded and paced, the library's output captured."""
        stats = self.vendor(name)
        first = [True]

        def before_request() -> None:  # the call itself was paced before its first request
            stats.requests += 1
            if first[0]:
                first[0] = False
            else:
                self.pace(name)

        lines: list[str] = []
        try:
            with bounded_requests(self.policy.timeout, before_request), captured_output(
                    f"flyer.data.vendor.{name}") as lines:
                return fn(**kwargs)
        finally:
            said.extend(lines)
            stats.printed += len(lines)

    def no_data(self, name: str, message: str) -> VendorNoData:
        """Record a "no such data" answer (not a failure) and return the error to raise."""
        stats = self.vendor(name)
        stats.no_data += 1
        stats.last_error = message
        return VendorNoData(name, message)

    def schema_error(self, name: str, message: str) -> VendorSchemaError:
        """Record an answer whose columns changed (counts against the breaker) and return the error."""
        stats = self.vendor(name)
        stats.schema_errors += 1
        stats.last_error = message
        if self.breaker(name).failure(self.clock(), schema=True):
            stats.opened += 1
        return VendorSchemaError(name, message)

    def parsed(self, name: str) -> None:
        """The vendor's answer had the expected columns (resets the changed-columns count)."""
        self.breaker(name).strikes = 0

    def summary(self, prefix: str) -> tuple[str, ...]:
        """One line per vendor used (step 4)."""
        return tuple(f"{prefix} {s.line(name)}" for name, s in self.stats.items() if s.calls)


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
