"""`store`: fetch an Item's balances and store them (accounts, snapshots, the call log, the
daily totals); `now=` is the store's clock."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from balances.models import Account, BalanceSnapshot, NetWorthDay, PlaidCall, PlaidItem
from balances.plaid.errors import PlaidError
from balances.services import store
from tests.factories import PlaidItemFactory

pytestmark = pytest.mark.django_db


def test_refresh_stores_accounts_and_snapshots(item):
    result = store.item_refresh_balances(item=item)
    assert (result.accounts_created, result.accounts_updated, result.snapshots_written) == (5, 0, 5)
    cd = Account.objects.get(item=item, mask="2222")
    assert cd.available is None
    assert cd.current == Decimal("1000")
    card = Account.objects.get(item=item, mask="3333")
    assert (card.type, card.subtype, card.limit) == ("credit", "credit card", Decimal("2000"))
    item.refresh_from_db()
    assert item.status == PlaidItem.Status.HEALTHY
    assert item.last_refreshed_at is not None


def test_repeated_refresh_never_duplicates_accounts_or_snapshots(item):
    store.item_refresh_balances(item=item)
    result = store.item_refresh_balances(item=item)
    assert (result.accounts_created, result.accounts_updated, result.snapshots_written) == (0, 5, 0)
    assert Account.objects.filter(item=item).count() == 5
    assert BalanceSnapshot.objects.filter(account__item=item).count() == 5


def test_changed_balance_writes_one_snapshot(item, fake_plaid):
    store.item_refresh_balances(item=item)
    fake_plaid.replies[item.access_token]["accounts"][0]["balances"]["current"] = 125.5
    result = store.item_refresh_balances(item=item)
    assert result.snapshots_written == 1
    checking = Account.objects.get(item=item, mask="0000")
    assert checking.current == Decimal("125.5")
    assert list(checking.snapshots.values_list("current", flat=True)) == [
        Decimal("110"),
        Decimal("125.5"),
    ]


def test_first_refresh_of_a_day_writes_a_daily_point(item):
    yesterday = timezone.now() - timedelta(days=1)
    assert store.item_refresh_balances(item=item, now=yesterday).snapshots_written == 5
    assert store.item_refresh_balances(item=item).snapshots_written == 5
    assert store.item_refresh_balances(item=item).snapshots_written == 0


def test_vanished_account_is_closed_not_deleted(item, fake_plaid):
    store.item_refresh_balances(item=item)
    del fake_plaid.replies[item.access_token]["accounts"][4]
    result = store.item_refresh_balances(item=item)
    assert result.accounts_closed == 1
    money_market = Account.objects.get(item=item, mask="4444")
    assert money_market.closed_at is not None
    assert money_market.snapshots.count() == 1


@pytest.mark.parametrize(
    ("code", "retryable", "status"),
    [
        ("ITEM_LOGIN_REQUIRED", False, PlaidItem.Status.LOGIN_REQUIRED),
        ("ITEM_NOT_FOUND", False, PlaidItem.Status.REVOKED),
        ("INVALID_ACCESS_TOKEN", False, PlaidItem.Status.REVOKED),
        ("INSTITUTION_DOWN", True, PlaidItem.Status.ERROR),
        ("RATE_LIMIT_EXCEEDED", True, PlaidItem.Status.ERROR),
        ("INTERNAL_SERVER_ERROR", True, PlaidItem.Status.ERROR),
        ("TIMEOUT", True, PlaidItem.Status.ERROR),
        ("MALFORMED_RESPONSE", True, PlaidItem.Status.ERROR),
        ("SOMETHING_PLAID_INVENTS_LATER", False, PlaidItem.Status.ERROR),
    ],
)
def test_failed_refresh_records_error_and_keeps_last_good_balances(
    item, fake_plaid, code, retryable, status
):
    store.item_refresh_balances(item=item)
    item.refresh_from_db()
    good_at = item.last_refreshed_at
    fake_plaid.replies[item.access_token]["accounts"][0]["balances"]["current"] = 999
    fake_plaid.fail_next(code, retryable=retryable)

    with pytest.raises(PlaidError) as raised:
        store.item_refresh_balances(item=item)

    assert raised.value.code == code
    item.refresh_from_db()
    assert (item.status, item.error_code) == (status, code)
    assert item.error_at is not None
    assert item.last_refreshed_at == good_at
    checking = Account.objects.get(item=item, mask="0000")
    assert checking.current == Decimal("110")
    assert BalanceSnapshot.objects.filter(account__item=item).count() == 5


def test_success_after_error_clears_it(item, fake_plaid):
    fake_plaid.fail_next("INSTITUTION_DOWN", retryable=True)
    with pytest.raises(PlaidError):
        store.item_refresh_balances(item=item)
    store.item_refresh_balances(item=item)
    item.refresh_from_db()
    assert (item.status, item.error_code, item.error_at) == (PlaidItem.Status.HEALTHY, "", None)


NOW = datetime(2026, 3, 1, 18, 30, tzinfo=UTC)


def test_the_store_keeps_time_by_its_clock(item, settings):
    settings.TIME_ZONE = "UTC"
    result = store.item_refresh_balances(item=item, now=NOW)
    assert result.snapshots_written == 5
    assert set(BalanceSnapshot.objects.values_list("taken_at", flat=True)) == {NOW}
    item.refresh_from_db()
    assert item.last_refreshed_at == NOW
    (row,) = NetWorthDay.objects.filter(user=item.owner)
    assert row.day == NOW.date()
    # Later that day: no new daily point; the next day: one per account.
    later = NOW + timedelta(hours=5)  # 23:30
    assert store.item_refresh_balances(item=item, now=later).snapshots_written == 0
    next_day = NOW + timedelta(hours=6)  # 00:30 on March 2nd
    assert store.item_refresh_balances(item=item, now=next_day).snapshots_written == 5
    assert BalanceSnapshot.objects.filter(taken_at=next_day).count() == 5


def test_storing_ends_the_pending_refresh(item):
    item.refresh_requested_at = timezone.now()
    item.save(update_fields=["refresh_requested_at"])
    store.item_refresh_balances(item=item)
    item.refresh_from_db()
    assert item.refresh_requested_at is None
    assert not item.is_refresh_pending


def test_the_call_is_logged_even_when_storing_its_reply_fails(item, fake_plaid, monkeypatch):
    fetched = store.item_fetch_balances(item=item)
    assert not PlaidCall.objects.exists()  # logged with the store, in its transaction

    def broken(**kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(store, "item_store_balances", broken)
    with pytest.raises(DatabaseError):
        store.item_store_fetched(fetched=fetched)
    (call,) = PlaidCall.objects.filter(item=item)
    request_id = fake_plaid.replies[item.access_token]["request_id"]
    assert (call.endpoint, call.error_code, call.request_id) == (
        "/accounts/balance/get",
        "",
        request_id,
    )
    assert call.called_at == fetched.called_at
    assert not Account.objects.filter(item=item).exists()
    item.refresh_from_db()
    assert item.last_refreshed_at is None


def test_a_reply_stored_again_after_a_failed_store_logs_its_call_once(
    item, fake_plaid, monkeypatch
):
    fetched = store.item_fetch_balances(item=item)
    real = store.item_store_balances

    def broken(**kwargs):
        raise DatabaseError("deadlock detected")

    monkeypatch.setattr(store, "item_store_balances", broken)
    with pytest.raises(DatabaseError):
        store.item_store_fetched(fetched=fetched)  # logged the call on its own
    monkeypatch.setattr(store, "item_store_balances", real)
    store.item_store_fetched(fetched=fetched, call_logged=True)
    assert PlaidCall.objects.filter(item=item).count() == 1
    assert Account.objects.filter(item=item).count() == 5


@pytest.mark.django_db(transaction=True)  # as in a worker: no transaction around the store
def test_a_store_failing_with_the_database_down_raises_its_own_error(
    item, fake_plaid, database_fault
):
    fetched = store.item_fetch_balances(item=item)
    database_fault.start()
    # Logging the call on its own fails too (InterfaceError): the store's error goes up.
    with pytest.raises(OperationalError):
        store.item_store_fetched(fetched=fetched)
    database_fault.clear()
    assert not PlaidCall.objects.filter(item=item).exists()
    # Stored again (its retry), the call is logged with its reply.
    store.item_store_fetched(fetched=fetched, call_logged=True)
    (call,) = PlaidCall.objects.filter(item=item)
    assert call.called_at == fetched.called_at
    assert Account.objects.filter(item=item).count() == 5


def with_accounts(fake_plaid, item, n: int) -> None:
    """Make Plaid report `n` accounts for `item` (copies of the example's checking)."""
    reply = fake_plaid.replies[item.access_token]
    first = reply["accounts"][0]
    reply["accounts"] = [
        {**first, "account_id": f"{item.pk}-acct-{k}", "mask": f"{k:04d}"} for k in range(n)
    ]


def test_a_store_costs_the_same_statements_whatever_the_number_of_accounts(fake_plaid):
    counts = {}
    for n in (2, 20):
        item = PlaidItemFactory()
        fake_plaid.add_item(item.access_token)
        with_accounts(fake_plaid, item, n)
        store.item_refresh_balances(item=item)  # creates the accounts and the owner's day
        for account in fake_plaid.replies[item.access_token]["accounts"]:
            account["balances"]["current"] += 1  # every balance changes: every row written
        with CaptureQueriesContext(connection) as queries:
            result = store.item_refresh_balances(item=item)
        assert (result.accounts_updated, result.snapshots_written) == (n, n)
        counts[n] = len(queries)
    assert counts[2] == counts[20]  # statements per store, none per account


# --- Capital One: min_last_updated_datetime -------------------------------------------------

CAPITAL_ONE = "ins_128026"


def _capital_one_item(fake_plaid, types: list[str]) -> PlaidItem:
    """A Capital One Item whose reply (and known accounts, when `types`) are the example's
    first accounts, retyped to `types` (none known: the first refresh)."""
    item = PlaidItemFactory(institution_id=CAPITAL_ONE, institution_name="Capital One")
    reply = fake_plaid.add_item(item.access_token)
    reply["item"]["institution_id"] = CAPITAL_ONE
    if types:
        reply["accounts"] = reply["accounts"][: len(types)]
        for account, type_ in zip(reply["accounts"], types, strict=True):
            account["type"] = type_
        store.item_store_balances(
            item=item, result=fake_plaid.accounts_get(item.access_token), now=timezone.now()
        )
    return item


@pytest.mark.parametrize("types", [[], ["depository", "credit"], ["credit"]])
def test_a_capital_one_card_is_asked_for_with_the_oldest_balance_accepted(
    fake_plaid, settings, types
):
    settings.PLAID_MIN_LAST_UPDATED_HOURS = 30
    item = _capital_one_item(fake_plaid, types)
    before = timezone.now()
    store.item_refresh_balances(item=item)
    after = timezone.now()
    [options] = fake_plaid.balance_options
    oldest = options["min_last_updated_datetime"]
    assert oldest.tzinfo is not None
    assert before - timedelta(hours=30) <= oldest <= after - timedelta(hours=30)


def test_the_option_stays_out_of_calls_that_do_not_need_it(fake_plaid, item):
    checking_only = _capital_one_item(fake_plaid, ["depository", "depository"])
    store.item_refresh_balances(item=checking_only)
    store.item_refresh_balances(item=item)  # Chase, with a credit card
    store.item_refresh_balances(item=item, realtime=False)  # /accounts/get has no such option
    assert fake_plaid.balance_options == [{}, {}]
    # A Capital One card among them: the option goes with the call.
    store.item_refresh_balances(item=_capital_one_item(fake_plaid, ["credit"]))
    assert "min_last_updated_datetime" in fake_plaid.balance_options[-1]


def test_a_card_balance_keeps_the_time_plaid_last_updated_it(fake_plaid):
    item = _capital_one_item(fake_plaid, [])
    hours_ago = (timezone.now() - timedelta(hours=6)).replace(microsecond=0)
    reply = fake_plaid.replies[item.access_token]
    card = next(a for a in reply["accounts"] if a["type"] == "credit")
    card["balances"]["last_updated_datetime"] = hours_ago.isoformat()
    store.item_refresh_balances(item=item)
    item.refresh_from_db()
    stored = Account.objects.get(item=item, plaid_account_id=card["account_id"])
    assert stored.balances_updated_at == hours_ago
    assert stored.balances_updated_at < item.last_refreshed_at


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("pooled", [True, False])
def test_a_pooled_connection_is_given_back_while_plaid_answers(
    item, fake_plaid, monkeypatch, pooled
):
    from balances.plaid import client as plaid_client

    # (The pool itself is the settings' (tests/finance/security/test_deploy_check.py).)
    monkeypatch.setattr(store, "_pooled", lambda: pooled)
    closes: list[str] = []
    monkeypatch.setattr(connection, "close", lambda: closes.append("closed"))
    answered = fake_plaid.accounts_get

    def accounts_get(access_token):
        closes.append("plaid")
        return answered(access_token)

    monkeypatch.setattr(plaid_client, "accounts_get", accounts_get)
    store.item_fetch_balances(item=item, realtime=False)
    # Given back before the call (the pool's close), never inside a transaction.
    assert closes == (["closed", "plaid"] if pooled else ["plaid"])
    closes.clear()
    from django.db import transaction

    with transaction.atomic():
        store.item_fetch_balances(item=item, realtime=False)
    assert closes == ["plaid"]
