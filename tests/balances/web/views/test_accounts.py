"""Account pages: one account with its history, all accounts of a type, all connections."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from balances.models import Account, PlaidItem
from tests.factories import AccountFactory, PlaidItemFactory, UserFactory
from tests.helpers import tight_text

pytestmark = pytest.mark.django_db


def listed_masks(page: str) -> list[str]:
    return re.findall(r'<tr class="account" data-mask="(\d+)"', page)


# --- One account ----------------------------------------------------------------------------


def test_account_page(client, refreshed_user, backdate_snapshots):
    backdate_snapshots(refreshed_user, 2)
    card = Account.objects.get(item__owner=refreshed_user, mask="3333")
    client.force_login(refreshed_user)
    page = tight_text(client.get(reverse("account_detail", args=[card.pk])))
    assert "Plaid Credit Card" in page and "20.5% used" in page
    assert "$1,590.00 available credit" in page
    table = page[page.index("Daily balances of") :].split("</table>")[0]
    assert table.count("<tr>") == 4  # header + 3 days
    assert "$369.00" in table and "$410.00" in table
    # Another user's account is a 404: tests/finance/security/test_url_access.py.


def test_missing_account_is_a_404(client):
    client.force_login(UserFactory())
    assert client.get(reverse("account_detail", args=[999999])).status_code == 404


def test_account_page_never_dates_balances_in_the_future(client):
    user = UserFactory()
    account = AccountFactory(
        item=PlaidItemFactory(owner=user),
        balances_updated_at=timezone.now() + timedelta(hours=2),  # the bank's clock is ahead
    )
    client.force_login(user)
    page = tight_text(client.get(reverse("account_detail", args=[account.pk])))
    assert "from now" not in page
    assert ">now<" in page


# --- All accounts of a type -----------------------------------------------------------------


def test_a_groups_page_lists_all_its_accounts(client, settings):
    settings.DASHBOARD_ACCOUNTS_PER_GROUP = 3  # the dashboard lists 3 of them
    user = UserFactory()
    item = PlaidItemFactory(owner=user)
    for mask, current in (("1010", 10), ("1050", 50), ("1030", 30), ("1020", 20), ("1040", 40)):
        AccountFactory(item=item, mask=mask, current=Decimal(current))
    AccountFactory(item=item, mask="9999", current=None)
    AccountFactory(item=item, mask="2000", type="credit", current=Decimal(5))
    AccountFactory(mask="7777", current=Decimal(10**6))  # someone else's
    client.force_login(user)
    everything = tight_text(client.get(reverse("account_group", args=["depository"])))
    assert sorted(listed_masks(everything)) == ["1010", "1020", "1030", "1040", "1050", "9999"]
    assert "<h1 " in everything and "$150.00" in everything and "7777" not in everything


def test_the_full_list_of_a_group_pages_through_every_account(client, monkeypatch):
    monkeypatch.setattr("balances.web.views.accounts.PAGE_SIZE", 2)
    user = UserFactory()
    item = PlaidItemFactory(owner=user)
    for n in range(5):
        AccountFactory(item=item, name=f"Card {n}", mask=f"300{n}", type="credit")
    client.force_login(user)
    url = reverse("account_group", args=["credit"])
    seen = []
    for number in (1, 2, 3):
        page = tight_text(client.get(url, {"page": number}))
        seen += listed_masks(page)
        assert f"Page {number} of 3" in page
    assert sorted(seen) == ["3000", "3001", "3002", "3003", "3004"]
    assert listed_masks(tight_text(client.get(url, {"page": "nonsense"}))) == seen[:2]  # page 1
    assert listed_masks(tight_text(client.get(url, {"page": 99}))) == seen[4:]  # the last page


def test_unknown_group_is_404_and_an_empty_one_says_so(client):
    client.force_login(UserFactory())
    assert client.get("/accounts/type/savings/").status_code == 404
    page = tight_text(client.get(reverse("account_group", args=["loan"])))
    assert "You have no open accounts of this type." in page


# --- All connections ------------------------------------------------------------------------


def test_connections_page_lists_every_connection(client, settings):
    settings.DASHBOARD_CONNECTIONS_SHOWN = 2  # the dashboard shows 2 of them
    user = UserFactory()
    now = timezone.now()
    for n in range(4):
        PlaidItemFactory(owner=user, institution_name=f"Fine Bank {n}", last_refreshed_at=now)
    PlaidItemFactory(
        owner=user,
        institution_name="Zed Bank",
        status=PlaidItem.Status.LOGIN_REQUIRED,
        error_code="ITEM_LOGIN_REQUIRED",
        last_refreshed_at=now,
    )
    client.force_login(user)
    everything = tight_text(client.get(reverse("connections")))
    assert everything.count('<li class="connection') == 5
    assert "<h1 " in everything and "more connection" not in everything


def test_connections_page_without_banks(client):
    client.force_login(UserFactory())
    assert "You have not linked a bank yet." in tight_text(client.get(reverse("connections")))
