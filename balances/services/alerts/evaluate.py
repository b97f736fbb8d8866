"""Evaluate a user's alerts: fire what starts to hold, re-arm what stops holding.

A condition ("Checking at Chase is below 100.00 USD", "Chase needs a new login") has a key
and, per user, an `AlertState`: whether it held at the last evaluation and when it last
fired. It fires when it holds now and did not before, and its cooldown (the rule's; none
for connections) has passed since it last fired; while it keeps holding it never fires
again. A condition that cannot be evaluated now (a balance the bank does not report, no
balance the day before) leaves its state as it is.

Only the conditions that hold, and those that held at the last evaluation (to re-arm them),
are made: the others would change nothing, and most conditions of most evaluations are
neither. (A state another evaluation set holding after this one read is left for the next
evaluation to re-arm.)

Cost: reads only, in the common case where nothing changed: the user's Items with their
alert choices, rules with the keys of states holding, accounts (with yesterday's balances
when a rule needs them) and daily totals (net-worth rules): four statements, one round
trip on PostgreSQL (`selectors.alerts.evaluation_reads`). Writes happen in a transaction
that first locks the user's AlertSettings row, so two workers evaluating one user (two of
their Items refreshed at once) never fire one alert twice.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache, partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from balances.models import Account, AlertRule, AlertSettings, AlertState, PlaidItem
from balances.selectors import alerts as selectors
from balances.selectors.alerts import AccountFigures, RuleFigures
from balances.services.alerts import record
from balances.services.alerts.condition import Condition
from balances.services.alerts.render import money, percent

logger = logging.getLogger(__name__)

# "Consent expiring": Plaid's notice is 7 days; an expiry further out is not news yet.
EXPIRY_NOTICE = timedelta(days=7)
EXPIRY_CODES = ("PENDING_EXPIRATION", "PENDING_DISCONNECT")
HUNDRED = Decimal(100)
# The choices as plain strings, read once: an enum member's lookup costs more than the
# comparison it feeds, and the evaluation makes hundreds of them.
NET_WORTH_CHANGE = str(AlertRule.Kind.NET_WORTH_CHANGE.value)
UTILIZATION = str(AlertRule.Kind.UTILIZATION.value)
UTILIZATION_TOTAL = str(AlertRule.Kind.UTILIZATION_TOTAL.value)
BALANCE_BELOW = str(AlertRule.Kind.BALANCE_BELOW.value)
DROP_AMOUNT = str(AlertRule.Kind.DROP_AMOUNT.value)
SCOPE_ACCOUNT = str(AlertRule.Scope.ACCOUNT.value)
SCOPE_TYPE = str(AlertRule.Scope.TYPE.value)
AVAILABLE = str(AlertRule.Balance.AVAILABLE.value)
CREDIT = str(Account.Type.CREDIT.value)


def user_alerts_evaluate(*, user_id: int, now: datetime | None = None) -> int:
    """Evaluate every alert of the user now; record those that fire. Return how many fired.

    Recording queues their delivery when the transaction commits (`record.py`).
    """
    now = now or timezone.now()
    conditions, holding = _conditions(user_id, now)
    if all(c.holding == (c.key in holding) for c in conditions):
        return 0  # the common case: nothing started or stopped holding, nothing written
    with transaction.atomic():
        # The per-user lock: evaluations of one user run one after the other from here.
        lock = AlertSettings.objects.select_for_update().filter(user_id=user_id).values("pk")
        if not list(lock):
            AlertSettings.objects.get_or_create(user_id=user_id)
            list(lock.all())
        states = selectors.alert_states(user_id=user_id)
        fired, touched, created = _changes(conditions, states, now)
        if touched:
            _states_update(touched)
        if created:
            AlertState.objects.bulk_create(
                [AlertState(owner_id=user_id, **c) for c in created], ignore_conflicts=False
            )
        if fired:
            # The words name times in the user's zone (Settings), as the pages do.
            with timezone.override(selectors.user_time_zone(user_id=user_id)):
                fired = [c.filled() for c in fired]
            record.alerts_record(user_id=user_id, fired=fired, now=now)
    if fired:
        logger.info("User %s: %d alert(s) fired", user_id, len(fired))
    return len(fired)


def _changes(
    conditions: Iterable[Condition], states: dict[str, selectors.StateFigures], now: datetime
) -> tuple[
    list[Condition], list[tuple[bool, datetime | None, datetime, int]], list[dict[str, Any]]
]:
    """Return (conditions that fire, states to update as (holding, fired_at, changed_at,
    pk), states to create)."""
    fired: list[Condition] = []
    touched: list[tuple[bool, datetime | None, datetime, int]] = []
    created: list[dict[str, Any]] = []
    for condition in conditions:
        state = states.get(condition.key)
        was = state is not None and state.holding
        if condition.holding == was:
            continue
        fires = False
        if condition.holding:
            last = state.fired_at if state is not None else None
            fires = last is None or now - last >= condition.cooldown
            if fires:
                fired.append(condition)
        if state is None:
            created.append(
                {
                    "key": condition.key,
                    "holding": True,
                    "fired_at": now if fires else None,
                    "changed_at": now,
                }
            )
            continue
        touched.append((condition.holding, now if fires else state.fired_at, now, state.pk))
    return fired, touched, created


def _states_update(rows: list[tuple[bool, datetime | None, datetime, int]]) -> None:
    """Update the states' (holding, fired_at, changed_at) by pk in one `executemany`
    (`bulk_update`'s CASE expressions cost ~1 ms of CPU to build for a few rows)."""
    adapt = connection.ops.adapt_datetimefield_value
    table = connection.ops.quote_name(AlertState._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET holding = %s, fired_at = %s, changed_at = %s WHERE id = %s",  # noqa: S608
            [(holding, adapt(fired), adapt(changed), pk) for holding, fired, changed, pk in rows],
        )


def _conditions(user_id: int, now: datetime) -> tuple[list[Condition], set[str]]:
    """Every condition of the user now, and the keys of those that held before."""
    read = selectors.evaluation_reads(user_id=user_id, day=timezone.localdate(now))
    conditions = list(_connection_conditions(read.choices, read.items, now, read.holding))
    banks = {item.pk: item.display_name for item in read.items}
    for rule in read.rules:
        conditions.extend(
            _rule_conditions(rule, read.accounts, banks, read.net_worth, read.holding)
        )
    return conditions, read.holding


_Words = Callable[[selectors.ItemFigures], tuple[str, str]]


def _connection_conditions(
    prefs: selectors.AlertChoices,
    items: list[selectors.ItemFigures],
    now: datetime,
    holding: set[str],
) -> Iterator[Condition]:
    stale_before = now - timedelta(hours=settings.ALERT_NOT_REFRESHED_HOURS)
    connections = _path("connections")
    # (key suffix, on, whether it holds for an Item, its words, the link's label)
    checks: list[tuple[str, bool, Callable[[selectors.ItemFigures], bool], _Words, str]] = [
        ("login", prefs.login_required, _needs_login, _login_words, "Reconnect"),
        ("revoked", prefs.revoked, _is_revoked, _revoked_words, "Link it again"),
        (
            "expiring",
            prefs.expiring,
            partial(_is_expiring, now=now),
            _expiring_words,
            "Reconnect",
        ),
        ("new_accounts", prefs.new_accounts, _has_new_accounts, _new_accounts_words, "Add them"),
        (
            "stale",
            prefs.not_refreshed,
            partial(_is_stale, before=stale_before),
            _stale_words,
            "See your connections",
        ),
    ]
    checks = [check for check in checks if check[1]]
    for item in items:
        prefix = f"item:{item.pk}:"
        for suffix, _on, test, words, label in checks:
            key = prefix + suffix
            holds = test(item)
            if holds or key in holding:  # else nothing to fire or re-arm: no Condition
                yield Condition(
                    key,
                    holds,
                    item_id=item.pk,
                    link=connections,
                    link_label=label,
                    words=partial(words, item),
                )


def _needs_login(item: selectors.ItemFigures) -> bool:
    return item.status == PlaidItem.Status.LOGIN_REQUIRED


def _is_revoked(item: selectors.ItemFigures) -> bool:
    return item.status == PlaidItem.Status.REVOKED


def _is_expiring(item: selectors.ItemFigures, *, now: datetime) -> bool:
    return expiry_notice_due(item.warning_code, item.expires_at, now)


def _has_new_accounts(item: selectors.ItemFigures) -> bool:
    return item.new_accounts_available


def _is_stale(item: selectors.ItemFigures, *, before: datetime) -> bool:
    last = item.last_refreshed_at or item.created_at
    return item.is_active and last is not None and last < before


def expiry_notice_due(warning_code: str, expires_at: datetime | None, now: datetime) -> bool:
    """Whether an Item's consent expiry is news at `now`: Plaid warned of it and it ends
    within EXPIRY_NOTICE (or Plaid did not say when)."""
    return warning_code in EXPIRY_CODES and (
        expires_at is None or expires_at <= now + EXPIRY_NOTICE
    )


def _login_words(item: selectors.ItemFigures) -> tuple[str, str]:
    bank = item.display_name
    return (
        f"{bank} needs you to log in again",
        f"{bank} stopped sharing balances until you log in again "
        f"({item.error_code or 'ITEM_LOGIN_REQUIRED'}). Balances shown are from "
        f"{_when(item.last_refreshed_at)}.",
    )


def _revoked_words(item: selectors.ItemFigures) -> tuple[str, str]:
    bank = item.display_name
    return (
        f"Access to {bank} was revoked",
        f"Access to {bank} was revoked at the bank; link it again to keep its balances up to date.",
    )


def _expiring_words(item: selectors.ItemFigures) -> tuple[str, str]:
    bank = item.display_name
    return (
        f"{bank}'s connection expires soon",
        f"Your consent for {bank} ends on {_when(item.expires_at)} ({item.warning_code}); "
        f"log in again before then to keep it working.",
    )


def _new_accounts_words(item: selectors.ItemFigures) -> tuple[str, str]:
    bank = item.display_name
    return (
        f"{bank} has new accounts",
        f"{bank} has accounts you have not added yet; choose whether to share them.",
    )


def _stale_words(item: selectors.ItemFigures) -> tuple[str, str]:
    bank = item.display_name
    return (
        f"{bank} has not refreshed since {_when(item.last_refreshed_at)}",
        f"{bank}'s balances were last refreshed {_when(item.last_refreshed_at)}, more "
        f"than {settings.ALERT_NOT_REFRESHED_HOURS} hours ago, although it should "
        f"refresh every {settings.BALANCE_REFRESH_INTERVAL // 60} minutes.",
    )


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M %Z}"


def _in_scope(rule: RuleFigures, accounts: list[AccountFigures]) -> list[AccountFigures]:
    if rule.scope == SCOPE_ACCOUNT:
        scoped = [a for a in accounts if a.pk == rule.account_id]
    elif rule.scope == SCOPE_TYPE:
        scoped = [a for a in accounts if a.type == rule.account_type]
    elif rule.kind in (UTILIZATION, UTILIZATION_TOTAL):
        scoped = [a for a in accounts if a.type == CREDIT]
    else:
        # "All accounts" of a balance rule: what you hold, not what you owe.
        scoped = [a for a in accounts if not a.is_liability]
    if rule.currency:
        return [a for a in scoped if a.currency == rule.currency]
    return scoped


def _account_label(account: AccountFigures, banks: dict[int, str]) -> str:
    return f"{account} at {banks.get(account.item_id, 'your bank')}"


@cache
def _path(name: str, pk: int | None = None, group: str | None = None) -> str:
    """A page's path, reversed once per process (reversing costs more than a comparison)."""
    if pk is not None:
        return reverse(name, kwargs={"pk": pk})
    if group is not None:
        return reverse(name, kwargs={"group": group})
    return reverse(name)


# Words (titles, texts: formatted amounts, links) are made only for conditions that hold:
# most conditions of most evaluations do not, and the words cost more than the comparison.


def _rule_conditions(
    rule: RuleFigures,
    accounts: list[AccountFigures],
    banks: dict[int, str],
    net_worth: dict[str, tuple[Decimal, Decimal]],
    holding: set[str],
) -> Iterator[Condition]:
    """Yield the rule's conditions that hold, and those that stopped holding (their keys
    are in `holding`); the others would change nothing."""
    kind, threshold = rule.kind, rule.threshold
    cooldown = timedelta(hours=rule.cooldown_hours)
    if kind == NET_WORTH_CHANGE:
        for currency, (before, after) in sorted(net_worth.items()):
            if not before:
                continue
            key = f"rule:{rule.pk}:{currency}"
            change = (after - before) / abs(before) * HUNDRED
            if abs(change) <= threshold:
                if key in holding:
                    yield Condition(key, False, cooldown=cooldown, rule_id=rule.pk)
                continue
            yield Condition(
                key,
                True,
                link=_path("dashboard"),
                link_label="See your net worth",
                cooldown=cooldown,
                rule_id=rule.pk,
                words=partial(_net_worth_words, change, before, after, currency, threshold),
            )
        return
    scoped = _in_scope(rule, accounts)
    if kind == UTILIZATION_TOTAL:
        owed: dict[str, Decimal] = defaultdict(Decimal)
        limits: dict[str, Decimal] = defaultdict(Decimal)
        for account in scoped:
            if account.current is not None and account.limit:
                owed[account.currency] += account.current
                limits[account.currency] += account.limit
        for currency in sorted(limits):
            key = f"rule:{rule.pk}:{currency}"
            used = owed[currency] / limits[currency] * HUNDRED
            if used <= threshold:
                if key in holding:
                    yield Condition(key, False, cooldown=cooldown, rule_id=rule.pk)
                continue
            yield Condition(
                key,
                True,
                link=_path("account_group", group="credit"),
                link_label="See your cards",
                cooldown=cooldown,
                rule_id=rule.pk,
                words=partial(
                    _total_words, used, owed[currency], limits[currency], currency, threshold
                ),
            )
        return
    which = "available" if rule.balance == AVAILABLE else "current"
    for account in scoped:
        key = f"rule:{rule.pk}:account:{account.pk}"
        currency = account.currency
        if kind == UTILIZATION:
            current, limit = account.current, account.limit
            if current is None or not limit:
                continue
            used = current / limit * HUNDRED
            holds = used > threshold
            words = partial(_utilization_words, used, current, limit, currency, threshold)
        else:
            value = account.available if which == "available" else account.current
            if value is None:
                continue  # the bank reports no such balance: nothing to compare
            if kind == BALANCE_BELOW:
                holds = value < threshold
                words = partial(_below_words, which, value, currency, threshold)
            else:
                was: Decimal | None = getattr(account, f"day_before_{which}", None)
                if was is None:
                    continue  # no balance the day before: no change to measure
                drop = was - value
                if kind == DROP_AMOUNT:
                    holds = drop > threshold
                elif was <= 0:
                    continue
                else:
                    holds = drop / was * HUNDRED > threshold
                words = partial(_fell_words, which, was, value, currency, rule, threshold)
        if not holds:
            if key in holding:
                yield Condition(
                    key, False, cooldown=cooldown, rule_id=rule.pk, account_id=account.pk
                )
            continue
        yield Condition(
            key,
            True,
            link=_path("account_detail", pk=account.pk),
            link_label="See the account",
            cooldown=cooldown,
            rule_id=rule.pk,
            account_id=account.pk,
            words=partial(_labelled, words, account, banks),
        )


def _labelled(
    words: Callable[[], tuple[str, str]], account: AccountFigures, banks: dict[int, str]
) -> tuple[str, str]:
    title, text = words()
    label = _account_label(account, banks)
    return f"{label}: {title}", text.replace("{label}", label)


def _net_worth_words(
    change: Decimal, before: Decimal, after: Decimal, currency: str, threshold: Decimal
) -> tuple[str, str]:
    word = "rose" if change > 0 else "fell"
    return (
        f"Net worth {word} {percent(abs(change))} today ({currency})",
        f"Your net worth in {currency} {word} from {money(before, currency)} to "
        f"{money(after, currency)} ({percent(abs(change))}), more than your alert "
        f"at {percent(threshold)}.",
    )


def _total_words(
    used: Decimal, owed: Decimal, limit: Decimal, currency: str, threshold: Decimal
) -> tuple[str, str]:
    return (
        f"Credit utilization {percent(used)} over all cards",
        f"Your cards in {currency} use {money(owed, currency)} of "
        f"{money(limit, currency)} ({percent(used)}), above your alert "
        f"at {percent(threshold)}.",
    )


def _fell_words(
    which: str,
    before: Decimal,
    value: Decimal,
    currency: str,
    rule: RuleFigures,
    threshold: Decimal,
) -> tuple[str, str]:
    drop = before - value
    share = f" ({percent(drop / before * HUNDRED)})" if before > 0 else ""
    shown = (
        money(threshold, currency)
        if rule.kind == AlertRule.Kind.DROP_AMOUNT
        else percent(threshold)
    )
    return (
        f"{which} balance fell {money(drop, currency)}",
        f"The {which} balance of {{label}} fell from {money(before, currency)} at the end of "
        f"yesterday to {money(value, currency)}{share}, more than your alert at {shown}.",
    )


def _utilization_words(
    used: Decimal, current: Decimal, limit: Decimal, currency: str, threshold: Decimal
) -> tuple[str, str]:
    return (
        f"credit utilization {percent(used)}",
        f"{{label}} uses {money(current, currency)} of its {money(limit, currency)} "
        f"limit ({percent(used)}), above your alert at {percent(threshold)}.",
    )


def _below_words(which: str, value: Decimal, currency: str, threshold: Decimal) -> tuple[str, str]:
    return (
        f"{which} balance {money(value, currency)}",
        f"The {which} balance of {{label}} is {money(value, currency)}, below your alert "
        f"at {money(threshold, currency)}.",
    )
