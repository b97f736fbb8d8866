"""Enforce Plaid's per-Item and per-client rate limits (requests per minute).

Fixed one-minute windows on the emulator clock (so ``/emulator/clock`` can
reset them), one counter per (endpoint, scope). Cost: one dict update under a
small lock per limited request.
"""

from __future__ import annotations

import threading

from .errors import PlaidAPIError

# endpoint -> mode -> (per Item, per client)
LIMITS: dict[str, dict[str, tuple[int, int]]] = {
    "/accounts/balance/get": {"production": (5, 1200), "sandbox": (25, 100)},
    "/accounts/get": {"production": (15, 15000), "sandbox": (100, 5000)},
    "/item/get": {"production": (15, 5000), "sandbox": (40, 5000)},
    "/item/remove": {"production": (30, 2000), "sandbox": (100, 500)},
}
# endpoint -> (per-Item error code, per-client error code)
CODES: dict[str, tuple[str, str]] = {
    "/accounts/balance/get": ("BALANCE_LIMIT", "ACCOUNTS_BALANCE_GET_LIMIT"),
    "/accounts/get": ("ACCOUNTS_LIMIT", "ACCOUNTS_LIMIT"),
    "/item/get": ("ITEM_GET_LIMIT", "ITEM_GET_LIMIT"),
    "/item/remove": ("RATE_LIMIT", "RATE_LIMIT"),
}


class RateLimiter:
    """Count requests per minute window and raise RATE_LIMIT_EXCEEDED over the limit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], tuple[int, int]] = {}

    def check(
        self, mode: str, endpoint: str, client_id: str, item_id: str | None, now: float
    ) -> None:
        """Count this request; raise ``PlaidAPIError`` (HTTP 429) when over a limit."""
        if mode == "off":
            return
        limits = LIMITS.get(endpoint, {}).get(mode)
        if limits is None:
            return
        window = int(now // 60)
        item_code, client_code = CODES[endpoint]
        with self._lock:
            if item_id is not None and not self._hit(
                (endpoint, "item:" + item_id), window, limits[0]
            ):
                raise PlaidAPIError(item_code, _message(endpoint, "item", limits[0]))
            if not self._hit((endpoint, "client:" + client_id), window, limits[1]):
                raise PlaidAPIError(client_code, _message(endpoint, "client", limits[1]))

    def _hit(self, key: tuple[str, str], window: int, limit: int) -> bool:
        start, count = self._counts.get(key, (window, 0))
        if start != window:
            start, count = window, 0
        if count >= limit:
            self._counts[key] = (start, count)
            return False
        self._counts[key] = (start, count + 1)
        return True

    def reset(self) -> None:
        """Forget all counters."""
        with self._lock:
            self._counts.clear()


def _message(endpoint: str, scope: str, limit: int) -> str:
    return (
        f"rate limit exceeded for {endpoint}: at most {limit} requests per minute per {scope}. "
        "please try again later"
    )
