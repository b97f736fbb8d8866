"""Reads of alerts: what the Notifications page and the alert settings show, and what an
evaluation of a user's alerts reads (their rules, connections, accounts and yesterday's
balances). Never an Apprise URL: channels are read without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth.models import User
from django.db import connection, models
from django.db.models import QuerySet
from django.utils import timezone

from balances.models import (
    Account,
    Alert,
    AlertChannel,
    AlertDelivery,
    AlertRule,
    AlertSettings,
    AlertState,
    BalanceSnapshot,
    NetWorthDay,
    PlaidItem,
    Profile,
)


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
    return Alert.objects.filter(owner=user, read_at__isnull=True, message__is_test=False).count()


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


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _rows(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _aware(value: datetime | None) -> datetime | None:
    """A stored time as an aware datetime (SQLite hands back naive UTC)."""
    if value is None or timezone.is_aware(value):
        return value
    return timezone.make_aware(value, UTC)


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


def evaluation_rules(*, user_id: int) -> tuple[list[RuleFigures], set[str]]:
    """The user's enabled rules, oldest first, and the keys of the user's conditions that
    held at their last evaluation. Cost: one query (the two reads in one UNION ALL: a
    round trip costs more CPU than these few rows)."""
    rows = _rows(
        f"SELECT id, kind, scope, account_id, account_type, balance, threshold, currency, "  # noqa: S608
        f"cooldown_hours FROM {_table(AlertRule)} WHERE owner_id = %s AND enabled "
        f"UNION ALL SELECT NULL, key, NULL, NULL, NULL, NULL, NULL, NULL, NULL "
        f"FROM {_table(AlertState)} WHERE owner_id = %s AND holding",
        [user_id, user_id],
    )
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


def evaluation_items(*, user_id: int) -> tuple[AlertChoices, list[ItemFigures]]:
    """The user's alert choices (defaults, all on, if they never saved any) and Items, with
    what their alerts read. Cost: one query (the choices joined to each Item: they only
    matter for the user's Items)."""
    rows = _rows(
        f"SELECT i.id, i.institution_name, i.institution_id, i.status, i.error_code, "  # noqa: S608
        f"i.last_refreshed_at, i.warning_code, i.expires_at, i.new_accounts_available, "
        f"i.created_at, s.login_required, s.revoked, s.expiring, s.new_accounts, "
        f"s.not_refreshed FROM {_table(PlaidItem)} i "
        f"LEFT JOIN {_table(AlertSettings)} s ON s.user_id = i.owner_id "
        f"WHERE i.owner_id = %s ORDER BY i.id",
        [user_id],
    )
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
            _aware(row[5]),
            row[6],
            _aware(row[7]),
            bool(row[8]),
            _aware(row[9]),
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


def evaluation_accounts(*, user_id: int, day: date | None = None) -> list[AccountFigures]:
    """The user's counted accounts (`Account.objects.counted()`); with `day`, each also
    carries its balances at the end of the day before `day` (its last snapshot before
    `day` began; None if it has none). Cost: one query (two correlated subqueries on the
    snapshots' (account, taken_at) index with `day`)."""
    columns = (
        "a.id, a.item_id, a.name, a.mask, a.type, a.iso_currency_code, "
        'a.unofficial_currency_code, a.available, a.current, a."limit"'
    )
    params: list[Any] = []
    if day is not None:
        # Adapted as the ORM adapts it (SQLite compares naive UTC text).
        start = connection.ops.adapt_datetimefield_value(
            timezone.make_aware(datetime.combine(day, time.min))
        )
        snapshots = _table(BalanceSnapshot)
        before = (
            f"(SELECT s.{{0}} FROM {snapshots} s WHERE s.account_id = a.id AND s.taken_at < %s "  # noqa: S608
            f"ORDER BY s.taken_at DESC LIMIT 1)"
        )
        columns += f", {before.format('available')}, {before.format('current')}"
        params += [start, start]
    params.append(user_id)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM {_table(Account)} a "  # noqa: S608
            f"JOIN {_table(PlaidItem)} i ON i.id = a.item_id "
            f"WHERE i.owner_id = %s AND a.closed_at IS NULL AND a.duplicate_of_id IS NULL "
            f"ORDER BY a.id",
            params,
        )
        rows = cursor.fetchall()
    return [
        AccountFigures(
            pk=row[0],
            item_id=row[1],
            name=row[2],
            mask=row[3],
            type=row[4],
            currency=row[5] or row[6],
            available=_decimal(row[7]),
            current=_decimal(row[8]),
            limit=_decimal(row[9]),
            day_before_available=_decimal(row[10]) if day is not None else None,
            day_before_current=_decimal(row[11]) if day is not None else None,
        )
        for row in rows
    ]


def net_worth_change(*, user_id: int, day: date) -> dict[str, tuple[Decimal, Decimal]]:
    """Per currency with a daily total on `day`: (net worth at the end of the day before,
    net worth on `day`). A currency with no row on `day` did not change that day. Cost:
    one query: the rows of `day` and, per currency, the latest row before it."""
    table = _table(NetWorthDay)
    # Plain rows, no model instances: `raw()` cost ~1 ms of CPU per evaluation here.
    columns = "currency, day = %s, assets, liabilities"
    rows = _rows(
        f"SELECT {columns} FROM {table} WHERE user_id = %s AND day = %s "  # noqa: S608
        f"UNION ALL SELECT {columns} FROM {table} p WHERE p.user_id = %s AND p.day = ("
        f"SELECT MAX(q.day) FROM {table} q WHERE q.user_id = p.user_id "
        f"AND q.currency = p.currency AND q.day < %s) "
        f"AND p.currency IN (SELECT t.currency FROM {table} t WHERE t.user_id = %s AND t.day = %s)",
        [day, user_id, day, day, user_id, day, user_id, day],
    )
    today: dict[str, Decimal] = {}
    before: dict[str, Decimal] = {}
    for currency, is_today, assets, liabilities in rows:
        figure = (_decimal(assets) or Decimal(0)) - (_decimal(liabilities) or Decimal(0))
        (today if is_today else before)[currency] = figure
    return {c: (before[c], today[c]) for c in today if c in before}


@dataclass(frozen=True, slots=True)
class StateFigures:
    """What an evaluation reads of one AlertState."""

    pk: int
    holding: bool
    fired_at: datetime | None


def alert_states(*, user_id: int) -> dict[str, StateFigures]:
    """The user's alert states by key (one query, no model instances)."""
    rows = _rows(
        f"SELECT key, id, holding, fired_at FROM {_table(AlertState)} WHERE owner_id = %s",  # noqa: S608
        [user_id],
    )
    return {key: StateFigures(pk, bool(holding), _aware(fired)) for key, pk, holding, fired in rows}


def recent_test_alerts(*, user: User, limit: int = 5) -> list[AlertDelivery]:
    """The user's latest test alerts, newest first (their state, for the settings page)."""
    return list(
        AlertDelivery.objects.filter(message__owner=user, message__is_test=True)
        .select_related("message")
        .order_by("-pk")[:limit]
    )
