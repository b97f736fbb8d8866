"""`bulk.update_changed`: the refresh writes only the cells that changed, and all of them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from balances.models import Account
from balances.services import bulk
from balances.services.store import ACCOUNT_FIELDS
from tests.factories import AccountFactory, PlaidItemFactory

pytestmark = pytest.mark.django_db

T1 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def accounts(n: int = 3) -> list[Account]:
    item = PlaidItemFactory()
    AccountFactory.create_batch(n, item=item)
    return list(Account.objects.filter(item=item).order_by("pk"))


def snapshot(rows: list[Account]) -> dict[int, tuple]:
    return {a.pk: bulk.values_of(a, ACCOUNT_FIELDS) for a in rows}


def rows_written(sql: str) -> int:
    """How many rows one per-row UPDATE writes: the rows of its VALUES on PostgreSQL, the
    runs of its `executemany` elsewhere (Django logs those as "N times: …")."""
    if connection.vendor == "postgresql":
        assert sql.startswith("UPDATE") and " FROM (VALUES (" in sql
        values = sql.split(" FROM (VALUES ", 1)[1].split(") AS v (", 1)[0]
        return values.count("), (") + 1
    times, _, rest = sql.partition(" times: ")
    assert rest.startswith("UPDATE")
    return int(times)


def test_nothing_changed_writes_nothing():
    rows = accounts()
    before = snapshot(rows)
    rows[0].available = Decimal("100.00")  # the same amount, written differently
    with CaptureQueriesContext(connection) as queries:
        assert bulk.update_changed(Account, rows, ACCOUNT_FIELDS, before) == 0
    assert len(queries) == 0


def test_shared_and_per_row_changes_are_all_written():
    rows = accounts()
    before = snapshot(rows)
    for a in rows:
        a.balances_updated_at = T1  # the same in every row: one plain UPDATE
        a.updated_at = T1
    rows[0].current = Decimal("1.23")  # differs per row: row by row, changed rows only
    rows[2].current = Decimal("4.56")
    rows[1].name = "Renamed"
    rows[2].limit = Decimal("500")
    with CaptureQueriesContext(connection) as queries:
        statements = bulk.update_changed(Account, rows, ACCOUNT_FIELDS, before)
    assert statements == 1
    (query,) = queries  # one statement, every changed field of every changed row
    assert rows_written(query["sql"]) == len(rows)
    stored = {a.pk: a for a in Account.objects.filter(pk__in=[r.pk for r in rows])}
    for row in rows:
        assert bulk.values_of(stored[row.pk], ACCOUNT_FIELDS) == bulk.values_of(row, ACCOUNT_FIELDS)
    assert stored[rows[1].pk].current == Decimal("110")
    assert stored[rows[0].pk].balances_updated_at == T1


def test_a_value_set_back_to_none_is_written():
    rows = accounts(2)
    before = snapshot(rows)
    rows[1].available = None
    bulk.update_changed(Account, rows, ACCOUNT_FIELDS, before)
    assert Account.objects.get(pk=rows[1].pk).available is None
    assert Account.objects.get(pk=rows[0].pk).available == Decimal("100")


def test_rows_without_a_before_are_written_whole():
    rows = accounts(1)
    rows[0].mask = "9999"
    assert bulk.update_changed(Account, rows, ACCOUNT_FIELDS, {}) >= 1
    assert Account.objects.get(pk=rows[0].pk).mask == "9999"


def test_values_every_row_shares_take_one_plain_update():
    rows = accounts()
    before = snapshot(rows)
    for a in rows:
        a.updated_at = T1
        a.closed_at = T1
    with CaptureQueriesContext(connection) as queries:
        assert bulk.update_changed(Account, rows, ACCOUNT_FIELDS, before) == 1
    (query,) = queries
    assert query["sql"].startswith("UPDATE") and "closed_at" in query["sql"]
    assert Account.objects.filter(closed_at=T1, updated_at=T1).count() == len(rows)


def test_rows_that_did_not_change_are_not_written():
    rows = accounts()
    before = snapshot(rows)
    rows[0].current = Decimal("1.23")
    rows[2].current = Decimal("4.56")
    with CaptureQueriesContext(connection) as queries:
        bulk.update_changed(Account, rows, ACCOUNT_FIELDS, before)
    (query,) = queries
    assert rows_written(query["sql"]) == 2
    assert Account.objects.get(pk=rows[0].pk).current == Decimal("1.23")
    assert Account.objects.get(pk=rows[2].pk).current == Decimal("4.56")


def test_inserted_rows_keep_every_digit_and_time_in_one_statement():
    from balances.models import BalanceSnapshot

    rows = accounts(2)
    snaps = [
        BalanceSnapshot(
            account=rows[0],
            taken_at=T1,
            available=None,
            current=Decimal("0.01"),
            limit=Decimal("12345678901.23"),
        ),
        BalanceSnapshot(
            account=rows[1],
            taken_at=T1,
            available=Decimal("-7.5"),
            current=Decimal("1E+2"),
            limit=None,
        ),
    ]
    with CaptureQueriesContext(connection) as queries:
        assert bulk.insert_rows(BalanceSnapshot, snaps) == 2
    assert len(queries) == 1
    stored = BalanceSnapshot.objects.order_by("account_id").values_list(
        "account_id", "taken_at", "available", "current", "limit"
    )
    assert list(stored) == [
        (rows[0].pk, T1, None, Decimal("0.01"), Decimal("12345678901.23")),
        (rows[1].pk, T1, Decimal("-7.5"), Decimal("100"), None),
    ]


def test_inserted_rows_beyond_the_parameter_cap_are_all_written():
    from balances.models import PlaidCall, PlaidItem

    item = PlaidItem.objects.get(pk=PlaidItemFactory().pk)
    calls = [
        PlaidCall(item=item, called_at=T1, endpoint="/accounts/get", request_id=str(i))
        for i in range(7000)  # 7 parameters each: past SQLite's 32,766 (and 999) caps
    ]
    assert bulk.insert_rows(PlaidCall, calls) == 7000
    assert PlaidCall.objects.filter(item=item).count() == 7000
    assert bulk.insert_rows(PlaidCall, []) == 0


def test_a_value_too_long_for_its_column_is_refused_not_cut_short():
    from django.db import DataError, transaction

    if connection.vendor != "postgresql":
        pytest.skip("SQLite does not enforce a column's length (runs on PostgreSQL)")
    rows = accounts(2)
    before = snapshot(rows)
    rows[0].name = "x" * 201  # the column holds 200
    rows[1].current = Decimal("7")
    with pytest.raises(DataError), transaction.atomic():
        bulk.update_changed(Account, rows, ACCOUNT_FIELDS, before)
    assert Account.objects.get(pk=rows[0].pk).name == before[rows[0].pk][0]
