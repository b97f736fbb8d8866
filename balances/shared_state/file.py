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

from balances.shared_state.base import SharedStateUnavailable


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

    def take(self, limits: Sequence[tuple[str, int]], window: float) -> float:
        with self._state() as state:
            now = time.time()
            wait = 0.0
            logs: list[list[float]] = []
            for key, limit in limits:
                log = [t for t in state.get(key, {}).get("z", []) if t > now - window]
                logs.append(log)
                if len(log) >= limit:
                    wait = max(wait, log[0] + window - now)
            if wait > 0:
                return wait
            for (key, _), log in zip(limits, logs, strict=True):
                state[key] = {"z": [*log, now], "exp": now + window}
            return 0.0
