"""The store without Redis (`make run`'s file broker): one JSON file guarded by `flock`,
correct across the processes of one machine only.

Each call is one locked read-modify-write of a small file.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from balances.shared_state.base import SharedStateUnavailable, line_up


class FileStore:
    """The Redis store's semantics in one JSON file, for a single machine without Redis."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _state(self) -> Iterator[dict[str, Any]]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path.with_suffix(".lock"), "a+") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    state: dict[str, Any] = json.loads(self.path.read_text() or "{}")
                except (FileNotFoundError, ValueError):
                    state = {}
                now = time.time()
                state = {k: v for k, v in state.items() if v["exp"] > now}
                yield state
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(state))
                os.replace(tmp, self.path)
        except OSError as exc:
            raise SharedStateUnavailable(f"Shared state file unusable: {exc}") from exc

    def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        with self._state() as state:
            if key in state:
                return False
            state[key] = {"v": value, "exp": time.time() + ttl}
            return True

    def set(self, key: str, value: str, ttl: float) -> None:
        with self._state() as state:
            state[key] = {"v": value, "exp": time.time() + ttl}

    def delete(self, key: str, value: str | None = None) -> None:
        with self._state() as state:
            if key in state and (value is None or state[key].get("v") == value):
                del state[key]

    def remaining(self, key: str) -> float:
        with self._state() as state:
            return max(0.0, state[key]["exp"] - time.time()) if key in state else 0.0

    def take(
        self, limits: Sequence[tuple[str, int]], window: float, *, space: bool = False
    ) -> float:
        with self._state() as state:
            now = time.time()
            wait, binding = 0.0, 0
            logs: list[list[float]] = []
            for i, (key, limit) in enumerate(limits):
                log = [t for t in state.get(key, {}).get("z", []) if t > now - window]
                logs.append(log)
                if len(log) >= limit and log[0] + window - now > wait:
                    wait, binding = log[0] + window - now, i
            if wait > 0:
                if not space:
                    return wait
                key, limit = limits[binding]
                entry = state[key]  # present: its log is full
                due = line_up(now + wait, entry.get("n", 0.0), window / limit)
                entry.update(n=due, exp=max(entry["exp"], due + window))
                return due - now
            for (key, _), log in zip(limits, logs, strict=True):
                line = state.get(key, {}).get("n", 0.0)
                state[key] = {"z": [*log, now], "exp": max(now, line) + window, "n": line}
            return 0.0
