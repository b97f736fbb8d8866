"""How old a balance may be, and when a balance shows its own age.

- `min_last_updated_datetime`: the one rule of when `/accounts/balance/get` must carry
  `options.min_last_updated_datetime`. Plaid requires it when the Item is at Capital One
  (`ins_128026`) and any account asked for is not a depository account (a credit card, a
  loan): Capital One gives no real-time balance for those, and without the option Plaid
  answers 400 INVALID_REQUEST / INVALID_FIELD. Plaid ignores it everywhere else, so it is
  sent only where required.
- `balance_as_of`: a balance older than the refresh that stored it shows "as of …" with
  its own time, never the refresh's.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

# Plaid's institution id of Capital One.
CAPITAL_ONE = "ins_128026"
# The account type Capital One reports in real time; every other type needs the option.
REALTIME_TYPE = "depository"
# A balance read moments before its refresh stored it is as fresh as the refresh: Plaid's
# reading time and our clock differ by the call's duration (and the two clocks' skew).
SAME_TIME = timedelta(minutes=5)


def needs_min_last_updated(*, institution_id: str | None, account_types: Iterable[str]) -> bool:
    """Return whether a balance call for this Item must carry `min_last_updated_datetime`.

    `account_types`: the types of the Item's known accounts. None known yet (the first
    refresh) counts as possibly a card: at Capital One the option is sent, which is
    harmless for depository accounts (Plaid ignores it for them).
    """
    if institution_id != CAPITAL_ONE:
        return False
    types = set(account_types)
    return not types or bool(types - {REALTIME_TYPE})


def min_last_updated_datetime(
    *,
    institution_id: str | None,
    account_types: Iterable[str],
    now: datetime,
    max_age: timedelta,
) -> datetime | None:
    """Return the oldest balance time to accept (`now - max_age`), or None when the call
    must not carry the option (`needs_min_last_updated`). `now` must be timezone-aware."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not needs_min_last_updated(institution_id=institution_id, account_types=account_types):
        return None
    return now - max_age


def balance_as_of(
    balances_updated_at: datetime | None, refreshed_at: datetime | None
) -> datetime | None:
    """Return the balance's own time when it is older than the refresh that stored it
    (by more than `SAME_TIME`), else None (the refresh's time says how fresh it is)."""
    if balances_updated_at is None:
        return None
    if refreshed_at is None or balances_updated_at < refreshed_at - SAME_TIME:
        return balances_updated_at
    return None
