from decimal import Decimal

import pytest
from django.utils import timezone

from balances import tasks
from balances.models import Account, BalanceSnapshot, PlaidItem
from balances.plaid.errors import PlaidError
from balances.services import linking, queueing, store
from tests.factories import PlaidItemFactory, UserFactory

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
    store.item_refresh_balances(item=item)
    yesterday = timezone.now() - timezone.timedelta(days=1)
    BalanceSnapshot.objects.filter(account__item=item).delete()
    for account in Account.objects.filter(item=item):
        BalanceSnapshot.objects.create(account=account, taken_at=yesterday, current=account.current)
    assert store.item_refresh_balances(item=item).snapshots_written == 5


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


def test_link_stores_item_and_queues_first_refresh_on_commit(
    fake_plaid, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr(tasks.refresh_item_balances, "delay", lambda pk, **kw: queued.append(pk))
    user = UserFactory()
    public_token = fake_plaid.sandbox_public_token_create("ins_3")

    with django_capture_on_commit_callbacks(execute=True):
        item = linking.item_link(user=user, public_token=public_token)

    assert item.owner == user
    assert (item.institution_id, item.institution_name) == ("ins_3", "Chase")
    assert item.access_token == fake_plaid.public_tokens[public_token][0]
    assert queued == [item.pk]


def test_link_of_an_item_owned_by_someone_else_is_refused(fake_plaid):
    public_token = fake_plaid.sandbox_public_token_create("ins_3")
    _access_token, item_id = fake_plaid.public_tokens[public_token]
    PlaidItemFactory(plaid_item_id=item_id)
    with pytest.raises(linking.LinkError):
        linking.item_link(user=UserFactory(), public_token=public_token, queue_refresh=False)
    assert PlaidItem.objects.count() == 1


def test_link_refused_by_plaid_stores_nothing(fake_plaid):
    fake_plaid.public_tokens["public-bad"] = ("x", "y")
    fake_plaid.fail_next("INVALID_PUBLIC_TOKEN")
    with pytest.raises(PlaidError):
        linking.item_link(user=UserFactory(), public_token="public-bad")
    assert PlaidItem.objects.count() == 0


def test_queue_refresh_skips_items_that_cannot_refresh(
    django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr(tasks.refresh_item_balances, "delay", lambda pk, **kw: queued.append(pk))
    user = UserFactory()
    healthy = PlaidItemFactory(owner=user)
    erroring = PlaidItemFactory(owner=user, status=PlaidItem.Status.ERROR)
    PlaidItemFactory(owner=user, status=PlaidItem.Status.LOGIN_REQUIRED)
    PlaidItemFactory(owner=user, status=PlaidItem.Status.REVOKED)
    PlaidItemFactory()  # someone else's

    with django_capture_on_commit_callbacks(execute=True):
        request = queueing.user_queue_refresh(user=user)

    assert sorted(i.pk for i in request.queued) == sorted([healthy.pk, erroring.pk])
    assert len(request.inactive) == 2
    assert sorted(queued) == sorted([healthy.pk, erroring.pk])
