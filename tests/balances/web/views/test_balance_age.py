"""A balance older than its refresh (Plaid's last_updated_datetime: Capital One's cards)
says "as of …" on the dashboard, the account page, the JSON and the CSV; an Item whose bank
had no newer balances is not shown as failed."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import AccountFactory, PlaidItemFactory, UserFactory
from tests.helpers import text

pytestmark = pytest.mark.django_db


@pytest.fixture
def capital_one(client):
    """A signed-in user's Capital One Item refreshed a minute ago: its checking account as
    of the refresh, its card as of 6 hours before (returned: item, checking, card)."""
    user = UserFactory()
    now = timezone.now()
    refreshed = now - timedelta(minutes=1)
    item = PlaidItemFactory(
        owner=user,
        institution_id="ins_128026",
        institution_name="Capital One",
        last_refreshed_at=refreshed,
    )
    checking = AccountFactory(
        item=item, name="360 Checking", current=Decimal(2450), balances_updated_at=refreshed
    )
    card = AccountFactory(
        item=item,
        name="Quicksilver",
        type="credit",
        subtype="credit card",
        current=Decimal(730),
        limit=Decimal(5000),
        balances_updated_at=now - timedelta(hours=6),
    )
    client.force_login(user)
    return item, checking, card


def _row(page: str, account) -> str:
    return page[page.index(f'data-account="{account.pk}"') :].split("</tr>")[0]


def test_the_dashboard_says_as_of_for_a_balance_older_than_its_refresh(client, capital_one):
    _item, checking, card = capital_one
    page = text(client.get(reverse("dashboard")))
    card_row = _row(page, card)
    assert "as of" in card_row and "6 hours ago" in card_row
    assert f'datetime="{card.balances_updated_at.isoformat()}"' in card_row
    assert "as of" not in _row(page, checking)


def test_the_account_page_says_the_bank_updated_it_before_the_refresh(client, capital_one):
    _item, checking, card = capital_one
    page = text(client.get(reverse("account_detail", args=[card.pk])))
    assert "6 hours ago" in page and "the bank's last update; refreshed" in page
    fresh = text(client.get(reverse("account_detail", args=[checking.pk])))
    assert "the bank's last update" not in fresh


def test_the_json_and_the_csv_carry_balances_as_of(client, capital_one):
    _item, checking, card = capital_one
    data = client.get(reverse("dashboard_api")).json()
    accounts = {a["id"]: a for g in data["groups"] for a in g["accounts"]}
    assert accounts[card.pk]["balances_as_of"] == card.balances_updated_at.isoformat()
    assert accounts[checking.pk]["balances_as_of"] is None
    response = client.get(reverse("export_accounts_csv"))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    by_name = {r["account"]: r for r in rows}
    assert by_name["Quicksilver"]["balances_as_of"] == card.balances_updated_at.isoformat()
    assert by_name["360 Checking"]["balances_as_of"] == ""


def test_no_newer_balances_is_not_a_failed_update(client, capital_one):
    item, _checking, card = capital_one
    item.error_code = "LAST_UPDATED_DATETIME_OUT_OF_RANGE"
    item.error_message = "The bank has no newer balances; ..."
    item.save()
    page = text(client.get(reverse("dashboard")))
    assert "no newer balances from the bank" in page
    assert "last update failed" not in page
    assert "6 hours ago" in _row(page, card)
    item.error_code = "INSTITUTION_DOWN"
    item.save()
    assert "last update failed" in text(client.get(reverse("dashboard")))
