"""A household in the machine's headless Chromium: Alice invites Bob by username, Bob
accepts, and his Household view shows Alice's shared account marked with her name and
counts it once; his own view stays his; Alice ends the share and it is gone."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from balances.models import BalanceSnapshot
from tests.e2e.test_dashboard_browser import log_in
from tests.factories import AccountFactory, PlaidItemFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def headline(page: Any) -> str:
    return page.locator('.net-worth[data-currency="USD"]').inner_text().strip()


def test_invite_accept_and_see_the_household(browser, live_server):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    joint = AccountFactory(
        item=PlaidItemFactory(owner=alice, institution_name="Alder Bank"),
        name="Joint Checking",
        current=Decimal("2500.00"),
        balances_updated_at=timezone.now(),
    )
    AccountFactory(item=joint.item, name="Alice Savings", current=Decimal("7000.00"))
    mine = AccountFactory(
        item=PlaidItemFactory(owner=bob, institution_name="Birch Bank"),
        name="Bob Checking",
        current=Decimal("500.00"),
        balances_updated_at=timezone.now(),
    )
    for account in (joint, mine):
        BalanceSnapshot.objects.create(
            account=account, taken_at=timezone.now() - timedelta(days=1), current=account.current
        )

    # Alice invites Bob to see her joint account only.
    owner = log_in(browser, live_server, "alice", viewport={"width": 1280, "height": 900})
    owner.goto(f"{live_server.url}/settings/")
    owner.get_by_role("link", name="Manage your household").click()
    owner.get_by_label("Their username or e-mail address in this app").fill("bob")
    owner.get_by_label("Only the accounts I choose below").check()
    owner.get_by_label("Joint Checking").check()
    owner.get_by_role("button", name="Invite").click()
    assert "bob is invited" in owner.locator("body").inner_text()
    assert "invited, not answered yet" in owner.locator(".shares-given").inner_text()

    # Bob sees nothing of hers until he accepts.
    viewer = log_in(browser, live_server, "bob", viewport={"width": 1280, "height": 900})
    assert headline(viewer) == "$500.00"
    assert viewer.locator(".view-toggle").count() == 0
    viewer.goto(f"{live_server.url}/settings/household/")
    assert "alice invites you" in viewer.locator(".shares-received").inner_text()
    viewer.get_by_role("button", name="Accept").click()
    viewer.get_by_role("link", name="See the Household view").click()

    # The Household view: his and her shared account, each once, hers marked as hers.
    assert "view=household" in viewer.url
    assert viewer.locator("#net-worth-heading").inner_text().strip() == "Household net worth"
    assert headline(viewer) == "$3,000.00"
    row = viewer.locator("tr.account", has_text="Joint Checking")
    assert row.locator(".owner").inner_text().strip() == "shared by alice"
    assert viewer.locator("tr.account", has_text="Alice Savings").count() == 0
    assert viewer.locator("tr.account", has_text="Bob Checking").locator(".owner").count() == 0
    assert viewer.locator(".owner[data-owner='alice']").count() >= 1
    ARTIFACTS.mkdir(exist_ok=True)
    viewer.screenshot(path=str(ARTIFACTS / "household-view.png"), full_page=True)
    assert not viewer.problems, viewer.problems

    # Her account's page: read-only, marked.
    row.get_by_role("link", name="Joint Checking").click()
    assert "shared by alice · view-only" in viewer.locator("h1 + .owner, .owner").first.inner_text()

    # "Mine" is his alone.
    viewer.goto(f"{live_server.url}/?view=household")
    viewer.locator(".view-toggle").get_by_role("link", name="Mine").click()
    assert headline(viewer) == "$500.00"
    assert viewer.locator("tr.account", has_text="Joint Checking").count() == 0

    # Alice ends the share: on Bob's next request it is gone.
    owner.goto(f"{live_server.url}/settings/household/")
    owner.get_by_role("button", name="End").click()
    viewer.goto(f"{live_server.url}/?view=household")
    assert headline(viewer) == "$500.00"
    assert viewer.locator("tr.account", has_text="Joint Checking").count() == 0
    response = viewer.goto(f"{live_server.url}/accounts/{joint.pk}/")
    assert response is not None and response.status == 404
