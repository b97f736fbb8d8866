"""Accounts entered by hand on the web: add, edit, re-value and delete (with its
confirmation page); clear errors that save nothing; the dashboard shows them in their
type's group, marked as entered by hand, and the exports include them.

Per-view login, isolation and CSRF checks are the resolver-driven
tests/finance/security/test_url_access.py."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from balances.models import ManualAccount, ManualValue, NetWorthDay
from balances.services import manual_accounts
from tests.factories import UserFactory
from tests.helpers import body, figures, tight_text

pytestmark = pytest.mark.django_db

HOUSE = {
    "name": "House",
    "kind": "asset",
    "category": "property",
    "currency": "USD",
    "value": "350,000",
    "as_of": "",
    "note": "",
}


def csv_rows(response) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_adding_a_house_and_a_loan_shows_on_the_dashboard(client, refreshed_user):
    client.force_login(refreshed_user)
    form = client.get(reverse("manual_account_add"))
    assert form.status_code == 200 and "Add an account by hand" in body(form)
    response = client.post(reverse("manual_account_add"), HOUSE)
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    loan = {**HOUSE, "name": "Car loan", "kind": "liability", "category": "loan"}
    client.post(reverse("manual_account_add"), {**loan, "value": "12000"})
    page = client.get(reverse("dashboard"))
    text = tight_text(page)
    assert "$382,110.00" in text
    html = body(page)
    assert html.count('<tr class="account manual"') == 2
    assert "entered by hand · value of" in text
    # Each in its type's group: the house under Other, the loan under Loans.
    groups = {g.key: g for g in figures(page)["groups"]}
    assert [m.name for m in groups["other"].manual] == ["House"]
    assert [m.name for m in groups["loan"].manual] == ["Car loan"]
    assert groups["loan"].subtotals[0].amount == Decimal(12000)
    house = ManualAccount.objects.get(name="House")
    for name in ("manual_account_revalue", "manual_account_edit", "manual_account_delete"):
        assert reverse(name, args=[house.pk]) in html
    assert reverse("manual_account_add") in html


def test_the_empty_dashboard_offers_to_add_an_account_by_hand(client):
    client.force_login(UserFactory())
    page = body(client.get(reverse("dashboard")))
    assert "add an account by hand" in page and reverse("manual_account_add") in page


def test_a_user_with_only_manual_accounts_sees_totals_chart_and_data_links(client):
    user = UserFactory()
    manual_accounts.manual_account_create(
        user=user, name="Cash at home", kind="asset", category="cash", currency="EUR", value="500"
    )
    client.force_login(user)
    page = client.get(reverse("dashboard"))
    text = tight_text(page)
    assert "€500.00" in text or "500.00" in text
    assert figures(page)["board"].history
    assert reverse("export_accounts_csv") in body(page)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"value": "lots"}, "value", "Enter a number"),
        ({"currency": "XYZ"}, "currency", "Unknown currency"),
        ({"category": "boat"}, "category", "Select a valid choice"),
        ({"name": ""}, "name", "This field is required"),
        ({"as_of": "2999-01-01"}, "as_of", "future"),
        ({"as_of": "someday"}, "as_of", "Enter a valid date"),
    ],
)
def test_bad_input_shows_a_clear_error_and_saves_nothing(
    client, refreshed_user, change, field, message
):
    client.force_login(refreshed_user)
    rows = list(NetWorthDay.objects.values_list("day", "assets"))
    response = client.post(reverse("manual_account_add"), {**HOUSE, **change})
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert message in body(response)
    assert not ManualAccount.objects.exists()
    assert list(NetWorthDay.objects.values_list("day", "assets")) == rows


def test_revaluing_keeps_history_and_moves_the_chart(client, refreshed_user):
    client.force_login(refreshed_user)
    client.post(reverse("manual_account_add"), HOUSE)
    house = ManualAccount.objects.get()
    url = reverse("manual_account_revalue", args=[house.pk])
    page = client.get(url)
    assert page.status_code == 200 and "Values entered" in body(page)
    assert client.post(url, {"value": "oops"}).status_code == 400
    assert client.post(url, {"value": "360000", "as_of": ""}).status_code == 302
    assert list(house.values.values_list("value", flat=True)) == [Decimal(350000), 360000]
    board = figures(client.get(reverse("dashboard")))["board"]
    assert board.history[0].points[-1].net_worth == Decimal("404110")
    assert "$404,110.00" in tight_text(client.get(reverse("dashboard")))


def test_a_past_value_changes_the_chart_from_that_day(client, refreshed_user):
    client.force_login(refreshed_user)
    today = timezone.localdate()
    client.post(
        reverse("manual_account_add"),
        {**HOUSE, "as_of": (today - timedelta(days=20)).isoformat(), "value": "300000"},
    )
    board = figures(client.get(reverse("dashboard"), {"range": "30d"}))["board"]
    by_day = {p.day: p.net_worth for p in board.history[0].points}
    assert by_day[today - timedelta(days=20)] == Decimal(300000)
    assert by_day[today] == Decimal(344110)


def test_editing_changes_what_it_is(client):
    user = UserFactory()
    account = manual_accounts.manual_account_create(
        user=user, name="Car", kind="asset", category="vehicle", currency="USD", value="9000"
    )
    client.force_login(user)
    url = reverse("manual_account_edit", args=[account.pk])
    page = client.get(url)
    assert page.status_code == 200 and 'value="Car"' in body(page)
    bad = client.post(url, {"name": "Car", "kind": "asset", "category": "vehicle", "currency": "?"})
    assert bad.status_code == 400 and "Unknown currency" in body(bad)
    response = client.post(
        url, {"name": "Van", "kind": "asset", "category": "vehicle", "currency": "eur"}
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.name, account.currency, account.value) == ("Van", "EUR", Decimal(9000))


def test_deleting_asks_first_then_removes_it_and_its_history(client, refreshed_user):
    client.force_login(refreshed_user)
    before = figures(client.get(reverse("dashboard")))["board"].history
    client.post(
        reverse("manual_account_add"),
        {**HOUSE, "as_of": (timezone.localdate() - timedelta(days=5)).isoformat()},
    )
    house = ManualAccount.objects.get()
    url = reverse("manual_account_delete", args=[house.pk])
    confirm = client.get(url)
    assert confirm.status_code == 200
    assert "Delete House?" in body(confirm)
    assert ManualAccount.objects.exists()  # asking deletes nothing
    assert client.post(url).status_code == 302
    assert not ManualAccount.objects.exists() and not ManualValue.objects.exists()
    page = client.get(reverse("dashboard"))
    assert figures(page)["board"].history == before
    assert "$44,110.00" in tight_text(page)


def test_exports_include_manual_accounts_with_their_source(client, refreshed_user):
    client.force_login(refreshed_user)
    client.post(reverse("manual_account_add"), {**HOUSE, "name": "=House"})
    house = ManualAccount.objects.get()
    manual_accounts.manual_account_revalue(account=house, value="360000")
    accounts = csv_rows(client.get(reverse("export_accounts_csv")))
    assert [r["source"] for r in accounts] == ["plaid"] * 5 + ["manual"]
    assert accounts[-1]["account"] == "'=House"  # never a formula
    assert (accounts[-1]["current"], accounts[-1]["type"], accounts[-1]["subtype"]) == (
        "360000.00",
        "other",
        "property",
    )
    history = csv_rows(client.get(reverse("export_history_csv")))
    manual = [r for r in history if r["source"] == "manual"]
    assert [r["current"] for r in manual] == ["350000.00", "360000.00"]
    data = client.get(reverse("dashboard_api")).json()
    (listed,) = [m for g in data["groups"] for m in g["manual_accounts"]]
    assert (listed["id"], listed["value"], listed["source"]) == (
        f"m{house.pk}",
        "360000.00",
        "manual",
    )
    assert {a["source"] for g in data["groups"] for a in g["accounts"]} == {"plaid"}
    assert data["totals"][0]["net_worth"] == "404110.00"


def test_a_types_page_lists_its_manual_accounts_too(client):
    user = UserFactory()
    manual_accounts.manual_account_create(
        user=user, name="Mortgage", kind="liability", category="loan", currency="USD", value="9"
    )
    client.force_login(user)
    page = client.get(reverse("account_group", args=["loan"]))
    assert page.status_code == 200
    assert [m.name for m in page.context["group"].manual] == ["Mortgage"]
    assert "entered by hand" in body(page)
    other = client.get(reverse("account_group", args=["depository"]))
    assert "Mortgage" not in body(other)
