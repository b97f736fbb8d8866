"""Fetch an Item's balances from Plaid and store them: accounts, snapshots, daily totals.

Writes only; the refresh run around it (lock, rate limits, retries) is `refresh.py`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.conf import settings
from django.db import Error, connection, transaction
from django.utils import timezone

from balances.domain import balance_age
from balances.models import Account, BalanceSnapshot, PlaidCall, PlaidItem
from balances.plaid import client
from balances.plaid.errors import PlaidError
from balances.plaid.types import AccountsResult
from balances.services import bulk, calls, errors, net_worth

logger = logging.getLogger(__name__)

ACCOUNT_FIELDS = (
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
    "updated_at",
)


@dataclass(frozen=True, slots=True)
class RefreshResult:
    accounts_created: int
    accounts_updated: int
    accounts_closed: int
    snapshots_written: int


@dataclass(frozen=True, slots=True)
class FetchedBalances:
    """A successful balance call for an Item, not stored yet."""

    item: PlaidItem
    endpoint: str
    result: AccountsResult
    called_at: datetime


def item_refresh_balances(
    *,
    item: PlaidItem,
    realtime: bool = True,
    record_retryable: bool = True,
    now: datetime | None = None,
) -> RefreshResult:
    """Fetch balances for `item` and store them; log the call in the Item's call log.

    `realtime` asks `/accounts/balance/get` (billed per call in production); otherwise
    `/accounts/get` (cached balances, no per-call fee). On success: upsert its Accounts
    (one row per Plaid account, ever), mark vanished accounts closed, write snapshots where
    balances changed or none exists today, and mark the Item healthy. On failure: keep the
    last good balances and their timestamp, record the error on the Item (a retryable one
    only with `record_retryable`: a caller that retries records it when it gives up), and
    re-raise the PlaidError. `now`: the clock (default the current time), for the
    snapshots' time and the day of the daily totals.
    """
    fetched = item_fetch_balances(item=item, realtime=realtime, record_retryable=record_retryable)
    return item_store_fetched(fetched=fetched, now=now)


def item_fetch_balances(
    *, item: PlaidItem, realtime: bool = True, record_retryable: bool = True
) -> FetchedBalances:
    """Call Plaid for `item`'s balances (see `item_refresh_balances`); store nothing yet.

    On failure: log the call, record the error as `item_refresh_balances` does, re-raise.
    """
    endpoint = "/accounts/balance/get" if realtime else "/accounts/get"
    try:
        if realtime:
            oldest = _oldest_balance_accepted(item)
            database_release()
            if oldest is None:  # the option stays out of calls that do not need it
                result = client.accounts_balance_get(item.access_token)
            else:
                result = client.accounts_balance_get(
                    item.access_token, min_last_updated_datetime=oldest
                )
        else:
            database_release()
            result = client.accounts_get(item.access_token)
    except PlaidError as error:
        calls.item_record_call(item=item, endpoint=endpoint, error=error)
        if error.code == "LAST_UPDATED_DATETIME_OUT_OF_RANGE":
            errors.item_record_old_balances(item=item, error=error)
        elif record_retryable or not error.retryable:
            errors.item_record_error(item=item, error=error)
        raise
    return FetchedBalances(item, endpoint, result, timezone.now())


def database_release() -> None:
    """With a connection pool (DATABASE_POOL_SIZE), give this thread's connection back to
    the pool while Plaid answers or the refresh waits for Plaid's rate limit (seconds): a
    worker's ~100 threads then share a few connections instead of each holding one idle.
    Outside a transaction only; without a pool nothing changes (a persistent connection
    stays open)."""
    if _pooled() and not connection.in_atomic_block:
        connection.close()  # back to the pool; the store takes one again


def _pooled() -> bool:
    """Whether the database connection comes from a pool (DATABASE_POOL_SIZE)."""
    return bool(connection.settings_dict.get("OPTIONS", {}).get("pool"))


def _oldest_balance_accepted(item: PlaidItem) -> datetime | None:
    """Return the `min_last_updated_datetime` a balance call for `item` must carry, or None
    (the rule: `balance_age.min_last_updated_datetime`, from the types of every account
    the Item ever reported: a card marked closed may still be at Plaid, and the option is
    harmless where Plaid does not need it). Cost: one query, for Capital One's Items only.
    """
    if item.institution_id != balance_age.CAPITAL_ONE:
        return None  # no query: the rule needs no types elsewhere
    types = Account.objects.filter(item_id=item.pk).values_list("type", flat=True).distinct()
    return balance_age.min_last_updated_datetime(
        institution_id=item.institution_id,
        account_types=list(types),
        now=timezone.now(),
        max_age=timedelta(hours=settings.PLAID_MIN_LAST_UPDATED_HOURS),
    )


def item_store_fetched(
    *, fetched: FetchedBalances, now: datetime | None = None, call_logged: bool = False
) -> RefreshResult:
    """Log the call and store its reply (`item_store_balances`) in one transaction.

    The call happened even if storing fails: then it is logged on its own (if the database
    allows) before the error goes up. `call_logged`: this stores again a reply whose first
    store failed, which may have logged its call: it is not logged twice. Cost: one
    statement for the log, in the store's transaction (plus one query with `call_logged`).
    """
    row = calls.call_row(
        item=fetched.item,
        endpoint=fetched.endpoint,
        called_at=fetched.called_at,
        request_id=fetched.result.request_id,
        duration_ms=fetched.result.duration_ms,
    )
    logged = False
    try:
        with transaction.atomic():
            logged = call_logged and _call_in_log(row)
            if not logged:
                bulk.insert_rows(PlaidCall, [row])
            result = item_store_balances(
                item=fetched.item,
                result=fetched.result,
                now=now,
                realtime=fetched.endpoint == "/accounts/balance/get",
            )
    except Exception:
        if not logged:
            _log_call_alone(fetched.item, row)
        raise
    if not logged:
        calls.log_call(fetched.item, row)
    return result


def _call_in_log(row: PlaidCall) -> bool:
    return PlaidCall.objects.filter(
        item_id=row.item_id, endpoint=row.endpoint, called_at=row.called_at
    ).exists()


def _log_call_alone(item: PlaidItem, row: PlaidCall) -> None:
    """Log the call of a failed store on its own, unless its transaction committed after
    all (the connection lost at the commit). The database may be the failure: then the
    call is logged when the kept reply is stored (`refresh.py`), or not at all if the
    retry runs in another process. Cost: two statements, on failures only."""
    try:
        if _call_in_log(row):
            return
        row.pk = None  # the id of the rolled-back insert
        row.save()
    except Error:
        logger.warning("Item %s: Plaid call not logged yet (database unavailable)", item.pk)
        return
    calls.log_call(item, row)


def _accounts_with_todays_snapshot(item_id: int, start_of_day: datetime) -> list[Account]:
    """Return the Item's accounts, each with `snapped_today`: whether it has a snapshot
    taken at or after `start_of_day`. One query, raw SQL read into models (each field's
    database converters applied: Decimal money on SQLite too): the ORM's
    `annotate(Exists(...))` compiled for twice the CPU of the whole read."""
    quote = connection.ops.quote_name
    accounts, snapshots = quote(Account._meta.db_table), quote(BalanceSnapshot._meta.db_table)
    account_id = quote(str(BalanceSnapshot._meta.get_field("account").column))
    taken_at = quote(str(BalanceSnapshot._meta.get_field("taken_at").column))
    pk = quote(str(Account._meta.pk.column))
    item = quote(str(Account._meta.get_field("item").column))
    # Only the models' own names, quoted; every value is a parameter.
    sql = (
        f"SELECT {accounts}.*, EXISTS (SELECT 1 FROM {snapshots} "  # noqa: S608
        f"WHERE {snapshots}.{account_id} = {accounts}.{pk} AND {snapshots}.{taken_at} >= %s) "
        f"AS snapped_today FROM {accounts} WHERE {accounts}.{item} = %s"
    )
    since = connection.ops.adapt_datetimefield_value(start_of_day)
    return list(Account.objects.raw(sql, [since, item_id]))


def _lock_item(item_id: int) -> None:
    """Lock the Item's row until the transaction ends (PostgreSQL; SQLite serializes all
    writers anyway). Raw SQL: the ORM's `select_for_update()` compiled for more CPU than
    the statement cost (bench/production.py's profile)."""
    if not connection.features.has_select_for_update:
        return
    quote = connection.ops.quote_name
    table, pk = quote(PlaidItem._meta.db_table), quote(str(PlaidItem._meta.pk.column))
    with connection.cursor() as cursor:
        # Only the model's own names, quoted; the id is a parameter.
        cursor.execute(f"SELECT 1 FROM {table} WHERE {pk} = %s FOR UPDATE", [item_id])  # noqa: S608
        cursor.fetchall()


ITEM_FIELDS = (
    "refresh_requested_at",
    "status",
    "error_code",
    "error_message",
    "error_at",
    "last_refreshed_at",
    "last_realtime_at",
    "institution_id",
    "updated_at",
)


def item_store_balances(
    *,
    item: PlaidItem,
    result: AccountsResult,
    now: datetime | None = None,
    realtime: bool = False,
) -> RefreshResult:
    """Store one Plaid accounts reply for `item` in a single transaction; return what it
    stored.

    Upsert its Accounts (one row per Plaid account, ever), mark vanished ones closed,
    write snapshots where balances changed or none exists today, mark the Item healthy and
    refreshed (which ends its pending refresh), and add the change to its owner's daily
    totals. `now`: the clock (default the current time): the snapshots' time, the
    refresh's, and the day of the daily totals. Cost: about ten statements, whatever the
    number of accounts (Python work per account).
    """
    now = now or timezone.now()
    start_of_day = datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)
    # No savepoint when the caller's transaction holds it (`item_store_fetched`): if this
    # fails, that whole transaction fails.
    with transaction.atomic(savepoint=False):
        # Serializes concurrent refreshes of one Item (a row lock on PostgreSQL; SQLite
        # serializes all writers anyway), so account rows are never duplicated.
        _lock_item(item.pk)
        existing: dict[str, Account] = {}
        snapped_today: set[int] = set()
        # One query: the accounts, each with whether it has a snapshot today yet.
        for row in _accounts_with_todays_snapshot(item.pk, start_of_day):
            existing[row.plaid_account_id] = row
            if getattr(row, "snapped_today"):  # noqa: B009 (the query's extra column)
                snapped_today.add(row.pk)
        known = list(existing.values())
        before = {a.pk: bulk.values_of(a, ACCOUNT_FIELDS) for a in known}
        item_before = {item.pk: bulk.values_of(item, ITEM_FIELDS)}
        states = [net_worth.AccountState.of(a) for a in known]
        accounts = list(known)
        created: list[Account] = []
        changed_rows: list[Account] = []
        new_snapshots: list[tuple[Account, bool]] = []  # (account, changed)
        for remote in result.accounts:
            account: Account | None = existing.pop(remote.account_id, None)
            balances = remote.balances
            if account is None:
                account = Account(item=item, plaid_account_id=remote.account_id)
                created.append(account)
                accounts.append(account)
                is_changed = True
            else:
                changed_rows.append(account)
                is_changed = account.balances != (
                    balances.available,
                    balances.current,
                    balances.limit,
                )
            account.name = remote.name
            account.official_name = remote.official_name or ""
            account.mask = remote.mask or ""
            account.type = remote.type
            account.subtype = remote.subtype or ""
            account.iso_currency_code = balances.iso_currency_code or ""
            account.unofficial_currency_code = balances.unofficial_currency_code or ""
            account.available = balances.available
            account.current = balances.current
            account.limit = balances.limit
            account.balances_updated_at = balances.last_updated_at or now
            account.closed_at = None
            account.updated_at = now
            new_snapshots.append((account, is_changed))
        closed = [a for a in existing.values() if a.closed_at is None]
        for account in closed:
            account.closed_at = now
            account.updated_at = now
        updated = len(changed_rows)
        changed_rows.extend(closed)
        item.clear_error()
        item.last_refreshed_at = now
        if realtime:  # real-time balances (else Plaid's cache, whatever its age)
            item.last_realtime_at = now
        item.refresh_requested_at = None  # the pending refresh ends (services/pending.py)
        if result.institution_id and not item.institution_id:
            item.institution_id = result.institution_id
        item.updated_at = now

        Account.objects.bulk_create(created)
        # Only the cells that changed: bulk_update of every field cost more than the call.
        bulk.update_changed(Account, changed_rows, ACCOUNT_FIELDS, before)
        snapshots = [
            BalanceSnapshot(
                account=account,
                taken_at=now,
                available=account.available,
                current=account.current,
                limit=account.limit,
            )
            for account, is_changed in new_snapshots
            if is_changed or account.pk not in snapped_today
        ]
        bulk.insert_rows(BalanceSnapshot, snapshots)  # append-only: nothing reads them back
        bulk.update_changed(PlaidItem, [item], ITEM_FIELDS, item_before)
        # The owner's daily totals (the dashboard's history) follow: last, as their UPDATE
        # holds the row of the owner's day until the commit (currencies in order, so two
        # refreshes of one owner's Items never deadlock).
        net_worth.net_worth_add(
            user_id=item.owner_id,
            before=states,
            after=[net_worth.AccountState.of(a) for a in accounts],
            day=timezone.localdate(now, timezone.get_default_timezone()),
        )
    return RefreshResult(
        accounts_created=len(created),
        accounts_updated=updated,
        accounts_closed=len(closed),
        snapshots_written=len(snapshots),
    )
