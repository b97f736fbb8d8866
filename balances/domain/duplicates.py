"""When two connections (Items) at one institution hold the same account: the one rule.

A bank linked twice reports its accounts under both Items, with different Plaid ids. An
account is the same as another when mask, type, subtype and name agree (names compared
without case or surrounding blanks); within the same pair of Items, accounts pair up one
to one, so two identical-looking accounts of one Item are never both taken for one.

Pure: no ORM. `balances.services.duplicates` applies it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

AccountKey = tuple[str, str, str, str]


def account_key(*, mask: str, type_: str, subtype: str, name: str) -> AccountKey:
    """Return what makes two accounts of one institution the same account."""
    return (mask.strip(), type_.strip().lower(), subtype.strip().lower(), name.strip().casefold())


@dataclass(frozen=True, slots=True)
class KeyedAccount:
    """An account as this rule sees it: its id, its Item's id, and its key."""

    id: Hashable
    item_id: Hashable
    key: AccountKey


def assign_duplicates(
    accounts: Iterable[KeyedAccount], *, item_order: Sequence[Hashable]
) -> dict[Hashable, Hashable]:
    """Return account id -> the id of the account it duplicates, for accounts that count
    under an earlier Item already.

    Items are taken in `item_order` (oldest first: the older connection's copy counts).
    Each account of an Item is matched, one to one, with a counted account of an earlier
    Item with the same key; unmatched ones count. Accounts of Items missing from
    `item_order` come after, by Item id as given. Deterministic: the same input (in any
    order) gives the same answer.
    """
    by_item: dict[Hashable, list[KeyedAccount]] = defaultdict(list)
    for account in accounts:
        by_item[account.item_id].append(account)
    order = list(dict.fromkeys(item_order))
    order += sorted((i for i in by_item if i not in set(order)), key=repr)
    counted: dict[AccountKey, list[KeyedAccount]] = defaultdict(list)
    duplicate_of: dict[Hashable, Hashable] = {}
    for item_id in order:
        mine = sorted(by_item.get(item_id, ()), key=lambda a: (a.key, repr(a.id)))
        taken: dict[AccountKey, int] = defaultdict(int)
        for account in mine:
            pool = counted[account.key]
            used = taken[account.key]
            if used < len(pool):
                duplicate_of[account.id] = pool[used].id
                taken[account.key] += 1
        for account in mine:
            if account.id not in duplicate_of:
                counted[account.key].append(account)
    return duplicate_of


def assign_household_duplicates(
    accounts: Iterable[tuple[str, KeyedAccount]], *, item_order: Sequence[Hashable]
) -> dict[Hashable, Hashable]:
    """Return account id -> the id of the account it duplicates, among the accounts of
    several people's connections (a household): a joint account each member linked under
    their own login is one account, counted under the oldest connection holding it.

    `accounts` are (institution id, account) pairs; accounts match only at one
    institution (Plaid's institution ids are the same for every login), by the rule of
    `assign_duplicates`, connections taken in `item_order` (oldest first: its history is
    the longest). An account whose institution is unknown ("") matches nothing. Feed it
    accounts that count for their own owner already (a copy within one person's
    connections is marked by `assign_duplicates` at link time).
    """
    by_institution: dict[str, list[KeyedAccount]] = defaultdict(list)
    for institution, account in accounts:
        if institution:
            by_institution[institution].append(account)
    duplicate_of: dict[Hashable, Hashable] = {}
    for members in by_institution.values():
        duplicate_of.update(assign_duplicates(members, item_order=item_order))
    return duplicate_of


def connection_label(name: str, masks: Sequence[str], *, shown: int = 4) -> str:
    """Return a connection's name with its accounts' masks, to tell two connections at
    one institution apart: "Chase (…0000, …3333)"; at most `shown` masks, then "…"."""
    if not masks:
        return f"{name} (no accounts)"
    listed = ", ".join(f"…{m}" for m in masks[:shown])
    more = ", …" if len(masks) > shown else ""
    return f"{name} ({listed}{more})"


def same_accounts(first: Iterable[AccountKey], second: Iterable[AccountKey]) -> bool:
    """Whether two connections hold the same accounts (as multisets of keys; never two
    empty ones: a connection without accounts duplicates nothing)."""
    a, b = sorted(first), sorted(second)
    return bool(a) and a == b


def shared_keys(first: Iterable[AccountKey], second: Iterable[AccountKey]) -> int:
    """Return how many accounts two connections share (pairing one to one)."""
    left: dict[AccountKey, int] = defaultdict(int)
    for key in first:
        left[key] += 1
    shared = 0
    for key in second:
        if left[key] > 0:
            left[key] -= 1
            shared += 1
    return shared
