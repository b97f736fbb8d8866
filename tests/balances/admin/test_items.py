"""The Items admin: list (columns, filters by status and bank, search), an Item's page
(accounts, status history, recent calls, never the token), "Refresh balances now", no
adding by hand."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from balances.models import PlaidCall, PlaidItem
from balances.services import store
from tests.factories import AccountFactory, PlaidItemFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/balances/plaiditem/"


@pytest.fixture
def item(fake_plaid):
    item = PlaidItemFactory(owner=UserFactory(username="alice"))
    fake_plaid.add_item(item.access_token)
    store.item_refresh_balances(item=item)
    return item


def test_changelist_shows_items_without_tokens(admin_client, item):
    page = admin_client.get(reverse("admin:balances_plaiditem_changelist")).content.decode()
    assert "Chase" in page and "alice" in page and "Healthy" in page
    assert item.access_token not in page
    assert item.access_token_encrypted not in page


def test_change_page_shows_accounts_inline_and_no_token(admin_client, item):
    url = reverse("admin:balances_plaiditem_change", args=[item.pk])
    page = admin_client.get(url).content.decode()
    assert "Plaid Money Market" in page
    assert "access_token" not in page
    assert item.access_token not in page


def test_filters_and_search(admin_client, item):
    url = reverse("admin:balances_plaiditem_changelist")
    other = PlaidItemFactory(
        owner=UserFactory(username="bob"),
        institution_name="Tartan Bank",
        status=PlaidItem.Status.LOGIN_REQUIRED,
    )

    def listed(**params):
        return list(admin_client.get(url, params).context["cl"].result_list)

    assert listed(status__exact="login_required") == [other]
    assert listed(institution_name="Chase") == [item]
    assert listed(q="alice") == [item]
    assert listed(q="tartan") == [other]


def test_item_page_shows_owner_institution_history_consent_calls_and_accounts(admin_client):
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
    page = admin_client.get(f"{CHANGELIST}{item.pk}/change/").content.decode()
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


def test_item_page_shows_recent_calls_without_the_token(admin_client):
    item = PlaidItemFactory(warning_code="PENDING_EXPIRATION", expires_at=timezone.now())
    start = timezone.now() - timedelta(hours=1)
    for n in range(25):
        PlaidCall.objects.create(
            item=item,
            called_at=start + timedelta(minutes=n),
            endpoint="/accounts/balance/get",
            request_id=f"req-{n:02d}",
            error_code="INSTITUTION_DOWN" if n == 24 else "",
            duration_ms=120,
        )
    page = admin_client.get(reverse("admin:balances_plaiditem_change", args=[item.pk]))
    html = page.content.decode()
    assert "req-24" in html and "INSTITUTION_DOWN" in html and "120 ms" in html
    assert "req-05" in html and "req-04" not in html  # only the latest 20
    assert "PENDING_EXPIRATION" in html
    assert item.access_token not in html


def test_refresh_action_queues_items(
    admin_client, item, queued_refreshes, django_capture_on_commit_callbacks
):
    url = reverse("admin:balances_plaiditem_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            url, {"action": "refresh_balances_now", "_selected_action": [item.pk]}, follow=True
        )
    assert queued_refreshes.item_ids == [item.pk]
    assert "Queued a refresh of 1 item(s)." in response.content.decode()


def test_items_cannot_be_added_by_hand(admin_client):
    assert admin_client.get(reverse("admin:balances_plaiditem_add")).status_code == 403


def test_two_connections_at_one_bank_are_told_apart_by_their_masks(
    admin_client, django_assert_max_num_queries
):
    owner = UserFactory(username="carol")
    for masks in (["0000", "3333"], ["1111"]):
        item = PlaidItemFactory(owner=owner, institution_name="Chase")
        for mask in masks:
            AccountFactory(item=item, mask=mask)
    url = reverse("admin:balances_plaiditem_changelist")
    page = admin_client.get(url).content.decode()
    assert "2 (…0000, …3333)" in page and "1 (…1111)" in page
    # The masks are one prefetch a page, not a query per row (the billed calls: two
    # subqueries in the list's query; their summary above it: three queries).
    for _ in range(5):
        PlaidItemFactory(owner=owner, institution_name="Chase")
    with django_assert_max_num_queries(15):
        admin_client.get(url)


def test_amounts_show_as_money_not_as_stored_decimals(admin_client, item):
    from decimal import Decimal

    from balances.admin.records import admin_money
    from balances.models import Account

    account = Account.objects.filter(item=item, current__isnull=False).order_by("pk").first()
    Account.objects.filter(pk=account.pk).update(
        current=Decimal("409.87"), available=Decimal("1234.5678"), limit=None
    )
    for url in (
        reverse("admin:balances_plaiditem_change", args=[item.pk]),
        reverse("admin:balances_account_change", args=[account.pk]),
        reverse("admin:balances_account_changelist"),
    ):
        page = admin_client.get(url).content.decode()
        assert "409.87 USD" in page, url
        assert "409.8700000000" not in page and "409.87000" not in page, url
    page = admin_client.get(reverse("admin:balances_account_change", args=[account.pk]))
    assert "1,234.5678 USD" in page.content.decode()  # Plaid's 4 decimals kept, exact
    account.refresh_from_db()
    assert admin_money(None, account) == "—"  # none reported is not 0


def test_favicon_ico_is_the_apps_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("favicon.svg")


def test_billed_calls_per_item_per_user_in_all_and_the_budget(admin_client, settings):
    from decimal import Decimal

    from balances.models import BalanceBudgetMonth
    from balances.selectors import costs

    settings.PLAID_BALANCE_PRICE = Decimal("0.10")
    settings.PLAID_BALANCE_MONTHLY_BUDGET = 4
    alice = UserFactory(username="alice")
    item = PlaidItemFactory(owner=alice, institution_name="Chase")
    now = timezone.now()
    for _ in range(4):
        PlaidCall.objects.create(item=item, called_at=now, endpoint="/accounts/balance/get")
    PlaidCall.objects.create(item=item, called_at=now, endpoint="/accounts/get")  # free
    page = admin_client.get(reverse("admin:balances_plaiditem_changelist")).content.decode()
    summary = page[page.index('id="plaid-costs"') :]
    summary = " ".join(summary[: summary.index("</div>")].split())
    assert "4 today, 4 this month (estimated bill this month: 0.40 at 0.10 a call)" in summary
    assert "Monthly budget: 4 of 4 used." in summary and "The budget is spent" in summary
    assert "<td>alice</td> <td>4</td> <td>4</td> <td>0.40</td>" in summary
    assert 'today / this month">4 / 4</span></td>' in page
    BalanceBudgetMonth.objects.create(month=costs.month_start(now).date(), spent_at=now)
    detail = admin_client.get(reverse("admin:balances_plaiditem_change", args=[item.pk]))
    assert "4 today, 4 this month (about 0.40 this month)" in detail.content.decode()
    settings.PLAID_BALANCE_MONTHLY_BUDGET = None
    page = admin_client.get(reverse("admin:balances_plaiditem_changelist")).content.decode()
    assert "No monthly budget is set" in page and "The budget is spent" not in page
