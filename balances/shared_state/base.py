"""What a shared-state store offers (`Store`), and the error every backend raises."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class SharedStateUnavailable(Exception):
    """The shared state's store (Redis, or the file without it) is unusable."""


class Store(Protocol):
    def set_if_absent(self, key: str, value: str, ttl: float) -> bool: ...
    def set(self, key: str, value: str, ttl: float) -> None: ...
    def delete(self, key: str, value: str | None = None) -> None: ...
    def remaining(self, key: str) -> float: ...
    def take(
        self, limits: Sequence[tuple[str, int]], window: float, *, space: bool = False
    ) -> float: ...


def line_up(due: float, line: float, spacing: float) -> float:
    """Return when a refused call is to come back (`take(space=True)`): when the window
    has room (`due`), and no sooner than `spacing` after the caller refused before it,
    who comes back at `line` (0: nobody waits)."""
    return max(due, line + spacing)
