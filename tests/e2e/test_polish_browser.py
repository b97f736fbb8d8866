"""What a new user sees, in the machine's headless Chromium (issue 19): the skip link, the
navigation and its phone menu, time zones, a recovery-code sign-in, the day-one chart, the
credit card's "Owed" line, the admin at 1366 px, and axe-core (WCAG 2.2 AA) on every
signed-in page in light and dark mode."""

from __future__ import annotations

import re
from typing import Any

import pytest

from balances.models import Account, PlaidItem
from tests.e2e.dashboard_data import PASSWORD, platypus_user
from tests.e2e.test_dashboard_browser import ARTIFACTS, log_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# axe-core's rules for WCAG 2.0, 2.1 and 2.2, levels A and AA.
WCAG_AA_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]


def axe_violations(page: Any) -> list[str]:
    """Run axe-core (bundled by the pinned axe-playwright-python) on `page`; return each
    violation of the WCAG 2.2 AA rules as "rule: target"."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_AA_TAGS}})
    assert results.response["passes"], "axe checked nothing"  # it ran on a real page
    return [
        f"{v['id']}: {node['target']} ({v['help']})"
        for v in results.response["violations"]
        for node in v["nodes"]
    ]


def plain_user(username: str = "newbie") -> Any:
    return UserFactory(username=username, password=PASSWORD)


def test_skip_link_connections_in_the_nav_and_a_compact_phone_menu(browser, live_server):
    plain_user()
    page = log_in(browser, live_server, "newbie", viewport={"width": 1280, "height": 900})
    # The first Tab reaches "Skip to content"; following it puts focus in <main>.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to content"
    assert page.locator(".skip-link").bounding_box()["y"] >= 0  # visible once focused
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "content"

    # Connections is in the navigation, with "Link a bank" on it even before any bank.
    nav = page.get_by_role("navigation", name="Account")
    nav.get_by_role("link", name="Connections").click()
    page.wait_for_url(f"{live_server.url}/connections/")
    page.get_by_role("button", name="Link a bank").wait_for()
    assert page.get_by_role("button", name="Menu").is_hidden()  # wide: every link shown

    # A phone: the header is one line with a Menu button; the links unfold from it.
    page.set_viewport_size({"width": 390, "height": 844})
    menu = page.get_by_role("button", name="Menu")
    menu.wait_for()
    assert menu.get_attribute("aria-expanded") == "false"
    assert nav.is_hidden()
    header = page.locator(".site-header").bounding_box()
    assert header["height"] < 70, header  # one line (three before)
    menu.click()
    assert menu.get_attribute("aria-expanded") == "true"
    assert nav.get_by_role("link", name="Settings").is_visible()
    page.keyboard.press("Escape")
    assert nav.is_hidden() and page.evaluate("document.activeElement.textContent") == "Menu"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "connections-phone-390.png"), full_page=True)
    assert page.problems == []
    page.context.close()


def test_the_time_zone_is_proposed_from_the_browser_and_shown(browser, live_server):
    from balances.services import api_tokens

    user = plain_user()
    page = log_in(browser, live_server, "newbie", timezone_id="Asia/Tokyo")
    page.goto(f"{live_server.url}/settings/")
    assert "times show in this site's zone, UTC" in page.locator("main").inner_text()
    page.get_by_text("This browser's time zone is Asia/Tokyo.").wait_for()
    page.get_by_role("button", name="Use Asia/Tokyo").click()
    assert page.locator("#id_time_zone").input_value() == "Asia/Tokyo"
    page.get_by_role("button", name="Save time zone").click()
    page.get_by_text("Time zone set to Asia/Tokyo.").wait_for()
    assert page.get_by_text("This browser's time zone is").is_hidden()  # nothing to propose

    api_tokens.api_token_create(user=user, name="sheet", scope="read", expires_in_days=None)
    page.goto(f"{live_server.url}/settings/api-tokens/")
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d JST", page.locator("main").inner_text())
    assert page.problems == []
    page.context.close()


def test_signing_in_with_a_recovery_code(browser, live_server):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from finance.security import services

    user = plain_user("lostphone")
    TOTPDevice.objects.create(user=user, name="app", confirmed=True)
    codes = services.recovery_codes_create(user=user)
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("lostphone")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Enter your code").wait_for()
    page.get_by_label(re.compile("recovery code")).fill(f"{codes[3][:4]}-{codes[3][4:]}")
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("heading", name="Net worth").wait_for()
    assert "Signed in with a recovery code" in page.locator(".messages").inner_text()
    assert "9 recovery codes left" in page.locator(".messages").inner_text()
    page.goto(f"{live_server.url}/accounts/two-factor/")
    assert "9 recovery codes left" in page.locator("#recovery-left").inner_text()
    # The status page leaves the cursor alone (it used to sit in "Turn off").
    assert page.evaluate("document.activeElement === document.body")
    context.close()


def test_day_one_chart_all_caption_and_the_credit_cards_owed_line(
    browser, live_server, emulator, monkeypatch
):
    user, _ = platypus_user(monkeypatch, emulator, history_days=0, username="dayone")
    page = log_in(browser, live_server, user.username, viewport={"width": 1280, "height": 900})
    history = page.locator("#history")
    assert history.locator("canvas").count() == 0  # no three dots at the left edge
    assert "One day recorded so far" in history.inner_text()
    page.goto(f"{live_server.url}/?range=all")
    caption = page.locator("#history figcaption").first.inner_text()
    assert "every day on record" in caption and "last all" not in caption

    page.context.close()

    # Two days: the chart is drawn; on a credit card's page its line is "Owed".
    user, _ = platypus_user(monkeypatch, emulator, history_days=1, username="daytwo")
    page = log_in(browser, live_server, user.username, viewport={"width": 1280, "height": 900})
    page.wait_for_function("() => (window.balancesCharts || []).length === 2")
    card = Account.objects.filter(item__owner=user, type="credit").order_by("pk").first()
    page.goto(f"{live_server.url}/accounts/{card.pk}/")
    page.wait_for_function("() => (window.balancesCharts || []).length === 1")
    labels = page.evaluate("window.balancesCharts[0].data.datasets.map(d => d.label)")
    assert labels[0] == "Owed" and "Current" not in labels
    assert page.problems == []
    page.context.close()


def test_the_admin_fits_1366_pixels(browser, live_server, emulator, monkeypatch):
    _user, items = platypus_user(monkeypatch, emulator, history_days=0, username="customer")
    PlaidItem.objects.filter(pk=items[0].pk).update(
        warning_code="PENDING_EXPIRATION", error_code="ITEM_LOGIN_REQUIRED"
    )
    UserFactory(username="staffer", password=PASSWORD, is_staff=True, is_superuser=True)
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill("staffer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/$|/two-factor/"))
    for path in (
        "/admin/balances/plaiditem/",
        f"/admin/balances/plaiditem/{items[0].pk}/change/",
        "/admin/balances/account/",
    ):
        page.goto(f"{live_server.url}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1366, (path, width)
        # Nothing scrolls sideways inside the page either (the list's columns were cut).
        cut = page.evaluate(
            """() => [...document.querySelectorAll('.results, thead th, fieldset, .module')]
                .filter(el => el.offsetParent && el.scrollWidth > el.clientWidth + 1)
                .map(el => el.className + ': ' + el.textContent.trim().slice(0, 40))"""
        )
        assert cut == [], (path, cut)
        ARTIFACTS.mkdir(exist_ok=True)
        name = path.strip("/").replace("/", "-")
        page.screenshot(path=str(ARTIFACTS / f"{name}-1366.png"), full_page=True)
    page.goto(f"{live_server.url}/admin/balances/plaiditem/")
    warning_filter = page.locator("#changelist-filter details", has_text="By warning code")
    entries = [t.strip() for t in warning_filter.locator("li").all_inner_texts()]
    assert entries == ["All", "No warning", "PENDING_EXPIRATION"], entries
    headers = page.locator("thead th").all_inner_texts()
    assert any(h.strip().upper() == "FRESH" for h in headers) and "STALE" not in str(headers)
    money = page.goto(f"{live_server.url}/admin/balances/account/")
    assert money is not None and "0000000" not in page.locator("#result_list").inner_text()
    assert page.request.get(f"{live_server.url}/favicon.ico").status == 200
    context.close()


def signed_in_pages(live_server: Any, user: Any, item: PlaidItem) -> list[str]:
    from decimal import Decimal

    from balances.models import AlertRule
    from balances.services import households, linking, manual_accounts, store
    from balances.services.alerts import channels, rules

    account = Account.objects.filter(item=item).order_by("pk").first()
    assert account is not None
    house = manual_accounts.manual_account_create(
        user=user, name="House", kind="asset", category="property", currency="USD", value="350000"
    )
    # A household both ways: a partner shares all of theirs (accepted), the user shares one
    # account; the partner's invitation is in the user's notifications.
    partner = UserFactory(username=f"{user.username}-partner")
    partner_item = linking.item_link_sandbox(
        user=partner, institution_id="ins_3", queue_refresh=False
    )
    store.item_refresh_balances(item=partner_item)
    households.share_accept(share=households.share_invite(owner=partner, username=user.username))
    given = households.share_invite(
        owner=user, username=partner.username, all_accounts=False, account_ids=[account.pk]
    )
    shared = Account.objects.filter(item=partner_item).order_by("pk").first()
    assert shared is not None
    # Alert settings with a rule and a push channel listed.
    rules.alert_rule_create(
        user=user,
        kind=AlertRule.Kind.BALANCE_BELOW,
        scope=AlertRule.Scope.ACCOUNT,
        account_id=account.pk,
        threshold=Decimal(100),
        cooldown_hours=0,
    )
    channels.alert_channel_add(user=user, name="Phone", url="ntfy://ntfy.example.com/balances")
    base = live_server.url
    return [
        f"{base}/?view=household",
        f"{base}/accounts/{shared.pk}/",  # the partner's, seen through the share
        f"{base}/notifications/",
        f"{base}/settings/alerts/",
        f"{base}/settings/household/",
        f"{base}/settings/household/{given.pk}/accounts/",
        f"{base}/accounts/password_change/done/",
        f"{base}/manual/{house.pk}/edit/",
        f"{base}/manual/{house.pk}/value/",
        f"{base}/manual/{house.pk}/delete/",
        f"{base}/",
        f"{base}/?range=all",
        f"{base}/connections/",
        f"{base}/accounts/{account.pk}/",
        f"{base}/accounts/type/credit/",
        f"{base}/settings/",
        f"{base}/settings/api-tokens/",
        f"{base}/api/v1/docs/",  # the API's reference, server-rendered (balances/api/docs.py)
        f"{base}/manual/add/",
        f"{base}/accounts/password_change/",
        f"{base}/accounts/two-factor/",
        f"{base}/items/{item.pk}/unlink/",
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_wcag_violation_on_any_signed_in_page(
    browser, live_server, emulator, monkeypatch, scheme
):
    user, items = platypus_user(monkeypatch, emulator, history_days=3, username=f"axe{scheme}")
    page = log_in(
        browser,
        live_server,
        user.username,
        color_scheme=scheme,
        viewport={"width": 1280, "height": 900},
    )
    found: dict[str, list[str]] = {}
    for url in signed_in_pages(live_server, user, items[0]):
        response = page.goto(url)
        assert response is not None and response.status == 200, url
        page.wait_for_load_state("networkidle")
        violations = axe_violations(page)
        if violations:
            found[url] = violations
    # Two-factor sign-in turned on: the recovery codes (shown once) and the status page.
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    page.goto(f"{live_server.url}/accounts/two-factor/")
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    page.get_by_label("Code from your authenticator app").fill(
        f"{totp(device.bin_key, step=device.step, t0=device.t0):06d}"
    )
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    page.get_by_role("heading", name="Your recovery codes").wait_for()
    for name in ("recovery codes", "two-factor status"):
        if violations := axe_violations(page):
            found[name] = violations
        page.goto(f"{live_server.url}/accounts/two-factor/")
    # The phone menu, unfolded.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/")
    page.get_by_role("button", name="Menu").click()
    if violations := axe_violations(page):
        found["phone menu"] = violations
    if found:  # kept for CI's artifacts: every violation, by page
        import json

        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"axe-violations-{scheme}.json").write_text(json.dumps(found, indent=1))
    assert found == {}, found
    assert page.problems == []
    page.context.close()
