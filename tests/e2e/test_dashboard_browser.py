"""The dashboard in the machine's headless Chromium: log in, read it, switch ranges, look."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from balances.models import PlaidItem
from tests.e2e.conftest import emulator_post
from tests.e2e.dashboard_data import PASSWORD, PLATYPUS_NET_WORTH, platypus_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def log_in(browser: Any, live_server: Any, username: str, **context: Any) -> Any:
    """Open a page and log in through the login form.

    `page.problems` collects script errors and Content-Security-Policy violations.
    """
    page = browser.new_context(**context).new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            page.problems.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    return page


def chart_is_drawn(page: Any) -> bool:
    """Whether a Chart.js chart exists and its canvas has non-blank pixels."""
    return page.evaluate(
        """() => {
            const charts = window.balancesCharts || [];
            if (!charts.length) return false;
            const c = charts[0].canvas;
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return true;
            return false;
        }"""
    )


def test_dashboard_in_a_browser(browser, live_server, emulator, monkeypatch):
    user, _ = platypus_user(monkeypatch, emulator, history_days=6, username="platypus")
    page = log_in(browser, live_server, user.username, viewport={"width": 1280, "height": 900})

    # The headline: one net worth per currency, USD first and matching PLATYPUS_NET_WORTH.
    usd = page.locator('.net-worth[data-currency="USD"]')
    assert usd.inner_text().strip() == PLATYPUS_NET_WORTH
    assert page.locator(".net-worth").count() == 2
    assert page.locator(".figure-currency").first.inner_text().startswith("USD")

    # Accounts grouped by type, then by institution.
    headings = page.locator(".account-group h2").all_inner_texts()
    assert headings == ["Cash", "Investments", "Credit cards", "Loans"]
    credit = page.locator("#group-credit")
    platypus = credit.locator("tbody.institution", has_text="First Platypus Bank")
    assert platypus.locator("tr.account").count() == 2
    assert platypus.locator(".institution-row").inner_text().startswith("First Platypus Bank")
    assert platypus.locator("meter").count() == 2
    assert "21% used" in platypus.inner_text() and "50% used" in platypus.inner_text()
    assert credit.locator("tr.account").count() == 3  # and the CAD bank's card
    cd = page.locator('#group-depository tr.account[data-mask="2222"]')
    assert cd.locator("td.available").inner_text().strip() == "—"

    # The chart is drawn (the table folds away) and ranges switch without a reload.
    page.wait_for_function("() => (window.balancesCharts || []).length === 2")
    assert chart_is_drawn(page)
    assert page.locator("details.chart-table").first.get_attribute("open") is None
    assert page.evaluate("window.balancesCharts[0].data.labels.length") == 7
    page.evaluate("window.__noReload = true")
    page.get_by_role("link", name="30 days").click()
    page.wait_for_function(
        "() => document.querySelector('nav.segmented a[aria-current]').dataset.range === '30d'"
    )
    page.wait_for_function("() => (window.balancesCharts || []).length === 2")
    assert page.evaluate("window.__noReload") is True
    assert "range=30d" in page.url
    assert chart_is_drawn(page)
    page.get_by_role("link", name="All").click()
    page.wait_for_function(
        "() => document.querySelector('nav.segmented a[aria-current]').dataset.range === 'all'"
    )
    assert page.evaluate("window.__noReload") is True

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-desktop-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(200)  # Chart.js resizes on the next frame
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "dashboard-phone-390.png"), full_page=True)

    # The account page: its own history chart.
    page.set_viewport_size({"width": 1280, "height": 900})
    platypus.locator("a.account-name", has_text="Plaid Credit Card").click()
    page.wait_for_function("() => (window.balancesCharts || []).length === 1")
    assert chart_is_drawn(page)
    assert "Plaid Credit Card" in page.locator("h1").inner_text()
    page.screenshot(path=str(ARTIFACTS / "account-desktop-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(200)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "account-phone-390.png"), full_page=True)
    assert page.problems == []  # no script errors, nothing the strict CSP blocked
    page.context.close()


def test_dark_mode(browser, live_server, emulator, monkeypatch):
    user, _ = platypus_user(monkeypatch, emulator, history_days=3, username="dark")
    page = log_in(
        browser,
        live_server,
        user.username,
        color_scheme="dark",
        viewport={"width": 1280, "height": 900},
    )
    page.wait_for_function("() => (window.balancesCharts || []).length === 2")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    text = page.evaluate("getComputedStyle(document.querySelector('.net-worth')).color")
    assert background == "rgb(17, 20, 24)" and text == "rgb(232, 234, 237)"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-dark-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(200)
    page.screenshot(path=str(ARTIFACTS / "dashboard-dark-390.png"), full_page=True)
    assert page.problems == []
    page.context.close()


def test_without_javascript_the_numbers_are_tables(browser, live_server, emulator, monkeypatch):
    user, _ = platypus_user(monkeypatch, emulator, history_days=2, username="nojs")
    page = log_in(
        browser,
        live_server,
        user.username,
        java_script_enabled=False,
        viewport={"width": 390, "height": 844},
    )
    table = page.locator("#history details.chart-table").first
    assert table.get_attribute("open") is not None
    rows = table.locator("tbody tr")
    assert rows.count() == 3
    assert rows.first.locator("td").last.inner_text().strip() == PLATYPUS_NET_WORTH
    # The range switcher and the period selector are plain links and forms.
    page.get_by_role("link", name="30 days").click()
    assert "range=30d" in page.url
    page.get_by_label("Compare with").select_option("1w")
    page.get_by_role("button", name="Show change").click()
    assert re.search(r"since=1w", page.url)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-phone-390-nojs.png"), full_page=True)
    page.context.close()


def test_page_updates_in_place_when_a_refresh_finishes(browser, live_server, emulator, monkeypatch):
    from django.utils import timezone

    from balances.services import store

    user, items = platypus_user(monkeypatch, emulator, history_days=0, username="pending")
    item = items[0]
    PlaidItem.objects.filter(pk=item.pk).update(refresh_requested_at=timezone.now())
    page = log_in(browser, live_server, user.username, viewport={"width": 1280, "height": 900})
    assert page.locator("#dashboard-live").get_attribute("data-pending") == "true"
    page.evaluate("window.__noReload = true")
    # The refresh finishes with new balances (the worker's part, done here).
    emulator_post(emulator, "/emulator/freeze", {"frozen": False})
    emulator_post(emulator, "/emulator/clock", {"advance_seconds": 3 * 86400})
    item.refresh_from_db()
    store.item_refresh_balances(item=item)
    page.wait_for_function(
        "() => document.getElementById('dashboard-live').dataset.pending === 'false'",
        timeout=15000,
    )
    assert page.evaluate("window.__noReload") is True
    assert page.locator('.net-worth[data-currency="USD"]').inner_text() != PLATYPUS_NET_WORTH
    page.context.close()
