"""Operator tools in the admin: Item page, attention filters, clear-and-retry, remove at
Plaid (with confirmation), a user's Items on their page."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from balances import tasks
from balances.models import Account, PlaidCall, PlaidItem
from tests.factories import AccountFactory, PlaidItemFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/balances/plaiditem/"


def admin_client(*, superuser: bool) -> Client:
    client = Client()
    client.force_login(
        UserFactory(
            username="root" if superuser else "staff", is_staff=True, is_superuser=superuser
        )
    )
    return client


@pytest.fixture
def root():
    return admin_client(superuser=True)


@pytest.fixture
def queued(monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr(tasks.refresh_item_balances, "delay", lambda pk, **kw: sent.append(pk))
    return sent


def listed(client, **params):
    response = client.get(CHANGELIST, params)
    assert response.status_code == 200
    return sorted(i.pk for i in response.context["cl"].result_list)


def test_item_page_shows_owner_institution_history_consent_calls_and_accounts(root):
    expires = timezone.now() + timedelta(days=6)
    account = AccountFactory(
        name="Gold Checking",
        item=PlaidItemFactory(
            owner=UserFactory(username="olive"),
            institution_name="Tartan Bank",
            status=PlaidItem.Status.LOGIN_REQUIRED,
            error_code="ITEM_LOGIN_REQUIRED",
            error_message="the login details of this item have changed",
            warning_code="PENDING_EXPIRATION",
            expires_at=expires,
        ),
    )
    item = account.item
    start = timezone.now() - timedelta(days=3)
    outcomes = ["", "", "INSTITUTION_DOWN", "", "ITEM_LOGIN_REQUIRED", "ITEM_LOGIN_REQUIRED"]
    for n, code in enumerate(outcomes):
        PlaidCall.objects.create(
            item=item,
            called_at=start + timedelta(hours=n),
            endpoint="/accounts/balance/get",
            request_id=f"req-{n}",
            error_code=code,
        )
    page = root.get(f"{CHANGELIST}{item.pk}/change/").content.decode()
    for text in (
        "olive",
        "Tartan Bank",
        "Status history",
        "the login details of this item have changed",
        "PENDING_EXPIRATION",
        "req-5",
        "Gold Checking",
    ):
        assert text in page, text
    # Outcome periods newest first: login required (2 calls), ok, outage, ok (2 calls).
    history = page[page.index("Status history") :]
    order = [
        history.index("<td>ITEM_LOGIN_REQUIRED</td>"),
        history.index("<td>ok</td>"),
        history.index("<td>INSTITUTION_DOWN</td>"),
    ]
    assert order == sorted(order)
    assert history.count("<td>ok</td>") >= 2
    assert item.access_token not in page


def test_attention_filters(root, settings):
    settings.BALANCE_STALE_AFTER = 3600
    now = timezone.now()
    healthy = PlaidItemFactory(last_refreshed_at=now)
    erroring = PlaidItemFactory(last_refreshed_at=now, status=PlaidItem.Status.ERROR)
    old_balances = PlaidItemFactory(
        last_refreshed_at=now, error_code="LAST_UPDATED_DATETIME_OUT_OF_RANGE"
    )
    relogin = PlaidItemFactory(last_refreshed_at=now, status=PlaidItem.Status.LOGIN_REQUIRED)
    expiring = PlaidItemFactory(last_refreshed_at=now, warning_code="PENDING_DISCONNECT")
    stale = PlaidItemFactory(last_refreshed_at=now - timedelta(hours=2))
    assert listed(root, attention="erroring") == sorted([erroring.pk, old_balances.pk])
    assert listed(root, attention="login") == sorted([relogin.pk, expiring.pk])
    assert listed(root, freshness="stale") == [stale.pk]
    assert healthy.pk in listed(root)


def test_clear_error_and_retry(root, queued, django_capture_on_commit_callbacks):
    item = PlaidItemFactory(
        status=PlaidItem.Status.ERROR,
        error_code="INSTITUTION_DOWN",
        error_message="gave up after 5 retries",
        error_at=timezone.now(),
        warning_code="PENDING_EXPIRATION",
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = root.post(
            CHANGELIST,
            {"action": "clear_error_and_retry", "_selected_action": [item.pk]},
            follow=True,
        )
    assert "Cleared the error of 1 item(s); queued 1 refresh(es)." in response.content.decode()
    item.refresh_from_db()
    assert (item.status, item.error_code, item.error_message, item.error_at) == (
        PlaidItem.Status.HEALTHY,
        "",
        "",
        None,
    )
    assert item.warning_code == "PENDING_EXPIRATION"  # only a re-login renews consent
    assert queued == [item.pk]


def test_remove_at_plaid_asks_first_then_removes(root, fake_plaid):
    account = AccountFactory(item=PlaidItemFactory(institution_name="Houndstooth Bank"))
    item = account.item
    form = {"action": "remove_at_plaid", "_selected_action": [item.pk]}
    confirm = root.post(CHANGELIST, form)
    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert "Remove at Plaid and delete?" in page and "Houndstooth Bank" in page
    assert item.access_token not in page
    assert fake_plaid.removed == [] and PlaidItem.objects.filter(pk=item.pk).exists()

    done = root.post(CHANGELIST, {**form, "post": "yes"}, follow=True)
    assert "Removed 1 item(s) at Plaid and here." in done.content.decode()
    assert fake_plaid.removed == [item.access_token]
    assert not PlaidItem.objects.filter(pk=item.pk).exists()
    assert not Account.objects.filter(pk=account.pk).exists()


def test_remove_at_plaid_keeps_the_item_when_plaid_fails(root, fake_plaid):
    item = PlaidItemFactory()
    fake_plaid.fail_next("INTERNAL_SERVER_ERROR", retryable=True, status=500)
    response = root.post(
        CHANGELIST,
        {"action": "remove_at_plaid", "_selected_action": [item.pk], "post": "yes"},
        follow=True,
    )
    assert "could not be reached" in response.content.decode()
    assert PlaidItem.objects.filter(pk=item.pk).exists()


def test_staff_cannot_clear_or_remove(fake_plaid, queued):
    item = PlaidItemFactory(status=PlaidItem.Status.ERROR, error_code="INSTITUTION_DOWN")
    staff = admin_client(superuser=False)
    page = staff.get(CHANGELIST).content.decode()
    assert "refresh_balances_now" in page
    assert "clear_error_and_retry" not in page and "remove_at_plaid" not in page
    for action in ("clear_error_and_retry", "remove_at_plaid"):
        staff.post(CHANGELIST, {"action": action, "_selected_action": [item.pk], "post": "yes"})
    item.refresh_from_db()
    assert item.error_code == "INSTITUTION_DOWN"
    assert fake_plaid.removed == [] and queued == []


def test_user_page_lists_their_items_read_only(root):
    owner = UserFactory(username="uma")
    mine = PlaidItemFactory(owner=owner, institution_name="First Gingham CU")
    theirs = PlaidItemFactory(institution_name="Tattersall FCU")
    page = root.get(reverse("admin:auth_user_change", args=[owner.pk])).content.decode()
    assert "First Gingham CU" in page and "Tattersall FCU" not in page
    assert reverse("admin:balances_plaiditem_change", args=[mine.pk]) in page
    assert mine.access_token not in page
    assert 'name="plaid_items-0-institution_name"' not in page  # shown, not editable
    assert theirs.pk != mine.pk
