"""A bank linked twice never counts twice: mark the copies (`Account.duplicate_of`).

The rule (which account is the same as which, and which copy counts) is
`balances.domain.duplicates`; every total reads `Account.objects.counted()`, which leaves
the marked copies out.
"""

from __future__ import annotations

import logging

from django.db import transaction

from balances.domain.duplicates import (
    AccountKey,
    KeyedAccount,
    account_key,
    assign_duplicates,
    same_accounts,
)
from balances.models import Account, PlaidItem
from balances.plaid.types import AccountsResult
from balances.services import net_worth

logger = logging.getLogger(__name__)


def keys_of_reply(result: AccountsResult) -> list[AccountKey]:
    """Return the keys of the accounts in one Plaid accounts reply."""
    return [
        account_key(mask=a.mask or "", type_=a.type, subtype=a.subtype or "", name=a.name or "")
        for a in result.accounts
    ]


def keys_of(account: Account) -> AccountKey:
    """Return the key of a stored account."""
    return account_key(
        mask=account.mask, type_=account.type, subtype=account.subtype, name=account.name
    )


def item_accounts_register(*, item: PlaidItem, result: AccountsResult) -> int:
    """Store the accounts of `result` (a `/accounts/get` reply for `item`) that `item` does
    not have yet: what they are, without balances (the first refresh stores those, with
    their snapshots and daily totals, as for any new account); return how many.

    So the duplicate guard can mark copies before any balance is counted.
    """
    known = set(Account.objects.filter(item=item).values_list("plaid_account_id", flat=True))
    new = [
        Account(
            item=item,
            plaid_account_id=remote.account_id,
            name=remote.name,
            official_name=remote.official_name or "",
            mask=remote.mask or "",
            type=remote.type,
            subtype=remote.subtype or "",
            iso_currency_code=remote.balances.iso_currency_code or "",
            unofficial_currency_code=remote.balances.unofficial_currency_code or "",
        )
        for remote in result.accounts
        if remote.account_id not in known
    ]
    Account.objects.bulk_create(new)
    return len(new)


def accounts_mark_duplicates(*, user_id: int, institution_id: str, rebuild: bool = True) -> int:
    """Mark which of the user's open accounts at `institution_id` are copies of an account
    another (older) connection holds, and unmark those that no longer are; rebuild the
    user's daily totals when a mark changed (unless not `rebuild`: the caller does).
    Return the number of accounts whose mark
    changed.

    Call in the transaction that changed the accounts. Cost: one query for the accounts,
    one UPDATE per changed mark, and a rebuild of the daily totals when any changed
    (O(accounts x days): linking and unlinking only).
    """
    if not institution_id:
        return 0
    with transaction.atomic():
        items = list(
            PlaidItem.objects.select_for_update()
            .filter(owner_id=user_id, institution_id=institution_id)
            .order_by("created_at", "pk")
            .values_list("pk", flat=True)
        )
        accounts = list(
            Account.objects.filter(item_id__in=items, closed_at__isnull=True).only(
                "pk", "item_id", "mask", "type", "subtype", "name", "duplicate_of_id"
            )
        )
        wanted = assign_duplicates(
            (KeyedAccount(a.pk, a.item_id, keys_of(a)) for a in accounts), item_order=items
        )
        changed = 0
        for account in accounts:
            target = wanted.get(account.pk)
            if account.duplicate_of_id != target:
                Account.objects.filter(pk=account.pk).update(duplicate_of_id=target)
                changed += 1
        if changed:
            logger.info(
                "User %s: %s account mark(s) of a bank linked twice changed", user_id, changed
            )
            if rebuild:
                net_worth.net_worth_rebuild(user_id=user_id)
    return changed


def item_find_same(
    *, user_id: int, institution_id: str, keys: list[AccountKey]
) -> PlaidItem | None:
    """Return the user's oldest connection at `institution_id` whose open accounts are
    exactly `keys` (a new link of it adds nothing), or None."""
    if not institution_id or not keys:
        return None
    items = PlaidItem.objects.filter(owner_id=user_id, institution_id=institution_id).order_by(
        "created_at", "pk"
    )
    by_item: dict[int, list[AccountKey]] = {}
    for account in Account.objects.filter(item__in=items, closed_at__isnull=True):
        by_item.setdefault(account.item_id, []).append(keys_of(account))
    for item in items:
        if same_accounts(by_item.get(item.pk, []), keys):
            return item
    return None
