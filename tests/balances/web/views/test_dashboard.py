"""The dashboard (figures, history, groups, connections, banners) and "Refresh now"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from balances import tasks
from balances.models import BalanceSnapshot, PlaidItem, Profile
from balances.services import net_worth
from tests.factories import AccountFactory, PlaidItemFactory, UserFactory
from tests.helpers import body, text, tight_text

pytestmark = pytest.mark.django_db


def listed_masks(page: str) -> list[str]:
    return re.findall(r'<tr class="account" data-mask="(\d+)"', page)


# --- Net worth and accounts -----------------------------------------------------------------


def test_dashboard_shows_net_worth_and_accounts_grouped_by_type(client, refreshed_user):
    client.force_login(refreshed_user)
    page = text(client.get("/"))
    assert 'data-currency="USD">$44,110.00<' in page
    cash = page.index('id="heading-depository"')
    credit = page.index('id="heading-credit"')
    assert cash < credit
    assert page.index("Plaid Money Market") < credit < page.index("Plaid Credit Card")
    card_row = page[page.index('data-mask="3333"') :]
    card_row = card_row[: card_row.index("</tr>")]
    assert "$410.00" in card_row and "$2,000.00" in card_row and "21% used" in card_row
    cd_row = page[page.index('data-mask="2222"') :]
    cd_row = cd_row[: cd_row.index("</tr>")]
    assert '<td class="num available">—</td>' in cd_row
    assert "$1,000.00" in cd_row
    assert "cd · USD" in cd_row
    assert "Chase" in page


def test_dashboard_never_shows_another_users_data(client, refreshed_user):
    # More than tests/finance/security: the other user's net worth leaves out this one's.
    other = UserFactory()
    AccountFactory(
        item=PlaidItemFactory(owner=other, institution_name="Other Bank"), name="Secret Savings"
    )
    client.force_login(other)
    page = text(client.get("/"))
    assert "Plaid Checking" not in page and "$44,110.00" not in page
    assert "Secret Savings" in page
    client.force_login(refreshed_user)
    assert "Secret Savings" not in text(client.get("/"))


def test_empty_state_guides_a_new_user(client):
    client.force_login(UserFactory())
    html = b"".join(client.get("/").streaming_content).decode()
    assert "You have not linked a bank yet" in html
    # Both ways in: Plaid Link's button and an account entered by hand.
    assert 'class="link-open"' in html
    assert 'href="/manual/add/"' in html


def test_item_errors_are_explained(client):
    item = PlaidItemFactory(
        status=PlaidItem.Status.LOGIN_REQUIRED, error_code="ITEM_LOGIN_REQUIRED"
    )
    client.force_login(item.owner)
    page = text(client.get("/"))
    assert "Needs re-login" in page
    assert "Your bank needs you to sign in again" in page


def test_access_token_never_reaches_the_page(client, refreshed_user):
    client.force_login(refreshed_user)
    token = PlaidItem.objects.get(owner=refreshed_user).access_token
    assert token not in body(client.get("/"))


def test_subtotals_and_totals_per_currency_main_first(client):
    user = UserFactory()
    item = PlaidItemFactory(owner=user)
    AccountFactory(item=item, iso_currency_code="USD", current=Decimal(100))
    AccountFactory(item=item, iso_currency_code="CAD", current=Decimal(50))
    AccountFactory(
        item=item, iso_currency_code="", unofficial_currency_code="BTC", current=Decimal("0.5")
    )
    Profile.objects.create(user=user, main_currency="CAD")
    client.force_login(user)
    page = tight_text(client.get("/"))
    currencies = re.findall(r'class="net-worth[^"]*" data-currency="(\w+)"', page)
    assert currencies == ["CAD", "USD", "BTC"]
    subtotals = re.findall(r'class="subtotal" data-currency="(\w+)">([^<]+)<', page)
    assert subtotals == [("CAD", "CA$50.00"), ("USD", "$100.00"), ("BTC", "0.5 BTC")]
    assert "kept out of fiat totals" in page


def test_missing_values_show_a_dash_and_credit_shows_utilization(client):
    user = UserFactory()
    item = PlaidItemFactory(owner=user)
    AccountFactory(item=item, type="credit", current=Decimal(750), available=None, limit=None)
    AccountFactory(
        item=item,
        type="credit",
        mask="4321",
        current=Decimal(250),
        available=None,
        limit=Decimal(1000),
    )
    client.force_login(user)
    page = tight_text(client.get("/"))
    row = page[page.index('data-mask="4321"') :].split("</tr>")[0]
    assert '<td class="num available">—</td>' in row
    assert 'value="25"' in row and "25% used" in row and "$750.00 available credit" in row
    no_limit = page[page.index('class="account"') :].split("</tr>")[0]
    assert "% used" not in no_limit


def test_a_long_group_lists_its_largest_accounts_and_links_to_all(client, settings):
    settings.DASHBOARD_ACCOUNTS_PER_GROUP = 3
    user = UserFactory()
    item = PlaidItemFactory(owner=user)
    for mask, current in (("1010", 10), ("1050", 50), ("1030", 30), ("1020", 20), ("1040", 40)):
        AccountFactory(item=item, mask=mask, current=Decimal(current))
    AccountFactory(item=item, mask="9999", current=None)  # no balance: never the largest
    AccountFactory(item=item, mask="2000", type="credit", current=Decimal(5))
    AccountFactory(mask="7777", current=Decimal(10**6))  # someone else's
    client.force_login(user)
    page = tight_text(client.get("/"))
    cash = page[page.index('id="group-depository"') : page.index('id="group-credit"')]
    assert sorted(listed_masks(cash)) == ["1030", "1040", "1050"]
    assert '<span class="subtotal" data-currency="USD">$150.00</span>' in cash  # all six
    assert "The 3 largest of 6 accounts." in cash
    assert 'href="/accounts/type/depository/">See all 6 accounts under Cash</a>' in cash
    credit = page[page.index('id="group-credit"') :]
    assert listed_masks(credit) == ["2000"] and "See all" not in credit  # not cut short
    # The linked page itself: tests/balances/web/views/test_accounts.py.


# --- Change over a period, and history ------------------------------------------------------


def test_headline_change_since_period(client, refreshed_user, backdate_snapshots):
    backdate_snapshots(refreshed_user, 10)
    client.force_login(refreshed_user)
    page = tight_text(client.get("/?since=1w"))
    # Then: 0.9 x each balance: 40,068 assets - 369 owed = 39,699.00; now 44,110.00.
    change = page[page.index('class="change up"') :].split("</dd>")[0]
    assert "+$4,411.00" in change and "(+11.1%)" in change
    assert '<option value="1w" selected>' in page
    # A period before any history: the change is unknown, not "all of it is new".
    page = tight_text(client.get("/?since=1y"))
    change = page[page.index('class="change flat"') :].split("</dd>")[0]
    assert "Unknown: no balances were recorded by then." in change
    assert "$44,110.00" not in change


def test_change_from_a_zero_net_worth_says_the_percent_is_undefined(client):
    user = UserFactory()
    item = PlaidItemFactory(owner=user)
    cash = AccountFactory(item=item, current=Decimal(50))
    card = AccountFactory(item=item, type="credit", current=Decimal(0), limit=Decimal(100))
    past = timezone.now() - timedelta(days=10)
    BalanceSnapshot.objects.create(account=cash, taken_at=past, current=Decimal(100))
    BalanceSnapshot.objects.create(account=card, taken_at=past, current=Decimal(100))
    net_worth.net_worth_rebuild(user_id=user.pk)
    client.force_login(user)
    page = tight_text(client.get("/?since=1w"))
    change = page[page.index('class="change up"') :].split("</dd>")[0]
    assert "+$50.00" in change
    assert "percent undefined: net worth was $0.00 then" in change


def test_unknown_params_fall_back_to_defaults(client, refreshed_user):
    client.force_login(refreshed_user)
    page = tight_text(client.get("/?since=bogus&range=<script>"))
    assert '<option value="1m" selected>' in page
    assert 'data-range="90d" aria-current="true"' in page
    assert "<script>" not in page.split('id="history"')[1].split("</section>")[0]


def test_history_chart_data_and_table(client, refreshed_user, backdate_snapshots):
    backdate_snapshots(refreshed_user, 3)
    client.force_login(refreshed_user)
    page = tight_text(client.get("/?range=30d"))
    assert 'id="chart-data"' in page
    assert 'data-range="30d" aria-current="true"' in page
    table = page[page.index("Daily net worth in USD") :].split("</table>")[0]
    assert table.count("<tr>") == 5  # header + 4 days, newest first
    assert "$44,110.00" in table and "$39,699.00" in table
    assert table.index("$44,110.00") < table.index("$39,699.00")


# --- Freshness and connections --------------------------------------------------------------


def test_freshness_and_pending(client):
    user = UserFactory()
    now = timezone.now()
    item = PlaidItemFactory(
        owner=user, last_refreshed_at=now - timedelta(minutes=5), refresh_requested_at=now
    )
    AccountFactory(item=item)
    client.force_login(user)
    page = tight_text(client.get("/"))
    groups = page[page.index('id="account-groups"') :]
    assert '<span class="pending freshness">updating…</span>' in groups
    assert 'data-pending="true"' in page.split('id="dashboard-live"')[1]
    # The same in the JSON the page polls: tests/balances/web/views/test_exports.py.


def test_freshness_per_institution_and_stale_warning(client, settings):
    settings.BALANCE_STALE_AFTER = 3600
    user = UserFactory()
    fresh = PlaidItemFactory(
        owner=user,
        institution_name="Fresh Bank",
        last_refreshed_at=timezone.now() - timedelta(minutes=5),
    )
    stale = PlaidItemFactory(
        owner=user,
        institution_name="Stale Bank",
        last_refreshed_at=timezone.now() - timedelta(hours=3),
        error_code="INSTITUTION_DOWN",
        status=PlaidItem.Status.ERROR,
    )
    AccountFactory(item=fresh)
    AccountFactory(item=stale)
    client.force_login(user)
    page = tight_text(client.get("/"))
    groups = page[page.index('id="account-groups"') :]
    fresh_row = groups[groups.index("Fresh Bank") :].split("</tr>")[0]
    stale_row = groups[groups.index("Stale Bank") :].split("</tr>")[0]
    assert "updated 5 minutes ago" in fresh_row and "out of date" not in fresh_row
    assert "updated 3 hours ago" in stale_row
    assert "may be out of date" in stale_row and "last update failed" in stale_row
    assert "Your bank is not answering right now" in page  # the action, in the banner


def test_connections_needing_attention_are_always_listed(client, settings):
    settings.DASHBOARD_CONNECTIONS_SHOWN = 2
    user = UserFactory()
    now = timezone.now()
    for n in range(4):
        PlaidItemFactory(owner=user, institution_name=f"Fine Bank {n}", last_refreshed_at=now)
    PlaidItemFactory(
        owner=user,
        institution_name="Zed Bank",  # last in order: listed because it needs attention
        status=PlaidItem.Status.LOGIN_REQUIRED,
        error_code="ITEM_LOGIN_REQUIRED",
        last_refreshed_at=now,
    )
    client.force_login(user)
    page = tight_text(client.get("/"))
    listed = re.findall(
        r'<li class="connection[^"]*" data-item="\d+"[^>]*>'
        r'<div class="connection-head"><strong>([^<]+)',
        page,
    )
    assert listed == ["Fine Bank 0", "Zed Bank"]
    assert (
        '3 more connections are up to date.<a href="/connections/">See all connections</a>' in page
    )
    # The linked page itself: tests/balances/web/views/test_accounts.py.


# --- Linking: buttons and banners -----------------------------------------------------------


def test_link_a_bank_in_the_header_and_the_empty_state(client, user, settings):
    settings.PLAID_LINK_SCRIPT_URL = "http://127.0.0.1:9/link/v2/stable/link-initialize.js"
    page = text(client.get(reverse("dashboard")))
    assert page.count(">Link a bank</button>") == 2
    assert '<script src="http://127.0.0.1:9/link/v2/stable/link-initialize.js" defer>' in page
    assert "/static/js/link.js" in page
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "inline script"
    assert "style=" not in page


def test_reconnect_banner_for_an_item_that_needs_re_login(client, user):
    item = PlaidItemFactory(
        owner=user, status=PlaidItem.Status.LOGIN_REQUIRED, error_code="ITEM_LOGIN_REQUIRED"
    )
    page = text(client.get(reverse("dashboard")))
    assert "Your bank needs you to sign in again. Reconnect this bank." in page
    assert "Balances from Chase stop updating until you reconnect." in page
    assert f'data-link-token-url="{reverse("item_link_token", args=[item.pk])}"' in page
    assert 'data-link-mode="reconnect"' in page
    assert ">Reconnect</button>" in page
    assert item.access_token not in page


@pytest.mark.parametrize(
    ("code", "help_text"),
    [
        ("ITEM_LOCKED", "Unlock it at your bank, then reconnect."),
        ("USER_SETUP_REQUIRED", "Your bank needs you to sign in again. Reconnect this bank."),
        ("", "Your bank needs you to sign in again. Reconnect this bank."),
    ],
)
def test_reconnect_banner_explains_each_re_login_error(client, user, code, help_text):
    PlaidItemFactory(owner=user, status=PlaidItem.Status.LOGIN_REQUIRED, error_code=code)
    page = text(client.get(reverse("dashboard")))
    assert help_text in page
    assert "retry automatically" not in page


def test_expiry_warning_shows_the_date(client, user):
    PlaidItemFactory(
        owner=user,
        warning_code="PENDING_EXPIRATION",
        expires_at=datetime(2030, 3, 14, 12, tzinfo=UTC),
    )
    PlaidItemFactory(owner=user, institution_name="Tartan Bank", warning_code="PENDING_DISCONNECT")
    page = text(client.get(reverse("dashboard")))
    assert "Your permission for Chase expires on" in page
    assert "14 March 2030" in page
    assert "Tartan Bank will disconnect soon." in page
    assert page.count(">Reconnect now</button>") == 2


def test_new_accounts_offer(client, user):
    PlaidItemFactory(owner=user, new_accounts_available=True)
    page = text(client.get(reverse("dashboard")))
    assert "Chase has new accounts you can add" in page
    assert 'data-link-mode="new_accounts"' in page
    assert ">Add new accounts</button>" in page


def test_healthy_item_shows_no_banner(client, user):
    PlaidItemFactory(owner=user, last_refreshed_at=timezone.now())
    page = text(client.get(reverse("dashboard")))
    assert "banner" not in page
    # Its Unlink link names the bank for a screen reader ("Unlink Chase").
    assert 'Unlink<span class="visually-hidden"> Chase</span></a>' in page


# --- Refresh now ----------------------------------------------------------------------------


def test_refresh_now_queues_the_users_items(
    client, queued_refreshes, django_capture_on_commit_callbacks
):
    item = PlaidItemFactory()
    PlaidItemFactory()
    client.force_login(item.owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("refresh"), follow=True)
    assert queued_refreshes.item_ids == [item.pk]
    assert "Refreshing 1 connection." in text(response)


@pytest.mark.django_db(transaction=True)  # on_commit runs at once, as in a real request
def test_refresh_with_queue_down_says_so_instead_of_500(client, monkeypatch):
    def broker_down(pk, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.refresh_item_balances, "delay", broker_down)
    item = PlaidItemFactory()
    client.force_login(item.owner)
    response = client.post(reverse("refresh"), follow=True)
    assert response.status_code == 200
    assert "background service is not reachable" in text(response)


def test_refresh_requires_post(client):
    # Login and CSRF: tests/finance/security/test_url_access.py, for every URL.
    client.force_login(UserFactory())
    assert client.get(reverse("refresh")).status_code == 405


# --- Signing in -----------------------------------------------------------------------------


def test_login_page_and_login(client):
    UserFactory(username="alice")
    assert client.get(reverse("login")).status_code == 200
    response = client.post(
        reverse("login"), {"username": "alice", "password": "correct horse battery staple"}
    )
    assert response.status_code == 302
    assert response.url == reverse("dashboard")


# --- Plaid costs: refresh on opening, the spent budget ---------------------------------------


def test_opening_the_dashboard_with_old_balances_refreshes_them_and_shows_it(
    client, queued, settings, django_capture_on_commit_callbacks
):
    settings.BALANCE_REFRESH_ON_OPEN_AFTER = 3600
    user = UserFactory()
    now = timezone.now()
    old = PlaidItemFactory(
        owner=user,
        institution_name="Old Bank",
        last_refreshed_at=now,  # cached a minute ago, real time long ago
        last_realtime_at=now - timedelta(hours=5),
    )
    PlaidItemFactory(
        owner=user, institution_name="Fresh Bank", last_refreshed_at=now, last_realtime_at=now
    )
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        page = text(client.get("/"))
    assert queued == [(old.pk, {"realtime": True})]
    assert 'data-pending="true"' in page  # the page polls and updates itself
    old_row = page[page.index(f'data-item="{old.pk}"') :]
    assert "Fetching balances" in old_row[: old_row.index("</li>")]
    with django_capture_on_commit_callbacks(execute=True):
        client.get("/")
    assert len(queued) == 1  # pending: once


def test_connection_says_when_its_balances_are_plaids_cached_ones(client, settings):
    settings.BALANCE_REFRESH_ON_OPEN_AFTER = 0
    user = UserFactory()
    now = timezone.now()
    PlaidItemFactory(owner=user, last_refreshed_at=now, last_realtime_at=now - timedelta(hours=3))
    client.force_login(user)
    page = tight_text(client.get("/"))
    assert "(Plaid's cached balances; real time 3 hours ago)" in page


def test_dashboard_says_when_the_budget_is_spent(client, settings):
    from balances.models import BalanceBudgetMonth, PlaidCall
    from balances.selectors import costs

    settings.BALANCE_REFRESH_ON_OPEN_AFTER = 0
    settings.PLAID_BALANCE_MONTHLY_BUDGET = 1
    settings.PLAID_BALANCE_REFRESH_NOW_DAILY_CAP = 7
    user = UserFactory()
    item = PlaidItemFactory(owner=user)
    client.force_login(user)
    assert 'id="budget-spent"' not in text(client.get("/"))
    PlaidCall.objects.create(item=item, called_at=timezone.now(), endpoint="/accounts/balance/get")
    spent_at = timezone.now()
    BalanceBudgetMonth.objects.create(
        month=costs.month_start(spent_at).date(), reserved=1, spent_at=spent_at
    )
    page = tight_text(client.get("/"))
    assert 'id="budget-spent"' in page
    assert "Balances are Plaid's cached ones" in page and "since" in page
    assert "budget of 1 real-time balance calls is spent" in page
    assert "up to 7 calls a day" in page
    settings.PLAID_BALANCE_MONTHLY_BUDGET = None
    assert 'id="budget-spent"' not in text(client.get("/"))
