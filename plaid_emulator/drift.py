"""Move balances deterministically over time (seeded, bounded, smooth).

A balance at time ``t`` is ``base * (1 + offset(t))``, where ``offset`` is
value noise: a pseudo-random knot per account per hour (and per day, larger),
keyed by ``(seed, account_id, knot)`` and linearly interpolated between knots.
So the value is a pure function of seed, account and time: two emulators with
the same seed agree, a restart changes nothing, and each refresh shows a small
change. Cost: four cached hash look-ups per account per read.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from .accounts import Account

HOUR = 3600.0
DAY = 86400.0
HOURLY_AMPLITUDE = 0.02  # +-2 % hour to hour
DAILY_AMPLITUDE = 0.06  # +-6 % day to day; total bounded by +-8 %
DEBT_TYPES = frozenset({"credit", "loan"})


@lru_cache(maxsize=1 << 16)
def _knot(seed: int, account_id: str, scale: str, index: int) -> float:
    """Return a pseudo-random number in [-1, 1] for one knot (cached)."""
    raw = hashlib.blake2b(f"{seed}:{account_id}:{scale}:{index}".encode(), digest_size=8)
    return int.from_bytes(raw.digest(), "big") / float(1 << 63) - 1.0


def _noise(seed: int, account_id: str, scale: str, t: float, period: float) -> float:
    pos = t / period
    index = int(pos // 1)
    frac = pos - index
    a = _knot(seed, account_id, scale, index)
    b = _knot(seed, account_id, scale, index + 1)
    return a + (b - a) * frac


def offset(seed: int, account_id: str, t: float) -> float:
    """Return the relative balance offset of ``account_id`` at epoch time ``t``."""
    return HOURLY_AMPLITUDE * _noise(seed, account_id, "h", t, HOUR) + DAILY_AMPLITUDE * _noise(
        seed, account_id, "d", t, DAY
    )


def _round(value: float, account: Account) -> float:
    # Crypto keeps 8 decimals; money keeps cents.
    return round(value, 8 if account.unofficial_currency_code else 2)


def balances_at(
    account: Account, seed: int, t: float, t0: float, frozen: bool
) -> tuple[float | None, float | None]:
    """Return ``(available, current)`` of ``account`` at time ``t``.

    ``t0`` is when the Item was linked: the offset is measured relative to it,
    so a fresh Item starts exactly at its base balances. Credit and loan
    balances (amounts owed) stay positive.
    """
    if frozen or account.current is None:
        return account.available, account.current
    rel = offset(seed, account.account_id, t) - offset(seed, account.account_id, t0)
    current = account.current * (1.0 + rel)
    delta = current - account.current
    if account.type in DEBT_TYPES:
        current = max(current, 0.01) if account.current > 0 else max(current, 0.0)
        available = None
        if account.available is not None:
            available = account.available - delta
            if account.limit is not None:
                available = min(max(available, 0.0), account.limit)
        return (None if available is None else _round(available, account)), _round(current, account)
    available = None if account.available is None else account.available + delta
    return (None if available is None else _round(available, account)), _round(current, account)
