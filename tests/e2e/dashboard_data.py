"""Build a dashboard user through the real app: emulator + services, with days of history."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone as django_timezone

from balances.models import PlaidItem
from balances.services import linking, store
from tests.e2e.conftest import emulator_post
from tests.factories import UserFactory

PASSWORD = "correct horse battery staple"
# The emulator's First Platypus Bank today (its twelve sandbox accounts, frozen base
# balances): assets 86,541.7405 - liabilities 126,994.06.
PLATYPUS_NET_WORTH = "-$40,452.32"
PLATYPUS_ASSETS = "$86,541.74"
PLATYPUS_LIABILITIES = "$126,994.06"


def refresh_on_past_day(monkeypatch: Any, item: PlaidItem, days_ago: int) -> None:
    """Refresh `item` as if it were `days_ago` days ago (snapshots dated that day)."""
    store.item_refresh_balances(item=item, now=django_timezone.now() - timedelta(days=days_ago))


def platypus_user(
    monkeypatch: Any, emulator: Any, *, history_days: int = 6, username: str = "newuser"
) -> tuple[Any, list[PlaidItem]]:
    """Link First Platypus Bank (USD) and Tartan-Dominion (CAD) for a new user.

    Refreshes on `history_days` past days with drifting balances, then today with the
    frozen base balances, so today's figures match PLATYPUS_* and the chart has history.
    """
    user = UserFactory(username=username)
    # A Canadian bank: as an operator linking one would, enable CA (else Plaid refuses to
    # name the institution and the dashboard falls back to its id).
    monkeypatch.setattr(settings, "PLAID_COUNTRY_CODES", ["US", "CA"])
    items = [
        linking.item_link_sandbox(user=user, institution_id=ins, queue_refresh=False)
        for ins in ("ins_109508", "ins_43")
    ]
    if history_days:
        emulator_post(emulator, "/emulator/freeze", {"frozen": False})
        for days_ago in range(history_days, 0, -1):
            emulator_post(emulator, "/emulator/clock", {"advance_seconds": 86400})
            for item in items:
                refresh_on_past_day(monkeypatch, item, days_ago)
        emulator_post(emulator, "/emulator/freeze", {"frozen": True})
    for item in items:
        item.refresh_from_db()
        store.item_refresh_balances(item=item)
    return user, items
