"""Reads of a user's accounts: lists, the dashboard's groups, balances for totals; the
accounts entered by hand (ManualAccount) with them.

With `household=True`, the accounts others share with the user too (what is visible is
decided by `selectors/households.py` alone); each row then carries `owner_name`, the
owner's username, for the owner marker.

Totals themselves are computed by `balances.domain.totals` (no ORM).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from django.contrib.auth.models import User
from django.db.models import F, Min, OuterRef, Prefetch, QuerySet, Subquery

from balances.domain.duplicates import KeyedAccount, account_key, assign_household_duplicates
from balances.domain.groups import GROUP_OF_TYPE, GROUPS, LIABILITY_GROUPS, group_key
from balances.domain.totals import ordered
from balances.models import Account, BalanceSnapshot, ManualAccount, PlaidItem, Profile
from balances.selectors.households import account_q, manual_q
from balances.selectors.items import MaskRow


@dataclass
class AccountGroup:
    key: str
    label: str
    is_liability: bool
    # The accounts shown: all of them, or the largest when the group is cut short.
    accounts: list[Account] = field(default_factory=list)
    # The accounts entered by hand shown in the group (counted in `count` too).
    manual: list[ManualBalance] = field(default_factory=list)
    # Sum of `current` per currency (for liabilities: the amount owed), over all accounts.
    subtotals: list[Subtotal] = field(default_factory=list)
    count: int = 0  # open accounts in the group, shown or not

    @property
    def is_cut_short(self) -> bool:
        return self.count > len(self.accounts) + len(self.manual)


@dataclass
class Subtotal:
    currency: str
    currency_is_official: bool
    amount: Decimal


@dataclass(frozen=True, slots=True)
class AccountBalance:
    """What totals and groups need of an account: read as plain values, no model."""

    pk: int
    type: str
    currency: str
    currency_is_official: bool
    current: Decimal | None

    @property
    def is_liability(self) -> bool:
        return self.type in Account.LIABILITY_TYPES


@dataclass(frozen=True, slots=True)
class ManualBalance:
    """An account entered by hand as the dashboard shows it: read as plain values, no
    model (the same properties as ManualAccount's)."""

    pk: int
    name: str
    kind: str
    category: str
    iso_currency_code: str
    unofficial_currency_code: str
    value: Decimal
    value_as_of: date
    note: str
    owner_name: str = ""

    @property
    def currency(self) -> str:
        return self.iso_currency_code or self.unofficial_currency_code

    @property
    def currency_is_official(self) -> bool:
        return bool(self.iso_currency_code)

    @property
    def is_liability(self) -> bool:
        return self.kind == ManualAccount.Kind.LIABILITY

    @property
    def type(self) -> str:
        return ManualAccount.type_of(self.kind, self.category)

    @property
    def current(self) -> Decimal:
        return self.value

    @property
    def api_id(self) -> str:
        return f"m{self.pk}"

    @property
    def category_label(self) -> str:
        return str(ManualAccount.Category(self.category).label)

    @property
    def value_date(self) -> str:
        """The value's day as "Nov 30, 2026" (cheaper than the template's date filter)."""
        day = self.value_as_of
        return f"{day:%b} {day.day}, {day.year}"


MANUAL_BALANCE_FIELDS = (
    "pk",
    "name",
    "kind",
    "category",
    "iso_currency_code",
    "unofficial_currency_code",
    "value",
    "value_as_of",
    "note",
    "owner__username",
)


def item_for_user(*, user: User, pk: int) -> PlaidItem | None:
    """Return `user`'s Item `pk`, or None (another user's Item is None too)."""
    return PlaidItem.objects.filter(pk=pk, owner=user).first()


def open_accounts(*, item: PlaidItem) -> list[Account]:
    """Return the open accounts of `item`."""
    return list(item.accounts.filter(closed_at__isnull=True))


def snapshot_count(*, item: PlaidItem) -> int:
    """Return how many balance snapshots `item`'s accounts have (what unlinking deletes)."""
    return BalanceSnapshot.objects.filter(account__item=item).count()


def items_for_user(*, user: User) -> QuerySet[PlaidItem]:
    """Return `user`'s Items, by institution."""
    return PlaidItem.objects.filter(owner=user).order_by("institution_name", "pk")


def accounts_for_user(*, user: User, household: bool = False) -> QuerySet[Account]:
    """Return `user`'s open accounts (with `household`, those shared with them too) with
    their Items (and, for a copy of another connection's account, that account and its
    Item) and `owner_name`, in one query."""
    return (
        Account.objects.filter(account_q(user=user, household=household), closed_at__isnull=True)
        .select_related("item", "duplicate_of__item")
        .annotate(owner_name=F("item__owner__username"))
        .order_by("item__institution_name", "item_id", "name", "mask")
    )


API_ACCOUNT_FIELDS = (
    "item",
    "name",
    "official_name",
    "mask",
    "type",
    "subtype",
    "iso_currency_code",
    "unofficial_currency_code",
    "available",
    "current",
    "limit",
    "balances_updated_at",
    "closed_at",
)


def accounts_filtered(
    *,
    user: User,
    types: Sequence[str] = (),
    item_id: int | None = None,
    include_closed: bool = False,
    household: bool = False,
) -> QuerySet[Account]:
    """Return `user`'s accounts with their Items (one query), by institution, name and pk:
    open ones unless `include_closed`; only of `types` and of Item `item_id` when given.
    Never a copy of an account another connection holds (a bank linked twice): each
    account is listed once, so a script summing the list counts it once. With `household`,
    the accounts shared with `user` too (each with `owner_name`), never one counted under
    another member's connection (one query more)."""
    # Of the Item, only what the API shows (its name): Items carry tokens and error texts.
    qs = (
        Account.objects.in_history()
        .filter(account_q(user=user, household=household))
        .select_related("item")
        .only(*API_ACCOUNT_FIELDS, "item__institution_name", "item__institution_id")
        .annotate(owner_name=F("item__owner__username"))
    )
    if household:
        qs = qs.exclude(pk__in=household_copy_pks(user=user, household=True))
    if not include_closed:
        qs = qs.filter(closed_at__isnull=True)
    if types:
        qs = qs.filter(type__in=types)
    if item_id is not None:
        qs = qs.filter(item_id=item_id)
    return qs.order_by("item__institution_name", "item_id", "name", "mask", "pk")


def items_with_account_ids(*, user: User) -> QuerySet[PlaidItem]:
    """Return `user`'s Items by institution, each with `open_account_ids` (two queries)."""
    open_ids = Account.objects.filter(closed_at__isnull=True).only("pk", "item_id").order_by("pk")
    return items_for_user(user=user).prefetch_related(
        Prefetch("accounts", queryset=open_ids, to_attr="open_accounts")
    )


def balances_as_of(*, user: User, household: bool = False) -> datetime | None:
    """Return when the oldest balance counted in `user`'s totals was fetched (None without
    one): every figure of the totals is at least this recent. One aggregate query (reading
    the time of every account instead costs a timestamp conversion per row)."""
    return (
        Account.objects.counted()
        .filter(account_q(user=user, household=household), current__isnull=False)
        .aggregate(as_of=Min("balances_updated_at"))["as_of"]
    )


def account_balances(*, user: User, household: bool = False) -> list[AccountBalance]:
    """Return the balance of every account of `user` (with `household`, and of those
    shared with them) that totals count (open, not a copy of another connection's:
    `Account.objects.counted()`; in the household view, not an account another member's
    connection holds too: `HouseholdCopy`), in one query, no model instances: a fraction
    of the cost of `accounts_for_user` per account. Each account once, whatever the
    shares."""
    if household:
        return account_balances_and_masks(user=user, household=True).counted
    rows = (
        Account.objects.counted()
        .filter(account_q(user=user, household=False))
        .values_list("pk", "type", "iso_currency_code", "unofficial_currency_code", "current")
    )
    return [
        AccountBalance(pk, type_, iso or unofficial, bool(iso), current)
        for pk, type_, iso, unofficial, current in rows.order_by()
    ]


@dataclass(frozen=True, slots=True)
class HouseholdCopy:
    """An account of the household view that another member's connection holds too (a
    joint account both linked, each under their own login): listed, but counted under
    the other (`balances.domain.duplicates.assign_household_duplicates`)."""

    balance: AccountBalance
    counted_pk: int
    counted_owner: str  # the username of the counted account's owner


@dataclass(frozen=True)
class BalancesRead:
    """What `account_balances_and_masks` reads in its one query."""

    counted: list[AccountBalance]  # what totals count
    masks: list[MaskRow]  # the open accounts of the Items asked for, to label them
    copies: dict[int, HouseholdCopy]  # household view: account pk -> where it counts


_BALANCE_FIELDS = (
    "pk",
    "type",
    "iso_currency_code",
    "unofficial_currency_code",
    "current",
    "item_id",
    "mask",
    "duplicate_of_id",
    "duplicate_of__item_id",
)
# What the household view reads more, to find the accounts two members linked.
_HOUSEHOLD_FIELDS = (
    "item__institution_id",
    "item__created_at",
    "subtype",
    "name",
    "item__owner__username",
)


def account_balances_and_masks(
    *, user: User, household: bool = False, item_ids: Collection[int] = ()
) -> BalancesRead:
    """Return `account_balances(user=, household=)`, the open accounts of the Items
    `item_ids` as `selectors.items.MaskRow`s (to label connections at one institution),
    and in the household view the accounts counted under another member's connection
    (`copies`), in one query.

    With `item_ids` or `household`, the open accounts are read with their masks and the
    Item of the account each copies, copies too (the totals skip those); otherwise this
    is exactly `account_balances`. The query count stays the same whether or not a bank
    is linked twice, by one person or by two.
    """
    if not item_ids and not household:
        return BalancesRead(account_balances(user=user), [], {})
    fields = _BALANCE_FIELDS + (_HOUSEHOLD_FIELDS if household else ())
    rows = (
        Account.objects.filter(account_q(user=user, household=household), closed_at__isnull=True)
        .values_list(*fields)
        .order_by("mask", "pk")
    )
    balances: list[AccountBalance] = []
    masks: list[MaskRow] = []
    wanted = set(item_ids)
    household_rows: list[tuple[AccountBalance, tuple[Any, ...]]] = []
    for pk, type_, iso, unofficial, current, item_id, mask, copy_of, original, *more in rows:
        if copy_of is None:  # `Account.objects.counted()`: open, not a copy
            balance = AccountBalance(pk, type_, iso or unofficial, bool(iso), current)
            balances.append(balance)
            if household:
                household_rows.append((balance, (item_id, mask, type_, *more)))
        if item_id in wanted:
            masks.append((item_id, mask, original))
    copies = _household_copies(household_rows) if household_rows else {}
    if copies:
        balances = [b for b in balances if b.pk not in copies]
    return BalancesRead(balances, masks, copies)


def _household_copies(
    rows: Sequence[tuple[AccountBalance, tuple[Any, ...]]],
) -> dict[int, HouseholdCopy]:
    """The accounts of `rows` (counted ones of the household view, with their Item, mask,
    type, institution, Item's creation, subtype, name and owner) that another member's
    connection holds too, keyed by pk. No query."""
    owner_of: dict[int, str] = {}
    created: dict[int, datetime] = {}
    keyed: list[tuple[str, KeyedAccount]] = []
    for balance, (item_id, mask, type_, institution, created_at, subtype, name, owner) in rows:
        owner_of[balance.pk] = owner
        created[item_id] = created_at
        key = account_key(mask=mask, type_=type_, subtype=subtype, name=name)
        keyed.append((institution, KeyedAccount(balance.pk, item_id, key)))
    if len(set(owner_of.values())) < 2:
        return {}  # one person's accounts: their own copies are marked already
    order = sorted(created, key=lambda item_id: (created[item_id], item_id))
    found = assign_household_duplicates(keyed, item_order=order)
    copies: dict[int, HouseholdCopy] = {}
    for balance, _row in rows:
        counted = found.get(balance.pk)
        if counted is not None:
            counted_pk = cast(int, counted)
            copies[balance.pk] = HouseholdCopy(balance, counted_pk, owner_of[counted_pk])
    return copies


def household_copies(*, user: User) -> dict[int, HouseholdCopy]:
    """Return the accounts of `user`'s household view that count under another member's
    connection (`HouseholdCopy`), keyed by pk; one query."""
    return account_balances_and_masks(user=user, household=True).copies


def household_copy_pks(*, user: User, household: bool) -> list[int]:
    """Return the pks of `household_copies` in the household view (one query), none in
    the plain view (no query): what lists, history and exports leave out."""
    return list(household_copies(user=user)) if household else []


def mark_household_copies(accounts: Iterable[Account], copies: dict[int, HouseholdCopy]) -> None:
    """Set `household_copy` on each of `accounts` that counts under another member's
    connection (for the "also linked by" mark). No query."""
    if not copies:
        return
    for account in accounts:
        copy = copies.get(account.pk)
        if copy is not None:
            account.household_copy = copy  # type: ignore[attr-defined]


def group_accounts(
    accounts: Iterable[Account], *, main_currency: str = "USD"
) -> list[AccountGroup]:
    """Group accounts by type in display order, with per-currency subtotals; skip empty groups.

    Subtotals: official currencies first, `main_currency` leading; unofficial ones after.
    """
    accounts = list(accounts)
    groups = group_balances(accounts, main_currency=main_currency)
    attach_accounts(groups, accounts)
    return groups


def attach_accounts(groups: Iterable[AccountGroup], accounts: Iterable[Account]) -> None:
    """Set each group's shown accounts to those of `accounts` in it, in their order."""
    by_group: dict[str, list[Account]] = {}
    for account in accounts:
        by_group.setdefault(group_key(account), []).append(account)
    for group in groups:
        group.accounts = by_group.get(group.key, [])


def group_balances(
    balances: Iterable[Account | AccountBalance | ManualBalance], *, main_currency: str = "USD"
) -> list[AccountGroup]:
    """Return the non-empty groups in display order with their counts and per-currency
    subtotals, but no accounts attached (see `group_accounts`, `largest_per_group`)."""
    groups = {
        key: AccountGroup(key=key, label=label, is_liability=key in LIABILITY_GROUPS)
        for key, label, _ in GROUPS
    }
    subtotals: dict[tuple[str, str], Subtotal] = {}
    for account in balances:
        group = groups[group_key(account)]
        group.count += 1
        if account.current is None or not account.currency:
            continue
        subtotal = subtotals.get((group.key, account.currency))
        if subtotal is None:
            subtotal = Subtotal(account.currency, account.currency_is_official, Decimal(0))
            subtotals[(group.key, account.currency)] = subtotal
            group.subtotals.append(subtotal)
        subtotal.amount += account.current
    for group in groups.values():
        group.subtotals = ordered(group.subtotals, main_currency)
    return [group for group in groups.values() if group.count]


def attach_manual(
    groups: Iterable[AccountGroup], manual: Iterable[ManualBalance], *, limit: int | None = None
) -> None:
    """Set each group's manual accounts to those of `manual` in it (by name); with `limit`,
    its `limit` largest by value."""
    by_group: dict[str, list[ManualBalance]] = defaultdict(list)
    for account in manual:
        by_group[group_key(account)].append(account)
    for group in groups:
        members = by_group.get(group.key, [])
        if limit is not None and len(members) > limit:
            kept = set(sorted(members, key=lambda m: (-abs(m.value), m.pk))[:limit])
            members = [m for m in members if m in kept]
        group.manual = members


def manual_accounts_for_user(*, user: User, household: bool = False) -> QuerySet[ManualAccount]:
    """Return `user`'s accounts entered by hand (with `household`, those shared with them
    too, each with `owner_name`), by name (one query)."""
    return (
        ManualAccount.objects.filter(manual_q(user=user, household=household))
        .annotate(owner_name=F("owner__username"))
        .order_by("name", "pk")
    )


def manual_balances(*, user: User, household: bool = False) -> list[ManualBalance]:
    """Return `user`'s accounts entered by hand (with `household`, and those shared with
    them), by name, for totals, groups and the dashboard's rows (one query, plain values:
    their value is kept on the row)."""
    rows = manual_accounts_for_user(user=user, household=household).values_list(
        *MANUAL_BALANCE_FIELDS
    )
    return [ManualBalance(*row) for row in rows]


def manual_account_for_user(*, user: User, pk: int) -> ManualAccount | None:
    """Return `user`'s manual account `pk`, or None (another user's is None too)."""
    return ManualAccount.objects.filter(pk=pk, owner=user).first()


def largest_per_group(balances: Iterable[AccountBalance], *, limit: int) -> dict[str, list[int]]:
    """Return, per group key, the pks of its `limit` accounts of largest |current| (missing
    balances last), so a long group shows what weighs most."""
    by_group: dict[str, list[AccountBalance]] = defaultdict(list)
    for balance in balances:
        by_group[group_key(balance)].append(balance)

    def weight(b: AccountBalance) -> tuple[bool, Decimal, int]:
        return (b.current is None, -abs(b.current or Decimal(0)), b.pk)

    return {
        key: [b.pk for b in sorted(members, key=weight)[:limit]]
        for key, members in by_group.items()
    }


def accounts_in_group(*, user: User, key: str, household: bool = False) -> QuerySet[Account]:
    """Return `user`'s open accounts (with `household`, and those shared with them) of
    dashboard group `key`, by institution and name."""
    accounts = accounts_for_user(user=user, household=household)
    if key == "other":
        return accounts.exclude(type__in=GROUP_OF_TYPE)
    types = next(types for k, _, types in GROUPS if k == key)
    return accounts.filter(type__in=types)


def account_for_user(*, user: User, pk: int) -> Account | None:
    """Return `user`'s account `pk` (closed ones too) with its Item, or None."""
    return Account.objects.select_related("item").filter(pk=pk, item__owner=user).first()


def main_currency_for(*, user: User) -> str:
    """Return `user`'s main currency (USD until they choose one)."""
    currency = Profile.objects.filter(user=user).values_list("main_currency", flat=True).first()
    return main_currency_or_default(currency)


def main_currency_subquery() -> Subquery:
    """The main currency the user of the outer query chose (NULL or "" until they do), to
    read with something else in one query; pass the value to `main_currency_or_default`."""
    return Subquery(Profile.objects.filter(user=OuterRef("pk")).values("main_currency")[:1])


def main_currency_or_default(currency: str | None) -> str:
    """Return a user's main currency from their profile's value: USD until they choose."""
    return currency or "USD"


def time_zone_for(*, user: User) -> str:
    """Return the IANA name of `user`'s time zone ("" until they choose one)."""
    zone = Profile.objects.filter(user=user).values_list("time_zone", flat=True).first()
    return zone or ""


def currencies_for_user(*, user: User) -> list[str]:
    """Return the official currencies of `user`'s open accounts, sorted."""
    return sorted(
        set(
            Account.objects.filter(item__owner=user, closed_at__isnull=True)
            .exclude(iso_currency_code="")
            .values_list("iso_currency_code", flat=True)
        )
    )
