"""Data out: the dashboard's JSON, and the accounts and history CSV files."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from balances.models import Account, BalanceSnapshot, PlaidItem
from tests.factories import AccountFactory, PlaidItemFactory, UserFactory

pytestmark = pytest.mark.django_db


def csv_rows(response) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


# --- JSON -----------------------------------------------------------------------------------


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


def test_json_says_which_items_are_pending(client):
    user = UserFactory()
    now = timezone.now()
    item = PlaidItemFactory(
        owner=user, last_refreshed_at=now - timedelta(minutes=5), refresh_requested_at=now
    )
    AccountFactory(item=item)
    client.force_login(user)
    data = client.get(reverse("dashboard_api")).json()
    assert data["pending"] is True and data["items"][0]["pending"] is True
    PlaidItem.objects.filter(pk=item.pk).update(last_refreshed_at=timezone.now())
    assert client.get(reverse("dashboard_api")).json()["pending"] is False


def test_json_endpoint_is_read_only(client, refreshed_user):
    client.force_login(refreshed_user)
    assert client.post(reverse("dashboard_api")).status_code == 405


# --- CSV ------------------------------------------------------------------------------------


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


def test_history_csv(client, refreshed_user, backdate_snapshots):
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
