"""Reads of alerts: what the Notifications page and the alert settings show, and what an
evaluation of a user's alerts reads (their rules, connections, accounts and yesterday's
balances). Never an Apprise URL: channels are read without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth.models import User
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from balances.models import (
    Account,
    Alert,
    AlertChannel,
    AlertDelivery,
    AlertMessage,
    AlertRule,
    AlertSettings,
    AlertState,
    BalanceSnapshot,
    NetWorthDay,
    PlaidItem,
    Profile,
)
from balances.selectors.raw import aware, table


def user_time_zone(*, user_id: int) -> tzinfo:
    """Return the zone the user chose in Settings, else the site's (TIME_ZONE)."""
    name = Profile.objects.filter(user_id=user_id).values_list("time_zone", flat=True).first()
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass  # a zone this machine's tz database lost: the site's, not a failure
    return timezone.get_default_timezone()


def alert_settings_for(*, user: User) -> AlertSettings:
    """Return the user's alert settings; an unsaved row of defaults (all on) if none yet."""
    return AlertSettings.objects.filter(user=user).first() or AlertSettings(user=user)


def alert_rules_for(*, user: User) -> QuerySet[AlertRule]:
    return AlertRule.objects.filter(owner=user).select_related("account", "account__item")


def alert_channels_for(*, user: User) -> QuerySet[AlertChannel]:
    """The user's push channels, without their (encrypted) URLs."""
    return AlertChannel.objects.filter(owner=user).defer("url_encrypted")


def notifications_for(*, user: User) -> QuerySet[Alert]:
    """The user's alerts, newest first, with their message (for the delivery states)."""
    return Alert.objects.filter(owner=user, message__is_test=False).select_related("message")


def deliveries_by_message(*, message_ids: Sequence[int]) -> dict[int, list[AlertDelivery]]:
    """Each message's deliveries (one query)."""
    out: dict[int, list[AlertDelivery]] = {}
    for delivery in AlertDelivery.objects.filter(message_id__in=message_ids).order_by("pk"):
        out.setdefault(delivery.message_id, []).append(delivery)
    return out


def unread_count(*, user: User) -> int:
    """Return how many of the user's alerts are unread (test alerts are not counted).

    Read on every page (the header), before its first byte: plain SQL, because the ORM
    took five times the statement's CPU to build this COUNT (0.86 against 0.17 ms)."""
    # Only the models' own names, quoted; the values are parameters.
    sql = (
        f"SELECT COUNT(*) FROM {table(Alert)} a JOIN {table(AlertMessage)} m "  # noqa: S608
        f"ON m.id = a.message_id WHERE a.owner_id = %s AND a.read_at IS NULL AND m.is_test = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [user.pk, False])
        (count,) = cursor.fetchone()
    return int(count)


def accounts_for_rules(*, user: User) -> QuerySet[Account]:
    """The user's accounts a rule may name (open, counted), with their bank."""
    return (
        Account.objects.counted()
        .filter(item__owner=user)
        .select_related("item")
        .order_by("item__institution_name", "name", "pk")
    )


# The evaluation's reads run after every refresh: written as SQL (through `raw()`, still
# model instances) because building each query through the ORM cost 0.5-2.5 ms of CPU,
# several times the query itself, against a refresh of about 13 ms (bench/alerts.py).
# Columns and conditions mirror the models' (`Account.objects.counted()` for accounts).


# One SQL statement and its parameters.
_Statement = tuple[str, list[Any]]

NET_WORTH_KIND = str(AlertRule.Kind.NET_WORTH_CHANGE.value)
DAY_BEFORE_KINDS = (str(AlertRule.Kind.DROP_AMOUNT.value), str(AlertRule.Kind.DROP_PERCENT.value))


def _rows(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@dataclass(frozen=True, slots=True)
class AlertChoices:
    """A user's connection alert choices, as an evaluation reads them."""

    login_required: bool = True
    revoked: bool = True
    expiring: bool = True
    new_accounts: bool = True
    not_refreshed: bool = True


@dataclass(frozen=True, slots=True)
class RuleFigures:
    """What an evaluation reads of one enabled rule (plain values: building model
    instances cost more than evaluating them)."""

    pk: int
    kind: str
    scope: str
    account_id: int | None
    account_type: str
    balance: str
    threshold: Decimal
    currency: str
    cooldown_hours: int


def _rules_sql(user_id: int) -> _Statement:
    """The user's enabled rules and the keys of their conditions that held at the last
    evaluation (the two in one UNION ALL: these few rows cost less than a statement)."""
    return (
        f"SELECT id, kind, scope, account_id, account_type, balance, threshold, currency, "  # noqa: S608
        f"cooldown_hours FROM {table(AlertRule)} WHERE owner_id = %s AND enabled "
        f"UNION ALL SELECT NULL, key, NULL, NULL, NULL, NULL, NULL, NULL, NULL "
        f"FROM {table(AlertState)} WHERE owner_id = %s AND holding",
        [user_id, user_id],
    )


def _rules(rows: list[tuple[Any, ...]]) -> tuple[list[RuleFigures], set[str]]:
    rules = sorted(
        (
            RuleFigures(
                pk,
                kind,
                scope,
                account_id,
                account_type,
                balance,
                _decimal(threshold) or Decimal(0),
                currency,
                cool,
            )
            for pk, kind, scope, account_id, account_type, balance, threshold, currency, cool in (
                row for row in rows if row[0] is not None
            )
        ),
        key=lambda rule: rule.pk,
    )
    return rules, {row[1] for row in rows if row[0] is None}


@dataclass(frozen=True, slots=True)
class ItemFigures:
    """What an evaluation reads of one Item."""

    pk: int
    institution_name: str
    institution_id: str
    status: str
    error_code: str
    last_refreshed_at: datetime | None
    warning_code: str
    expires_at: datetime | None
    new_accounts_available: bool
    created_at: datetime | None

    @property
    def display_name(self) -> str:
        """As `PlaidItem.display_name`."""
        return self.institution_name or self.institution_id or "Your bank"

    @property
    def is_active(self) -> bool:
        return self.status in PlaidItem.ACTIVE_STATUSES


def _items_sql(user_id: int) -> _Statement:
    """The user's Items with what their alerts read, each with the user's alert choices
    (joined: they only matter for the user's Items)."""
    return (
        f"SELECT i.id, i.institution_name, i.institution_id, i.status, i.error_code, "  # noqa: S608
        f"i.last_refreshed_at, i.warning_code, i.expires_at, i.new_accounts_available, "
        f"i.created_at, s.login_required, s.revoked, s.expiring, s.new_accounts, "
        f"s.not_refreshed FROM {table(PlaidItem)} i "
        f"LEFT JOIN {table(AlertSettings)} s ON s.user_id = i.owner_id "
        f"WHERE i.owner_id = %s ORDER BY i.id",
        [user_id],
    )


def _items(rows: list[tuple[Any, ...]]) -> tuple[AlertChoices, list[ItemFigures]]:
    """The alert choices (defaults, all on, if the user never saved any) and the Items."""
    choices = AlertChoices()
    if rows and rows[0][10] is not None:
        choices = AlertChoices(*(bool(v) for v in rows[0][10:15]))
    items = [
        ItemFigures(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            aware(row[5]),
            row[6],
            aware(row[7]),
            bool(row[8]),
            aware(row[9]),
        )
        for row in rows
    ]
    return choices, items


@dataclass(frozen=True, slots=True)
class AccountFigures:
    """What an evaluation reads of one account: plain values, no model instance (building
    instances was half the evaluation's CPU)."""

    pk: int
    item_id: int
    name: str
    mask: str
    type: str
    currency: str
    available: Decimal | None
    current: Decimal | None
    limit: Decimal | None
    day_before_available: Decimal | None = None
    day_before_current: Decimal | None = None

    def __str__(self) -> str:
        return f"{self.name} ••{self.mask}" if self.mask else self.name

    @property
    def is_liability(self) -> bool:
        return self.type in Account.LIABILITY_TYPES


def _decimal(value: object) -> Decimal | None:
    """A number as Decimal: PostgreSQL hands Decimals back, SQLite floats (as Django's own
    converter for SQLite does, through the float's shortest text)."""
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def _rule_of_kind(user_id: int, *, kinds: tuple[str, ...], negate: bool = False) -> _Statement:
    """The condition "the user has an enabled rule of one of `kinds`" (not of them, with
    `negate`), uncorrelated: the database evaluates it once per statement."""
    marks = ", ".join(["%s"] * len(kinds))
    return (
        f"EXISTS (SELECT 1 FROM {table(AlertRule)} r WHERE r.owner_id = %s AND r.enabled "  # noqa: S608
        f"AND r.kind {'NOT IN' if negate else 'IN'} ({marks}))",
        [user_id, *kinds],
    )


def _accounts_sql(user_id: int, day: date) -> _Statement:
    """The user's counted accounts (`Account.objects.counted()`), when a rule reads them
    (any but a net-worth rule); each with its balances at the end of the day before `day`
    (its last snapshot before `day` began, by the snapshots' (account, taken_at) index)
    when a rule compares with the day before, else NULL."""
    # Adapted as the ORM adapts it (SQLite compares naive UTC text).
    start = connection.ops.adapt_datetimefield_value(
        timezone.make_aware(datetime.combine(day, time.min))
    )
    drops, drop_params = _rule_of_kind(user_id, kinds=DAY_BEFORE_KINDS)
    wanted, wanted_params = _rule_of_kind(user_id, kinds=(NET_WORTH_KIND,), negate=True)
    before = (
        f"CASE WHEN {drops} THEN (SELECT s.{{0}} FROM {table(BalanceSnapshot)} s "  # noqa: S608
        f"WHERE s.account_id = a.id AND s.taken_at < %s ORDER BY s.taken_at DESC LIMIT 1) END"
    )
    return (
        f"SELECT a.id, a.item_id, a.name, a.mask, a.type, a.iso_currency_code, "  # noqa: S608
        f'a.unofficial_currency_code, a.available, a.current, a."limit", '
        f"{before.format('available')}, {before.format('current')} "
        f"FROM {table(Account)} a JOIN {table(PlaidItem)} i ON i.id = a.item_id "
        f"WHERE i.owner_id = %s AND a.closed_at IS NULL AND a.duplicate_of_id IS NULL "
        f"AND {wanted} ORDER BY a.id",
        [*drop_params, start, *drop_params, start, user_id, *wanted_params],
    )


def _accounts(rows: list[tuple[Any, ...]]) -> list[AccountFigures]:
    return [
        AccountFigures(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5] or row[6],
            _decimal(row[7]),
            _decimal(row[8]),
            _decimal(row[9]),
            _decimal(row[10]),
            _decimal(row[11]),
        )
        for row in rows
    ]


def _net_worth_sql(user_id: int, day: date) -> _Statement:
    """When the user has a net-worth rule: the daily totals of `day` and, per currency of
    them, the latest row before it."""
    days = table(NetWorthDay)
    columns = "currency, day = %s AS is_today, assets, liabilities"
    wanted, wanted_params = _rule_of_kind(user_id, kinds=(NET_WORTH_KIND,))
    return (
        f"SELECT currency, is_today, assets, liabilities FROM ("  # noqa: S608
        f"SELECT {columns} FROM {days} WHERE user_id = %s AND day = %s "
        f"UNION ALL SELECT {columns} FROM {days} p WHERE p.user_id = %s AND p.day = ("
        f"SELECT MAX(q.day) FROM {days} q WHERE q.user_id = p.user_id "
        f"AND q.currency = p.currency AND q.day < %s) "
        f"AND p.currency IN (SELECT t.currency FROM {days} t WHERE t.user_id = %s "
        f"AND t.day = %s)) nw WHERE {wanted}",
        [day, user_id, day, day, user_id, day, user_id, day, *wanted_params],
    )


def _net_worth(rows: list[tuple[Any, ...]]) -> dict[str, tuple[Decimal, Decimal]]:
    """Per currency with a daily total today: (net worth at the end of the day before, net
    worth today). A currency with no row today did not change today."""
    today: dict[str, Decimal] = {}
    before: dict[str, Decimal] = {}
    for currency, is_today, assets, liabilities in rows:
        figure = (_decimal(assets) or Decimal(0)) - (_decimal(liabilities) or Decimal(0))
        (today if is_today else before)[currency] = figure
    return {c: (before[c], today[c]) for c in today if c in before}


@dataclass(frozen=True, slots=True)
class EvaluationReads:
    """Everything an evaluation of one user's alerts reads."""

    choices: AlertChoices
    items: list[ItemFigures]
    rules: list[RuleFigures]  # enabled, oldest first
    holding: set[str]  # keys of the conditions that held at the last evaluation
    accounts: list[AccountFigures]  # none unless a rule reads accounts
    net_worth: dict[str, tuple[Decimal, Decimal]]  # empty unless a net-worth rule


def evaluation_reads(*, user_id: int, day: date) -> EvaluationReads:
    """Return what an evaluation of the user's alerts reads, `day` being today: alert
    choices and Items, enabled rules and the keys of conditions holding, counted accounts
    (with the day before's balances when a rule needs them) and net worth's change today
    (when a net-worth rule needs it).

    Cost: four statements, sent in one round trip on PostgreSQL (`_batch`): a round trip
    cost more of the worker's CPU than these reads of a few dozen rows. What a statement
    reads only for some rule is conditioned in SQL on such a rule existing, so a user
    without rules reads no account.
    """
    items, rules, accounts, net_worth = _batch(
        [
            _items_sql(user_id),
            _rules_sql(user_id),
            _accounts_sql(user_id, day),
            _net_worth_sql(user_id, day),
        ]
    )
    choices, item_figures = _items(items)
    rule_figures, holding = _rules(rules)
    return EvaluationReads(
        choices, item_figures, rule_figures, holding, _accounts(accounts), _net_worth(net_worth)
    )


def _batch(statements: list[_Statement]) -> list[list[tuple[Any, ...]]]:
    """Run `statements`, return the rows of each. On PostgreSQL in one round trip:
    Django's psycopg cursor binds parameters on the client, so statements joined by ";"
    go as one query string and come back as one result set each (`nextset`). Elsewhere
    one after the other (SQLite runs in-process: no round trip to save); so too on
    PostgreSQL with `server_side_binding`, which allows one statement per execute."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and not connection.settings_dict.get(
            "OPTIONS", {}
        ).get("server_side_binding"):
            cursor.execute(
                "; ".join(sql for sql, _ in statements),
                [param for _, params in statements for param in params],
            )
            results = [cursor.fetchall()]
            while cursor.nextset():
                results.append(cursor.fetchall())
            return results
        out = []
        for sql, params in statements:
            cursor.execute(sql, params)
            out.append(cursor.fetchall())
        return out


@dataclass(frozen=True, slots=True)
class StateFigures:
    """What an evaluation reads of one AlertState."""

    pk: int
    holding: bool
    fired_at: datetime | None


def alert_states(*, user_id: int) -> dict[str, StateFigures]:
    """The user's alert states by key (one query, no model instances)."""
    rows = _rows(
        f"SELECT key, id, holding, fired_at FROM {table(AlertState)} WHERE owner_id = %s",  # noqa: S608
        [user_id],
    )
    return {key: StateFigures(pk, bool(holding), aware(fired)) for key, pk, holding, fired in rows}


def recent_test_alerts(*, user: User, limit: int = 5) -> list[AlertDelivery]:
    """The user's latest test alerts, newest first (their state, for the settings page)."""
    return list(
        AlertDelivery.objects.filter(message__owner=user, message__is_test=True)
        .select_related("message")
        .order_by("-pk")[:limit]
    )
