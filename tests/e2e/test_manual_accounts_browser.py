"""Accounts entered by hand in the machine's headless Chromium: add a house and a car loan
to the sample bank ($44,110.00), re-value the house, refresh the bank, delete the loan;
the headline and the chart's last point agree at every step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from balances.models import ManualAccount, PlaidItem
from balances.services import store
from tests.e2e.test_dashboard_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def headline(page: Any) -> str:
    return page.locator('.net-worth[data-currency="USD"]').inner_text().strip()


def chart_last_net_worth(page: Any) -> str:
    """Today's net worth in the history: the newest row of the chart's table (this user
    has one day of history, which the page shows as a table and a note, not a chart)."""
    assert "One day recorded so far" in page.locator("#history").inner_text()
    cell = page.locator("#history table tbody tr").first.locator("td").last.inner_text()
    return cell.strip().replace("$", "").replace(",", "")


def add_by_hand(page: Any, live_server: Any, **fields: str) -> None:
    page.get_by_role("link", name="Add an account by hand").first.click()
    page.wait_for_url(f"{live_server.url}/manual/add/")
    page.get_by_label("Name").fill(fields["name"])
    page.get_by_label(fields["kind"], exact=True).check()
    page.get_by_label("Category").select_option(fields["category"])
    page.get_by_label("Currency").fill(fields["currency"])
    page.get_by_label("Value", exact=True).fill(fields["value"])
    page.get_by_role("button", name="Add account").click()
    page.wait_for_url(f"{live_server.url}/")


def test_manual_accounts_in_a_browser(browser, live_server, refreshed_user):
    page = log_in(
        browser, live_server, refreshed_user.username, viewport={"width": 1280, "height": 900}
    )
    assert headline(page) == "$44,110.00"

    # A form with a clear error saves nothing.
    page.get_by_role("link", name="Add an account by hand").first.click()
    page.get_by_label("Name").fill("House")
    page.get_by_label("Value", exact=True).fill("a lot")
    page.get_by_label("Currency").fill("XYZ")
    page.get_by_role("button", name="Add account").click()
    assert "Enter a number" in page.locator("#id_value-error").inner_text()
    assert "Unknown currency" in page.locator("#id_currency-error").inner_text()
    assert not ManualAccount.objects.exists()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "manual-account-errors-1280.png"), full_page=True)
    page.goto(f"{live_server.url}/")

    add_by_hand(
        page,
        live_server,
        name="House",
        kind="Asset",
        category="property",
        currency="USD",
        value="350000",
    )
    add_by_hand(
        page,
        live_server,
        name="Car loan",
        kind="Liability",
        category="loan",
        currency="USD",
        value="12000",
    )
    assert headline(page) == "$382,110.00"
    assert float(chart_last_net_worth(page)) == 382110
    house_row = page.locator("tr.account.manual", has_text="House")
    assert "entered by hand · value of" in house_row.inner_text()
    assert page.locator("#group-loan tr.account.manual", has_text="Car loan").count() == 1

    # Re-value the house.
    house_row.get_by_role("link", name="New value of House").click()
    page.get_by_label("Value", exact=True).fill("360000")
    page.get_by_role("button", name="Save value").click()
    page.wait_for_url(f"{live_server.url}/")
    assert headline(page) == "$392,110.00"
    assert float(chart_last_net_worth(page)) == 392110

    # A refresh of the bank keeps them in the day's totals.
    store.item_refresh_balances(item=PlaidItem.objects.get(owner=refreshed_user))
    page.reload()
    assert headline(page) == "$392,110.00"
    assert float(chart_last_net_worth(page)) == 392110
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-manual-1280.png"), full_page=True)

    # Delete the loan: asked first, then gone from the headline and the chart.
    page.get_by_role("link", name="Delete Car loan").click()
    assert "Delete Car loan?" in page.locator("h1").inner_text()
    page.get_by_role("button", name="Delete Car loan").click()
    page.wait_for_url(f"{live_server.url}/")
    assert headline(page) == "$404,110.00"
    assert float(chart_last_net_worth(page)) == 404110
    assert page.problems == []  # no script errors, nothing the strict CSP blocked
    page.context.close()
