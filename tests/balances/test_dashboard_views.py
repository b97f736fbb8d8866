"""Dashboard figures, account pages, CSV and JSON data out, the settings page."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from balances.models import Account, BalanceSnapshot, PlaidItem, Profile
from balances.services import net_worth
from tests.factories import AccountFactory, PlaidItemFactory, UserFactory

pytestmark = pytest.mark.django_db


def text(response) -> str:
    page = re.sub(r"\s+", " ", response.content.decode())
    return re.sub(r"\s*<", "<", re.sub(r">\s*", ">", page))


def backdate_snapshots(user, days: int) -> None:
    """Copy the user's snapshots `days` back with 10% lower balances (history)."""
    past = timezone.now() - timedelta(days=days)
    BalanceSnapshot.objects.bulk_create(
        BalanceSnapshot(
            account=s.account,
            taken_at=past,
            available=s.available,
            current=None if s.current is None else s.current * Decimal("0.9"),
            limit=s.limit,
        )
        for s in BalanceSnapshot.objects.filter(account__item__owner=user)
    )
    net_worth.net_worth_rebuild(user_id=user.pk)  # history written behind the refreshes' back


def csv_rows(response) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


@pytest.mark.parametrize(
    "name",
    ["dashboard_api", "export_accounts_csv", "export_history_csv", "profile_settings"],
)
def test_login_required(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_headline_change_since_period(client, refreshed_user):
    backdate_snapshots(refreshed_user, 10)
    client.force_login(refreshed_user)
    page = text(client.get("/?since=1w"))
    # Then: 0.9 x each balance: 40,068 assets - 369 owed = 39,699.00; now 44,110.00.
    change = page[page.index('class="change up"') :].split("</dd>")[0]
    assert "+$4,411.00" in change and "(+11.1%)" in change
    assert '<option value="1w" selected>' in page
    # A period before any history: the change is unknown, not "all of it is new".
    page = text(client.get("/?since=1y"))
    change = page[page.index('class="change flat"') :].split("</dd>")[0]
    assert "Unknown: no balances were recorded by then." in change
    assert "$44,110.00" not in change


def test_unknown_params_fall_back_to_defaults(client, refreshed_user):
    client.force_login(refreshed_user)
    page = text(client.get("/?since=bogus&range=<script>"))
    assert '<option value="1m" selected>' in page
    assert 'data-range="90d" aria-current="true"' in page
    assert "<script>" not in page.split('id="history"')[1].split("</section>")[0]


def test_history_chart_data_and_table(client, refreshed_user):
    backdate_snapshots(refreshed_user, 3)
    client.force_login(refreshed_user)
    page = text(client.get("/?range=30d"))
    assert 'id="chart-data"' in page
    assert 'data-range="30d" aria-current="true"' in page
    table = page[page.index("Daily net worth in USD") :].split("</table>")[0]
    assert table.count("<tr>") == 5  # header + 4 days, newest first
    assert "$44,110.00" in table and "$39,699.00" in table
    assert table.index("$44,110.00") < table.index("$39,699.00")


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
    page = text(client.get("/"))
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
    page = text(client.get("/"))
    row = page[page.index('data-mask="4321"') :].split("</tr>")[0]
    assert '<td class="num available">—</td>' in row
    assert 'value="25"' in row and "25% used" in row and "$750.00 available credit" in row
    no_limit = page[page.index('class="account"') :].split("</tr>")[0]
    assert "% used" not in no_limit


def test_freshness_and_pending(client):
    user = UserFactory()
    now = timezone.now()
    item = PlaidItemFactory(
        owner=user, last_refreshed_at=now - timedelta(minutes=5), refresh_requested_at=now
    )
    AccountFactory(item=item)
    client.force_login(user)
    page = text(client.get("/"))
    groups = page[page.index('id="account-groups"') :]
    assert '<span class="pending freshness">updating…</span>' in groups
    assert 'data-pending="true"' in page.split('id="dashboard-live"')[1]
    data = client.get(reverse("dashboard_api")).json()
    assert data["pending"] is True and data["items"][0]["pending"] is True
    PlaidItem.objects.filter(pk=item.pk).update(last_refreshed_at=timezone.now())
    assert client.get(reverse("dashboard_api")).json()["pending"] is False


def test_account_page_and_isolation(client, refreshed_user):
    backdate_snapshots(refreshed_user, 2)
    card = Account.objects.get(item__owner=refreshed_user, mask="3333")
    client.force_login(refreshed_user)
    page = text(client.get(reverse("account_detail", args=[card.pk])))
    assert "Plaid Credit Card" in page and "20.5% used" in page
    assert "$1,590.00 available credit" in page
    table = page[page.index("Daily balances of") :].split("</table>")[0]
    assert table.count("<tr>") == 4  # header + 3 days
    assert "$369.00" in table and "$410.00" in table
    other = UserFactory()
    client.force_login(other)
    assert client.get(reverse("account_detail", args=[card.pk])).status_code == 404
    assert client.get(reverse("account_detail", args=[999999])).status_code == 404


def test_json_endpoint_contents(client, refreshed_user):
    other = AccountFactory(name="Someone Else's", current=Decimal(5))
    client.force_login(refreshed_user)
    response = client.get(reverse("dashboard_api"), {"range": "30d", "since": "1w"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    data = response.json()
    (usd,) = data["totals"]
    assert usd["currency"] == "USD"
    assert (usd["assets"], usd["liabilities"], usd["net_worth"]) == (
        "44520.00",
        "410.00",
        "44110.00",
    )
    assert usd["change"]["period"] == "1w"
    assert usd["change"]["amount"] is None and usd["change"]["percent"] is None
    assert [g["key"] for g in data["groups"]] == ["depository", "credit"]
    accounts = {a["mask"]: a for g in data["groups"] for a in g["accounts"]}
    assert accounts["2222"]["available"] is None  # the CD: missing, never 0
    assert accounts["3333"]["utilization_percent"] == "20.5"
    assert accounts["3333"]["available_credit"] == "1590.00"
    assert data["history"][0]["points"][-1]["net_worth"] == "44110.00"
    body = response.content.decode()
    assert other.name not in body
    item = PlaidItem.objects.get(owner=refreshed_user)
    assert item.access_token not in body and item.plaid_item_id not in body
    assert "access" not in body


def test_json_endpoint_is_read_only(client, refreshed_user):
    client.force_login(refreshed_user)
    assert client.post(reverse("dashboard_api")).status_code == 405


def test_accounts_csv(client, refreshed_user):
    AccountFactory(name="Not mine", current=Decimal(1))
    Account.objects.filter(item__owner=refreshed_user, mask="0000").update(name="=HYPERLINK(evil)")
    client.force_login(refreshed_user)
    response = client.get(reverse("export_accounts_csv"))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    rows = csv_rows(response)
    assert len(rows) == 5
    by_mask = {r["mask"]: r for r in rows}
    assert by_mask["0000"]["account"] == "'=HYPERLINK(evil)"  # never a formula
    assert by_mask["2222"]["available"] == ""  # missing, not 0
    assert by_mask["2222"]["current"] == "1000.00"
    assert by_mask["3333"]["limit"] == "2000.00"
    assert by_mask["3333"]["utilization_percent"] == "20.5"
    assert all(r["currency"] == "USD" for r in rows)
    item = PlaidItem.objects.get(owner=refreshed_user)
    body = "".join(",".join(r.values()) for r in rows)
    assert item.access_token not in body and "Not mine" not in body


def test_history_csv(client, refreshed_user):
    backdate_snapshots(refreshed_user, 1)
    AccountFactory(name="Not mine")
    BalanceSnapshot.objects.create(
        account=Account.objects.get(name="Not mine"), taken_at=timezone.now(), current=1
    )
    client.force_login(refreshed_user)
    rows = csv_rows(client.get(reverse("export_history_csv")))
    assert len(rows) == 10  # five accounts, two snapshots each, oldest first
    assert rows[0]["taken_at"] < rows[-1]["taken_at"]
    money_market = [r for r in rows if r["mask"] == "4444"]
    assert [r["current"] for r in money_market] == ["38880.00", "43200.00"]
    assert {r["institution"] for r in rows} == {"Chase"}
    assert "Not mine" not in {r["account"] for r in rows}


def test_settings_page_changes_the_main_currency(client):
    user = UserFactory()
    AccountFactory(item=PlaidItemFactory(owner=user), iso_currency_code="CAD")
    client.force_login(user)
    page = text(client.get(reverse("profile_settings")))
    assert '<label for="id_main_currency">Main currency</label>' in page
    assert "CAD (your accounts)" in page
    response = client.post(reverse("profile_settings"), {"main_currency": "CAD"})
    assert response.status_code == 302
    assert Profile.objects.get(user=user).main_currency == "CAD"


@pytest.mark.parametrize("value", ["", "XYZ", "usd1", "BTC"])
def test_settings_rejects_bad_currencies(client, value):
    user = UserFactory()
    Profile.objects.create(user=user, main_currency="EUR")
    client.force_login(user)
    response = client.post(reverse("profile_settings"), {"main_currency": value})
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert Profile.objects.get(user=user).main_currency == "EUR"


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
    page = text(client.get("/?since=1w"))
    change = page[page.index('class="change up"') :].split("</dd>")[0]
    assert "+$50.00" in change
    assert "percent undefined: net worth was $0.00 then" in change


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
    page = text(client.get("/"))
    groups = page[page.index('id="account-groups"') :]
    fresh_row = groups[groups.index("Fresh Bank") :].split("</tr>")[0]
    stale_row = groups[groups.index("Stale Bank") :].split("</tr>")[0]
    assert "updated 5 minutes ago" in fresh_row and "out of date" not in fresh_row
    assert "updated 3 hours ago" in stale_row
    assert "may be out of date" in stale_row and "last update failed" in stale_row
    assert "Your bank is not answering right now" in page  # the action, in the banner


def test_account_page_never_dates_balances_in_the_future(client):
    user = UserFactory()
    account = AccountFactory(
        item=PlaidItemFactory(owner=user),
        balances_updated_at=timezone.now() + timedelta(hours=2),  # the bank's clock is ahead
    )
    client.force_login(user)
    page = text(client.get(reverse("account_detail", args=[account.pk])))
    assert "from now" not in page
    assert ">now<" in page


def listed_masks(page: str) -> list[str]:
    return re.findall(r'<tr class="account" data-mask="(\d+)"', page)


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
    page = text(client.get("/"))
    cash = page[page.index('id="group-depository"') : page.index('id="group-credit"')]
    assert sorted(listed_masks(cash)) == ["1030", "1040", "1050"]
    assert '<span class="subtotal" data-currency="USD">$150.00</span>' in cash  # all six
    assert "The 3 largest of 6 accounts." in cash
    assert 'href="/accounts/type/depository/">See all 6 accounts under Cash</a>' in cash
    credit = page[page.index('id="group-credit"') :]
    assert listed_masks(credit) == ["2000"] and "See all" not in credit  # not cut short

    everything = text(client.get(reverse("account_group", args=["depository"])))
    assert sorted(listed_masks(everything)) == ["1010", "1020", "1030", "1040", "1050", "9999"]
    assert "<h1 " in everything and "$150.00" in everything and "7777" not in everything


def test_the_full_list_of_a_group_pages_through_every_account(client, monkeypatch):
    monkeypatch.setattr("balances.views.dashboard.PAGE_SIZE", 2)
    user = UserFactory()
    item = PlaidItemFactory(owner=user)
    for n in range(5):
        AccountFactory(item=item, name=f"Card {n}", mask=f"300{n}", type="credit")
    client.force_login(user)
    url = reverse("account_group", args=["credit"])
    seen = []
    for number in (1, 2, 3):
        page = text(client.get(url, {"page": number}))
        seen += listed_masks(page)
        assert f"Page {number} of 3" in page
    assert sorted(seen) == ["3000", "3001", "3002", "3003", "3004"]
    assert listed_masks(text(client.get(url, {"page": "nonsense"}))) == seen[:2]  # page 1
    assert listed_masks(text(client.get(url, {"page": 99}))) == seen[4:]  # the last page


def test_unknown_group_is_404_and_an_empty_one_says_so(client):
    client.force_login(UserFactory())
    assert client.get("/accounts/type/savings/").status_code == 404
    page = text(client.get(reverse("account_group", args=["loan"])))
    assert "You have no open accounts of this type." in page


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
    page = text(client.get("/"))
    listed = re.findall(
        r'<li class="connection[^"]*" data-item="\d+"><div class="connection-head"><strong>([^<]+)',
        page,
    )
    assert listed == ["Fine Bank 0", "Zed Bank"]
    assert (
        '3 more connections are up to date.<a href="/connections/">See all connections</a>' in page
    )
    everything = text(client.get(reverse("connections")))
    assert everything.count('<li class="connection') == 5
    assert "<h1 " in everything and "more connection" not in everything


def test_connections_page_without_banks(client):
    client.force_login(UserFactory())
    assert "You have not linked a bank yet." in text(client.get(reverse("connections")))
