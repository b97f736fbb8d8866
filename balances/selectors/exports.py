"""Reads for the exports: every account and every snapshot of a user, streamed in order;
the accounts entered by hand and their dated values."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import User

from balances.models import Account, BalanceSnapshot, ManualAccount, ManualValue

# taken_at, institution, account name, mask, type, ISO currency, unofficial currency,
# available, current, limit.
SnapshotRow = tuple[
    datetime, str, str, str, str, str, str, Decimal | None, Decimal | None, Decimal | None
]


def accounts_for_export(*, user: User) -> Iterator[Account]:
    """Yield `user`'s accounts (closed ones too) with their Items, by institution and name;
    streamed 500 rows at a time. A copy of an account another connection holds (a bank
    linked twice) is left out: each account is in the export once."""
    accounts = (
        Account.objects.in_history()
        .filter(item__owner=user)
        .select_related("item")
        .order_by("item__institution_name", "item_id", "name", "mask")
    )
    return accounts.iterator(chunk_size=500)


def snapshots_for_export(*, user: User) -> Iterator[SnapshotRow]:
    """Yield every balance snapshot of `user`'s accounts, oldest first, as plain values;
    streamed 2,000 rows at a time. Never one of a copy of an account another connection
    holds (the history counts each account once)."""
    snapshots = (
        BalanceSnapshot.objects.filter(
            account__item__owner=user, account__duplicate_of__isnull=True
        )
        .order_by("taken_at", "account_id", "pk")
        .values_list(
            "taken_at",
            "account__item__institution_name",
            "account__name",
            "account__mask",
            "account__type",
            "account__iso_currency_code",
            "account__unofficial_currency_code",
            "available",
            "current",
            "limit",
        )
    )
    return snapshots.iterator(chunk_size=2000)


def manual_accounts_for_export(*, user: User) -> Iterator[ManualAccount]:
    """Yield `user`'s accounts entered by hand, by name; streamed 500 rows at a time."""
    return ManualAccount.objects.filter(owner=user).order_by("name", "pk").iterator(chunk_size=500)


def manual_values_for_export(*, user: User) -> Iterator[ManualValue]:
    """Yield every value of `user`'s accounts entered by hand with its account, oldest day
    first; streamed 2,000 rows at a time."""
    values = (
        ManualValue.objects.filter(account__owner=user)
        .select_related("account")
        .order_by("as_of", "entered_at", "pk")
    )
    return values.iterator(chunk_size=2000)
