"""End to end in headless Chromium: link a bank through the emulator's Link stand-in, see its
accounts after a real worker's first refresh, lose the login, reconnect in update mode, and
unlink. Browser → live server → Redis → Celery worker → emulator, all real.
"""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import plaid
import pytest
from plaid.api import plaid_api
from plaid.model.sandbox_item_reset_login_request import SandboxItemResetLoginRequest

from balances import tasks
from balances.models import PlaidItem
from finance.celery import app as celery_app
from finance.security.csp import content_security_policy
from plaid_emulator import DEFAULT_CLIENT_ID, DEFAULT_SECRET
from tests.e2e.conftest import broker_connection
from tests.factories import UserFactory
from tests.services import CHROMIUM_ARGS, press_link_button, require_chromium

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
# A refresh goes through Redis and a worker process: allow for a slow CI machine.
REFRESH_TIMEOUT_MS = 45_000


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Headless Chromium (the machine's). The test's own ORM calls run beside
    Playwright's event loop in this thread, which Django allows only when told to."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    chromium_path = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def app_on_emulator(
    settings: Any, emulator: Any, process_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Any:
    """Point the live server at the emulator's Link script and the worker's Redis queue."""
    script_url = f"{emulator.url}/link/v2/stable/link-initialize.js"
    settings.PLAID_LINK_SCRIPT_URL = script_url
    settings.CONTENT_SECURITY_POLICY = {
        "DIRECTIVES": content_security_policy(link_script_url=script_url)
    }
    # Web and worker share the throttle's Redis state (the Item locks, "Refresh now"'s
    # interval, the rate limits) under a prefix of their own.
    prefix = f"test-link-{uuid.uuid4().hex[:8]}"
    settings.THROTTLE_REDIS_URL = process_env["CELERY_BROKER_URL"]
    settings.THROTTLE_KEY_PREFIX = prefix
    process_env["THROTTLE_REDIS_URL"] = process_env["CELERY_BROKER_URL"]
    process_env["THROTTLE_KEY_PREFIX"] = prefix
    # The test process's own broker is memory://: publish this task to the worker's queue.
    queue = process_env["CELERY_TASK_DEFAULT_QUEUE"]
    task = tasks.refresh_item_balances

    def delay(*args: Any, **kwargs: Any) -> Any:
        with broker_connection(celery_app, process_env) as connection:
            return task.apply_async(args, kwargs, connection=connection, queue=queue)

    monkeypatch.setattr(task, "delay", delay)
    return emulator


def text(page: Any) -> str:
    return re.sub(r"\s+", " ", page.locator("main").inner_text())


def test_link_reconnect_and_unlink_in_the_browser(
    live_server: Any, app_on_emulator: Any, start_worker: Any, browser: Any
) -> None:
    emulator = app_on_emulator
    user = UserFactory(username="linker", password=PASSWORD)
    page = browser.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    page.on("pageerror", lambda e: problems.append(str(e)))

    # Log in.
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("linker")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Net worth").wait_for()
    assert "You have not linked a bank yet" in text(page)

    # Closing Link changes nothing and says so.
    link_button = page.get_by_role("button", name="Link a bank").first
    link_button.click()
    frame = page.frame_locator("#plaid-link-iframe-1")
    press_link_button(frame.get_by_role("button", name="Close"))
    page.get_by_text("Linking was cancelled. No bank was added.").wait_for()
    assert not PlaidItem.objects.exists()
    # Focus is back on the button that opened Link, not on <body>.
    assert page.evaluate("document.activeElement === document.querySelector('button.link-open')")

    # Link Chase: the dashboard says so, shows the pending state, then the accounts.
    link_button.click()
    frame = page.frame_locator("#plaid-link-iframe-2")
    frame.get_by_label("Search institutions").fill("Chase")
    frame.get_by_role("button", name="Chase").click()
    frame.get_by_label("Username").fill("user_good")
    frame.get_by_label("Password").fill("pass_good")
    frame.get_by_role("button", name="Submit").click()
    press_link_button(frame.get_by_role("button", name="Continue"))
    # No worker runs yet, so the first refresh waits in the queue: the page is read while it
    # is pending, whatever the machine's speed (a refresh that ended before the page was
    # read is test_a_refresh_that_ended_before_the_page_was_read_is_told_as_ended).
    page.get_by_text("Chase is linked. Fetching balances…").wait_for()
    start_worker()
    page.locator("tr.account").nth(4).wait_for(timeout=REFRESH_TIMEOUT_MS)
    # The balances are in: the message that said they were coming gives way.
    page.get_by_text("Chase is linked. Its balances are in.").wait_for()
    assert "Fetching balances" not in page.locator(".messages").inner_text()
    assert page.locator("tr.account").count() == 5
    assert "$44,110.00" in page.locator(".net-worth").first.inner_text()
    item = PlaidItem.objects.get(owner=user)
    assert (item.institution_id, item.institution_name) == ("ins_3", "Chase")
    assert item.last_refreshed_at is not None

    # The bank asks for a new login: the next refresh finds out and shows the banner.
    configuration = plaid.Configuration(
        host=emulator.url, api_key={"clientId": DEFAULT_CLIENT_ID, "secret": DEFAULT_SECRET}
    )
    plaid_api.PlaidApi(plaid.ApiClient(configuration)).sandbox_item_reset_login(
        SandboxItemResetLoginRequest(access_token=item.access_token)
    )
    page.get_by_role("button", name="Refresh now").click()
    reconnect = page.get_by_role("button", name="Reconnect", exact=True)
    reconnect.wait_for(timeout=REFRESH_TIMEOUT_MS)
    assert "Balances from Chase stop updating until you reconnect." in text(page)
    item.refresh_from_db()
    assert (item.status, item.error_code) == ("login_required", "ITEM_LOGIN_REQUIRED")

    # Reconnect through Link's update mode: no institution picker, same Item.
    reconnect.click()
    frame = page.frame_locator("#plaid-link-iframe-1")
    frame.get_by_label("Username").fill("user_good")
    frame.get_by_label("Password").fill("pass_good")
    frame.get_by_role("button", name="Submit").click()
    press_link_button(frame.get_by_role("button", name="Continue"))
    page.get_by_text("Chase is reconnected.").wait_for()
    page.locator(".connection .muted", has_text="updated").wait_for(timeout=REFRESH_TIMEOUT_MS)
    assert page.get_by_role("button", name="Reconnect", exact=True).count() == 0
    item.refresh_from_db()
    assert (item.status, item.error_code) == ("healthy", "")
    assert PlaidItem.objects.count() == 1
    assert emulator.state.items[item.plaid_item_id].error is None

    # Unlink: the confirmation page says what happens; then the bank is gone, here and there.
    page.get_by_role("link", name="Unlink Chase", exact=True).click()  # names its bank
    assert "Its 5 accounts leave your dashboard and your net worth." in text(page)
    page.get_by_role("button", name="Unlink Chase").click()
    page.get_by_text("Chase is unlinked").wait_for()
    assert "You have not linked a bank yet" in text(page)
    assert page.locator("tr.account").count() == 0
    assert not PlaidItem.objects.exists()
    assert emulator.state.items[item.plaid_item_id].removed

    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
    page.close()


def _fault(emulator: Any, **rule: str) -> None:
    """Add a fault rule to the emulator (`/emulator/faults`)."""
    request = urllib.request.Request(  # noqa: S310 (the local emulator)
        f"{emulator.url}/emulator/faults",
        data=json.dumps(rule).encode(),
        headers={
            "Content-Type": "application/json",
            "PLAID-CLIENT-ID": DEFAULT_CLIENT_ID,
            "PLAID-SECRET": DEFAULT_SECRET,
        },
    )
    with urllib.request.urlopen(request, timeout=5) as reply:  # noqa: S310
        assert reply.status == 200


def _link(page: Any, frame_index: int, bank: str) -> None:
    """Link `bank` through the emulator's Link with the good sandbox login."""
    page.get_by_role("button", name="Link a bank").first.click()
    frame = page.frame_locator(f"#plaid-link-iframe-{frame_index}")
    frame.get_by_label("Search institutions").fill(bank)
    frame.get_by_role("button", name=bank).click()
    frame.get_by_label("Username").fill("user_good")
    frame.get_by_label("Password").fill("pass_good")
    frame.get_by_role("button", name="Submit").click()
    press_link_button(frame.get_by_role("button", name="Continue"))


def test_a_refresh_that_ended_before_the_page_was_read_is_told_as_ended(
    live_server: Any, app_on_emulator: Any, browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quick worker ends the first refresh before the dashboard is read: nothing is
    pending, nothing polls, and "Fetching balances…" would stay on the page for good.
    The message says how the refresh ended instead: its balances are in, or (a failed
    one) nothing more, the connection's banner saying why."""
    emulator = app_on_emulator
    task = tasks.refresh_item_balances
    # The refresh runs in the exchange's request, once it commits: ended before the page.
    monkeypatch.setattr(task, "delay", lambda *args, **kwargs: task.apply(args, kwargs))
    page = _log_in(browser, live_server, "quick")

    _link(page, 1, "Chase")
    page.locator("tr.account").nth(4).wait_for()
    page.get_by_text("Chase is linked. Its balances are in.").wait_for()
    assert "Fetching balances" not in text(page)

    # The bank refuses the first refresh: linked, and the banner asks for a new login.
    _fault(emulator, error_code="ITEM_LOGIN_REQUIRED", endpoint="/accounts/balance/get")
    _link(page, 1, "Tartan Bank")  # a new page: Link counts its frames from 1 again
    page.get_by_role("button", name="Reconnect", exact=True).wait_for()
    message = page.locator(".messages .message").first.inner_text()
    assert message.strip() == "Tartan Bank is linked."
    assert "Fetching balances" not in text(page)


def test_link_failures_in_the_browser_leave_nothing(
    live_server: Any, app_on_emulator: Any, browser: Any, settings: Any
) -> None:
    emulator = app_on_emulator
    UserFactory(username="unlucky", password=PASSWORD)
    page = browser.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("unlucky")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    # Plaid refuses the exchange once (500): the user is told, nothing is stored.
    _fault(emulator, error_code="INTERNAL_SERVER_ERROR", endpoint="/item/public_token/exchange")
    page.get_by_role("button", name="Link a bank").first.click()
    frame = page.frame_locator("#plaid-link-iframe-1")
    frame.get_by_role("button", name="Tartan Bank").click()
    frame.get_by_label("Username").fill("user_good")
    frame.get_by_label("Password").fill("pass_good")
    frame.get_by_role("button", name="Submit").click()
    press_link_button(frame.get_by_role("button", name="Continue"))
    page.get_by_text("Plaid could not be reached or is busy. Nothing was changed").wait_for()
    assert not PlaidItem.objects.exists()
    assert page.get_by_role("button", name="Link a bank").first.is_enabled()

    # Plaid Link's script cannot be loaded: a clear message instead of a dead button.
    dead = "http://127.0.0.1:9/link/v2/stable/link-initialize.js"
    settings.PLAID_LINK_SCRIPT_URL = dead
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": content_security_policy(link_script_url=dead)}
    page.reload()
    page.get_by_role("button", name="Link a bank").first.click()
    page.get_by_text("Plaid Link could not be loaded").wait_for()
    assert not PlaidItem.objects.exists()
    page.close()


def _log_in(browser: Any, live_server: Any, username: str) -> Any:
    UserFactory(username=username, password=PASSWORD)
    page = browser.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Net worth").wait_for()
    return page


def _leave_for_the_bank_and_come_back(page: Any, emulator: Any, live_server: Any) -> None:
    """At the emulator's OAuth bank page: allow access; land on /link/oauth-return/."""
    page.wait_for_url(f"{emulator.url}/link/oauth?oauth_state_id=*")
    assert "Platypus OAuth Bank" in page.locator("h1").inner_text()
    page.get_by_role("button", name="Allow access").click()
    page.wait_for_url(f"{live_server.url}/link/oauth-return/?oauth_state_id=*")


def test_oauth_bank_round_trip_links_and_reconnects_in_the_browser(
    live_server: Any, app_on_emulator: Any, start_worker: Any, browser: Any, settings: Any
) -> None:
    emulator = app_on_emulator
    settings.PLAID_REDIRECT_URI = f"{live_server.url}/link/oauth-return/"
    start_worker()
    page = _log_in(browser, live_server, "oauth-user")
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    page.on("pageerror", lambda e: problems.append(str(e)))

    # Pick the OAuth bank: the whole page leaves for the bank, then comes back here.
    page.get_by_role("button", name="Link a bank").first.click()
    frame = page.frame_locator("#plaid-link-iframe-1")
    frame.get_by_label("Search institutions").fill("OAuth")
    frame.get_by_role("button", name="Platypus OAuth Bank").click()
    _leave_for_the_bank_and_come_back(page, emulator, live_server)
    assert not PlaidItem.objects.exists()

    # Link resumes on the account list (no login: the bank had it), then finishes as usual.
    frame = page.frame_locator("#plaid-link-iframe-1")
    press_link_button(frame.get_by_role("button", name="Continue"))
    # "Fetching balances…", or "Its balances are in." when the worker was quicker.
    page.get_by_text("Platypus OAuth Bank is linked.").wait_for()
    assert page.url.rstrip("/") == live_server.url
    page.locator("tr.account").first.wait_for(timeout=REFRESH_TIMEOUT_MS)
    item = PlaidItem.objects.get()
    assert (item.institution_id, item.institution_name) == ("ins_127287", "Platypus OAuth Bank")
    assert item.owner.username == "oauth-user"
    link_tokens = list(emulator.state.link_tokens.values())
    assert [lt.redirect_uri for lt in link_tokens] == [settings.PLAID_REDIRECT_URI]

    # The return page again (back button, a bookmark): the link is finished, nothing is added.
    page.goto(f"{live_server.url}/link/oauth-return/?oauth_state_id=again")
    page.get_by_text("No bank link was in progress in this browser").wait_for()
    assert PlaidItem.objects.count() == 1

    # Update mode through the same round trip: the bank asks for a new login.
    configuration = plaid.Configuration(
        host=emulator.url, api_key={"clientId": DEFAULT_CLIENT_ID, "secret": DEFAULT_SECRET}
    )
    plaid_api.PlaidApi(plaid.ApiClient(configuration)).sandbox_item_reset_login(
        SandboxItemResetLoginRequest(access_token=item.access_token)
    )
    PlaidItem.objects.filter(pk=item.pk).update(
        status=PlaidItem.Status.LOGIN_REQUIRED, error_code="ITEM_LOGIN_REQUIRED"
    )
    page.goto(live_server.url)
    page.get_by_role("button", name="Reconnect", exact=True).click()
    _leave_for_the_bank_and_come_back(page, emulator, live_server)
    assert "Finishing the reconnection of Platypus OAuth Bank" in text(page)
    press_link_button(
        page.frame_locator("#plaid-link-iframe-1").get_by_role("button", name="Continue")
    )
    page.get_by_text("Platypus OAuth Bank is reconnected.").wait_for()
    item.refresh_from_db()
    assert (item.status, item.error_code) == ("healthy", "")
    assert PlaidItem.objects.count() == 1
    assert emulator.state.items[item.plaid_item_id].error is None

    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
    page.close()


def test_oauth_return_without_a_started_link_links_nothing(
    live_server: Any, app_on_emulator: Any, browser: Any, settings: Any
) -> None:
    settings.PLAID_REDIRECT_URI = f"{live_server.url}/link/oauth-return/"
    page = _log_in(browser, live_server, "stray")
    page.goto(f"{live_server.url}/link/oauth-return/?oauth_state_id=made-up")
    page.get_by_text("No bank link was in progress in this browser").wait_for()
    assert page.url.rstrip("/") == live_server.url
    assert page.locator("#plaid-link-overlay-1").count() == 0
    assert not PlaidItem.objects.exists()
    page.close()


@pytest.mark.parametrize(
    ("password", "shown"),
    [
        (
            "error_INSTITUTION_DOWN",
            "Linking failed: This financial institution is not currently responding to "
            "requests. We apologize for the inconvenience.",
        ),
        ("error_ITEM_LOCKED", "Linking failed: The given account has been locked"),
        # No display_message from Plaid: a generic sentence, never the developer's message.
        ("error_PRODUCTS_NOT_SUPPORTED", "Linking failed: Plaid could not connect to the bank."),
    ],
)
def test_link_exit_with_an_error_shows_plaids_display_message(
    live_server: Any, app_on_emulator: Any, browser: Any, password: str, shown: str
) -> None:
    page = _log_in(browser, live_server, "exit-error")
    page.get_by_role("button", name="Link a bank").first.click()
    frame = page.frame_locator("#plaid-link-iframe-1")
    frame.get_by_role("button", name="Tartan Bank").click()
    frame.get_by_label("Username").fill("user_good")
    frame.get_by_label("Password").fill(password)
    frame.get_by_role("button", name="Submit").click()
    press_link_button(frame.get_by_role("button", name="Exit"))
    message = page.locator("[data-link-message]")
    message.wait_for()
    assert shown in message.inner_text()
    assert "not supported by this Item" not in message.inner_text()
    assert page.locator("#plaid-link-overlay-1").count() == 0
    assert not PlaidItem.objects.exists()
    page.close()
