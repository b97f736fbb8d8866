"""Reads for the exports: every account and every snapshot of a user, streamed in order;
the accounts entered by hand and their dated values. With `household`, those shared with
the user too (`selectors/households.py` decides), each with its owner's username
(`owner_name`, or the last value of a snapshot row)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import User
from django.db.models import F

from balances.models import Account, BalanceSnapshot, ManualAccount, ManualValue
from balances.selectors.accounts import household_copy_pks
from balances.selectors.households import account_q, manual_q

# taken_at, institution, account name, mask, type, ISO currency, unofficial currency,
# available, current, limit.
SnapshotRow = tuple[
    datetime, str, str, str, str, str, str, Decimal | None, Decimal | None, Decimal | None
]
# A SnapshotRow and the account owner's username.
OwnedSnapshotRow = tuple[
    datetime, str, str, str, str, str, str, Decimal | None, Decimal | None, Decimal | None, str
]


def accounts_for_export(*, user: User, household: bool = False) -> Iterator[Account]:
    """Yield `user`'s accounts (closed ones too) with their Items, by institution and name;
    streamed 500 rows at a time. A copy of an account another connection holds (a bank
    linked twice, or in the household view by two members) is left out: each account is
    in the export once."""
    accounts = (
        Account.objects.in_history()
        .filter(account_q(user=user, household=household))
        .exclude(pk__in=household_copy_pks(user=user, household=household))
        .select_related("item")
        .annotate(owner_name=F("item__owner__username"))
        .order_by("item__institution_name", "item_id", "name", "mask")
    )
    return accounts.iterator(chunk_size=500)


def snapshots_for_export(*, user: User, household: bool = False) -> Iterator[OwnedSnapshotRow]:
    """Yield every balance snapshot of `user`'s accounts, oldest first, as plain values;
    streamed 2,000 rows at a time. Never one of a copy of an account another connection
    holds, by the same person or another member of the household (the history counts each
    account once)."""
    snapshots = (
        BalanceSnapshot.objects.filter(
            account_q(user=user, household=household, prefix="account__"),
            account__duplicate_of__isnull=True,
        )
        .exclude(account_id__in=household_copy_pks(user=user, household=household))
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
            "account__item__owner__username",
        )
    )
    return snapshots.iterator(chunk_size=2000)


def manual_accounts_for_export(*, user: User, household: bool = False) -> Iterator[ManualAccount]:
    """Yield `user`'s accounts entered by hand, by name; streamed 500 rows at a time."""
    return (
        ManualAccount.objects.filter(manual_q(user=user, household=household))
        .annotate(owner_name=F("owner__username"))
        .order_by("name", "pk")
        .iterator(chunk_size=500)
    )


def manual_values_for_export(*, user: User, household: bool = False) -> Iterator[ManualValue]:
    """Yield every value of `user`'s accounts entered by hand with its account, oldest day
    first; streamed 2,000 rows at a time."""
    values = (
        ManualValue.objects.filter(manual_q(user=user, household=household, prefix="account__"))
        .select_related("account")
        .annotate(owner_name=F("account__owner__username"))
        .order_by("as_of", "entered_at", "pk")
    )
    return values.iterator(chunk_size=2000)
