"""The dashboard's figures, assembled once for the HTML page and the JSON endpoint.

A read-only composition of the other selectors (their JSON shape: `web/presenters.py`).
Cost: at most 8 queries whatever the number of accounts, Items or snapshots (profile,
balances, accounts shown, manual accounts, Items, history base, history days, and the
change's base when the period reaches before the chart's range), whether or not two of
the user's connections are at the same institution (their masks, to tell them apart, are
read with the balances).
The household view (`household=True`: the user's accounts and those shared with them)
reads the same, except its chart and change: the daily totals of the user and of every
owner sharing all with them, plus the snapshots of the accounts owners chose to share
(`history.household_series`: 2 to read the chosen accounts, 5 for the chart, 3 more for
a change before its range): 15 at most, still flat in the number of accounts, owners and
shares.
Rows read: the user's open accounts as plain values, their Items, their accounts entered
by hand (with their value on the row), and days x currencies of daily totals; model
instances and rendering only for what the page shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.contrib.auth.models import User
from django.utils import timezone

from balances.domain import periods
from balances.domain.totals import (
    CurrencyChange,
    CurrencyHistory,
    CurrencyTotals,
    totals_by_currency,
)
from balances.selectors import accounts, history, households
from balances.selectors.accounts import AccountGroup
from balances.selectors.items import ItemFreshness, items_freshness, twin_items


@dataclass(frozen=True)
class Dashboard:
    main_currency: str
    range_key: str
    period_key: str
    today: date
    totals: list[CurrencyTotals]
    changes: dict[str, CurrencyChange]
    groups: list[AccountGroup]
    items: list[ItemFreshness]  # every connection
    connections: list[ItemFreshness]  # the ones the page lists
    history: list[CurrencyHistory]
    pending: bool
    manual_count: int = 0  # accounts entered by hand
    household: bool = False  # the user's accounts and those shared with them
    has_household: bool = False  # someone shares with the user: the page offers the view

    @property
    def connections_hidden(self) -> int:
        return len(self.items) - len(self.connections)

    @property
    def range_label(self) -> str:
        return periods.RANGES[self.range_key][0]

    @property
    def period_label(self) -> str:
        return periods.PERIODS[self.period_key][0]

    @property
    def since(self) -> date:
        return periods.period_start(self.period_key, today=self.today)

    @property
    def headline(self) -> list[tuple[CurrencyTotals, CurrencyChange | None]]:
        """Return each currency's totals with its change, main currency first."""
        return [(t, self.changes.get(t.currency)) for t in self.totals]


def dashboard_for_user(
    *,
    user: User,
    range_key: str,
    period_key: str,
    accounts_per_group: int | None = None,
    connections_shown: int | None = None,
    household: bool = False,
) -> Dashboard:
    """Return everything the dashboard shows for `user`, in a fixed number of queries.

    `accounts_per_group` keeps the largest accounts of each group (all when None);
    `connections_shown` keeps every connection needing attention and fills up to that many
    with the rest (all when None). With both set, what the page renders stays bounded
    however many accounts the user has; totals and subtotals always count every account.
    With `household`, every figure is over the user's accounts and those shared with them
    (each once: a joint account two members linked counts under the older connection,
    `accounts.HouseholdCopy`, read with the balances); connections stay the user's own
    (an owner's connections, their errors and refreshes are never shown to a viewer).
    """
    today = timezone.localdate(timezone=timezone.get_default_timezone())
    # The Items first: a refresh that commits while this runs then shows as still pending
    # (the page polls and updates itself), never as done with its accounts not read yet.
    users_items = list(accounts.items_for_user(user=user))
    main_currency, shared_with_user = _main_currency_and_household(user)
    # The masks that tell two connections at one bank apart come with the balances: the
    # same number of queries whether or not a bank is linked twice.
    read = accounts.account_balances_and_masks(
        user=user, household=household, item_ids=[i.pk for i in twin_items(users_items)]
    )
    balances = read.counted
    items = items_freshness(users_items, mask_rows=read.masks)
    manual = accounts.manual_balances(user=user, household=household)
    totals = totals_by_currency([*balances, *manual], main_currency=main_currency)
    groups = accounts.group_balances([*balances, *manual], main_currency=main_currency)
    shown = accounts.accounts_for_user(user=user, household=household)
    if accounts_per_group is not None:
        largest = accounts.largest_per_group(balances, limit=accounts_per_group)
        shown = shown.filter(pk__in=[pk for pks in largest.values() for pk in pks])
    accounts.attach_accounts(groups, shown)
    accounts.mark_household_copies((a for g in groups for a in g.accounts), read.copies)
    accounts.attach_manual(groups, manual, limit=accounts_per_group)
    start = periods.range_start(range_key, today=today)
    # The accounts owners chose to share with the user, read once for chart and change.
    chosen = history.chosen_history_accounts(user=user) if household else None
    if household:
        series = history.household_series(
            user=user,
            start=start,
            end=today,
            main_currency=main_currency,
            chosen=chosen,
            copies=read.copies,
        )
    else:
        series = history.net_worth_series(
            user=user, start=start, end=today, main_currency=main_currency
        )
    since = periods.period_start(period_key, today=today)
    # The chart's days usually include `since`: read the change off them, saving a query.
    changes = history.net_worth_change_from_history(
        histories=series, totals=totals, since=since, start=start
    )
    if changes is None and household:
        changes = history.household_change(
            user=user, totals=totals, since=since, chosen=chosen, copies=read.copies
        )
    elif changes is None:
        changes = history.net_worth_change(user=user, totals=totals, since=since)
    return Dashboard(
        main_currency=main_currency,
        range_key=range_key,
        period_key=period_key,
        today=today,
        totals=totals,
        changes={c.currency: c for c in changes},
        groups=groups,
        items=items,
        connections=_connections(items, connections_shown),
        history=series,
        pending=any(f.item.is_refresh_pending for f in items),
        manual_count=len(manual),
        household=household,
        has_household=household or shared_with_user,
    )


def _main_currency_and_household(user: User) -> tuple[str, bool]:
    """Return `user`'s main currency (USD until they choose one) and whether someone shares
    their balances with them (the page offers "Household" then): one query for both."""
    row = (
        User.objects.filter(pk=user.pk)
        .annotate(
            currency=accounts.main_currency_subquery(),
            shared=households.has_household_expression(user=user),
        )
        .values_list("currency", "shared")
        .first()
    )
    currency, shared = row if row is not None else (None, False)
    return accounts.main_currency_or_default(currency), bool(shared)


def _connections(items: list[ItemFreshness], limit: int | None) -> list[ItemFreshness]:
    """Return the connections to show: all needing attention, then others up to `limit`."""
    if limit is None:
        return items
    room = limit - sum(1 for f in items if f.needs_attention)
    shown = []
    for entry in items:
        if entry.needs_attention:
            shown.append(entry)
        elif room > 0:
            shown.append(entry)
            room -= 1
    return shown
