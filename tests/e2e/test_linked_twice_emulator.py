"""A bank linked twice never counts twice (issue #15, part 3): through the real app and the
emulator, by Plaid Link's steps (no browser) and by the sandbox command."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from balances.models import PlaidItem
from balances.services import store
from tests.e2e.conftest import emulator_post
from tests.factories import UserFactory
from tests.helpers import tight_text

pytestmark = pytest.mark.django_db

NET_WORTH = 'class="net-worth" data-currency="USD">$44,110.00<'  # Chase's five accounts
# The checking account and the card of the emulator's Chase (ins_3), as Plaid's sandbox
# `user_custom` configures them: a second link with only these two ticked.
SUBSET = {
    "override_accounts": [
        {
            "type": "depository",
            "subtype": "checking",
            "starting_balance": 110,
            "meta": {"name": "Plaid Checking", "mask": "0000"},
        },
        {
            "type": "credit",
            "subtype": "credit card",
            "starting_balance": 410,
            "meta": {"name": "Plaid Credit Card", "mask": "3333", "limit": 2000},
        },
    ]
}


def link_with_link(client: Any, emulator: Any, masks: set[str] | None = None) -> dict[str, Any]:
    """Link Chase as the browser does: the app's link token, Link's steps at the emulator
    (log in, tick the accounts with `masks`, or all), the app's exchange."""
    token = client.post("/link/token/").json()["link_token"]
    sid = emulator_post(emulator, "/link/api/session", {"link_token": token})["link_session_id"]
    login = emulator_post(
        emulator,
        "/link/api/login",
        {
            "link_token": token,
            "link_session_id": sid,
            "institution_id": "ins_3",
            "username": "user_good",
            "password": "pass_good",
        },
    )
    ids = [a["id"] for a in login["accounts"] if masks is None or a["mask"] in masks]
    done = emulator_post(
        emulator,
        "/link/api/finish",
        {"link_token": token, "link_session_id": sid, "account_ids": ids},
    )
    response = client.post(
        "/link/exchange/",
        json.dumps({"public_token": done["public_token"], "metadata": done["metadata"]}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return response.json()


def refresh_all(user: Any) -> None:
    """Run the first refresh each link queued (here, not by a worker)."""
    for item in PlaidItem.objects.filter(owner=user):
        store.item_refresh_balances(item=item)


def emulator_items(emulator: Any) -> dict[str, bool]:
    """Return the emulator's Items: item_id -> removed."""
    return {
        i["item_id"]: i["removed"]
        for i in emulator_post(emulator, "/emulator/items", method="GET")["items"]
    }


def net_worth_everywhere(client: Any) -> tuple[bool, str, str]:
    """Return (the dashboard shows $44,110.00, the API's net worth, the chart's today)."""
    page = tight_text(client.get("/"))
    api = client.get("/api/v1/net-worth/").json()["totals"][0]["net_worth"]
    chart = client.get("/api/v1/net-worth/history/", {"range": "30d"}).json()
    return NET_WORTH in page, api, chart["series"][0]["points"][-1]["net_worth"]


def test_relinking_a_subset_with_link_never_changes_net_worth(client, emulator, queued_refreshes):
    user = UserFactory()
    client.force_login(user)
    first = link_with_link(client, emulator)
    refresh_all(user)
    assert net_worth_everywhere(client) == (True, "44110.00", "44110.00")

    second = link_with_link(client, emulator, masks={"0000", "3333"})
    assert second["redirect"] == f"/items/{second['item']}/keep/"
    refresh_all(user)
    assert PlaidItem.objects.filter(owner=user).count() == 2
    assert net_worth_everywhere(client) == (True, "44110.00", "44110.00")
    export = client.get("/export/accounts.csv")
    assert len(b"".join(export.streaming_content).decode().strip().splitlines()) == 1 + 5
    choose = tight_text(client.get(second["redirect"]))
    assert "Chase (…0000, …3333)" in choose and "Chase (…0000, …1111, …2222, …3333, …)" in choose

    # The same bank with every account again: Plaid's new Item is removed, nothing added.
    again = link_with_link(client, emulator)
    assert again.get("duplicate") is True
    assert PlaidItem.objects.filter(owner=user).count() == 2
    removed = [item_id for item_id, gone in emulator_items(emulator).items() if gone]
    assert len(removed) == 1
    assert not PlaidItem.objects.filter(plaid_item_id__in=removed).exists()

    # Keeping the first removes the second at Plaid and here.
    kept = PlaidItem.objects.get(pk=first["item"])
    response = client.post(f"/items/{kept.pk}/keep/")
    assert response.status_code == 302
    assert list(PlaidItem.objects.filter(owner=user)) == [kept]
    gone = PlaidItem(pk=second["item"])
    assert emulator_items(emulator)[kept.plaid_item_id] is False
    assert sorted(emulator_items(emulator).values()) == [False, True, True]
    assert not PlaidItem.objects.filter(pk=gone.pk).exists()
    assert net_worth_everywhere(client) == (True, "44110.00", "44110.00")


def test_relinking_with_the_sandbox_command_never_changes_net_worth(client, emulator):
    user = UserFactory(username="twice")
    client.force_login(user)
    call_command("link_sandbox_item", "twice", "--institution", "ins_3", stdout=StringIO())
    first = PlaidItem.objects.get(owner=user)
    assert net_worth_everywhere(client) == (True, "44110.00", "44110.00")

    # The same accounts again: refused, and Plaid's new Item removed.
    with pytest.raises(CommandError, match="already linked with these accounts"):
        call_command("link_sandbox_item", "twice", "--institution", "ins_3", stdout=StringIO())
    items = emulator_items(emulator)
    assert items[first.plaid_item_id] is False
    assert sorted(items.values()) == [False, True]
    assert list(PlaidItem.objects.filter(owner=user)) == [first]

    # Two of its accounts again (Plaid's user_custom): linked, each account counted once.
    out = StringIO()
    call_command(
        "link_sandbox_item",
        "twice",
        "--institution",
        "ins_3",
        "--override-username",
        "user_custom",
        "--override-password",
        json.dumps(SUBSET),
        stdout=out,
    )
    assert "It shares accounts with Chase" in out.getvalue()
    assert PlaidItem.objects.filter(owner=user).count() == 2
    assert net_worth_everywhere(client) == (True, "44110.00", "44110.00")

    # Keeping the newer one removes the first: its two accounts count now.
    second = PlaidItem.objects.exclude(pk=first.pk).get(owner=user)
    client.post(f"/items/{second.pk}/keep/")
    assert list(PlaidItem.objects.filter(owner=user)) == [second]
    assert emulator_items(emulator)[first.plaid_item_id] is True
    assert client.get("/api/v1/net-worth/").json()["totals"][0]["net_worth"] == "-300.00"
