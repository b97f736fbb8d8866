"""A store in this process's memory: the last resort of callers that must stay bounded when
Redis (or the file) is unusable. Never shared: what it holds binds one process only.

Each call takes one `threading.Lock`; expired entries are dropped on access and swept once
the store holds more than `SWEEP_AT` keys, so its memory stays bounded by what was written
within the longest TTL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from balances.shared_state.base import line_up

SWEEP_AT = 10_000


class MemoryStore:
    """The Redis store's semantics in one dict, for one process (thread-safe)."""

    def __init__(self) -> None:
        self._state: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _live(self, key: str, now: float) -> dict[str, Any] | None:
        entry = self._state.get(key)
        if entry is not None and entry["exp"] <= now:
            del self._state[key]
            return None
        return entry

    def _sweep(self, now: float) -> None:
        if len(self._state) > SWEEP_AT:
            self._state = {k: v for k, v in self._state.items() if v["exp"] > now}

    def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        with self._lock:
            now = time.time()
            if self._live(key, now) is not None:
                return False
            self._sweep(now)
            self._state[key] = {"v": value, "exp": now + ttl}
            return True

    def set(self, key: str, value: str, ttl: float) -> None:
        with self._lock:
            now = time.time()
            self._sweep(now)
            self._state[key] = {"v": value, "exp": now + ttl}

    def delete(self, key: str, value: str | None = None) -> None:
        with self._lock:
            entry = self._live(key, time.time())
            if entry is not None and (value is None or entry.get("v") == value):
                del self._state[key]

    def remaining(self, key: str) -> float:
        with self._lock:
            now = time.time()
            entry = self._live(key, now)
            return max(0.0, entry["exp"] - now) if entry is not None else 0.0

    def take(
        self, limits: Sequence[tuple[str, int]], window: float, *, space: bool = False
    ) -> float:
        with self._lock:
            now = time.time()
            wait, binding = 0.0, 0
            logs: list[list[float]] = []
            for i, (key, limit) in enumerate(limits):
                entry = self._live(key, now) or {}
                log = [t for t in entry.get("z", []) if t > now - window]
                logs.append(log)
                if len(log) >= limit and log[0] + window - now > wait:
                    wait, binding = log[0] + window - now, i
            if wait > 0:
                if not space:
                    return wait
                key, limit = limits[binding]
                entry = self._state[key]  # live: its log is full
                due = line_up(now + wait, entry.get("n", 0.0), window / limit)
                entry.update(n=due, exp=max(entry["exp"], due + window))
                return due - now
            self._sweep(now)
            for (key, _), log in zip(limits, logs, strict=True):
                line = (self._live(key, now) or {}).get("n", 0.0)
                self._state[key] = {"z": [*log, now], "exp": max(now, line) + window, "n": line}
            return 0.0
