"""Capital One through the real app and the emulator: its card's balance call carries
min_last_updated_datetime, and its balance, hours old, says "as of" everywhere it shows."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from balances.models import Account, PlaidCall, PlaidItem
from balances.plaid.errors import PlaidError
from balances.services import api_tokens, linking, store
from plaid_emulator.institutions import CAPITAL_ONE, CAPITAL_ONE_CARD_LAG_HOURS
from tests.e2e.conftest import manage, wait_for
from tests.factories import UserFactory
from tests.helpers import text

LAG = timedelta(hours=CAPITAL_ONE_CARD_LAG_HOURS)


def _assert_card_as_of_hours_ago(client, item: PlaidItem) -> None:
    """The dashboard, the account page, the JSON and the CSV show the card's balance with
    the time Capital One last updated it; the checking account, real time, without."""
    card = Account.objects.get(item=item, type="credit")
    checking = Account.objects.get(item=item, type="depository")
    item.refresh_from_db()
    assert abs(card.balances_updated_at - (item.last_refreshed_at - LAG)) < timedelta(minutes=1)

    page = text(client.get("/"))
    assert "Capital One" in page
    card_row = page[page.index(f'data-account="{card.pk}"') :].split("</tr>")[0]
    assert "$730.00" in card_row  # owed, frozen emulator
    assert "as of" in card_row and "6 hours ago" in card_row
    checking_row = page[page.index(f'data-account="{checking.pk}"') :].split("</tr>")[0]
    assert "$2,450.00" in checking_row
    assert "as of" not in checking_row
    assert page.count('class="as-of') == 1

    detail = text(client.get(f"/accounts/{card.pk}/"))
    assert "6 hours ago" in detail and "the bank's last update" in detail

    board = client.get("/api/dashboard/").json()
    rows = {a["id"]: a for g in board["groups"] for a in g["accounts"]}
    assert rows[card.pk]["balances_as_of"] == card.balances_updated_at.isoformat()
    assert rows[checking.pk]["balances_as_of"] is None

    _token, secret = api_tokens.api_token_create(user=item.owner, name="e2e")
    api = client.get("/api/v1/accounts/", HTTP_AUTHORIZATION=f"Bearer {secret}").json()
    as_of = {a["id"]: a["balances_as_of"] for a in api["results"]}
    assert as_of[card.pk] == card.balances_updated_at.isoformat()  # the card's true age
    assert as_of[checking.pk] == checking.balances_updated_at.isoformat()

    exported = client.get("/export/accounts.csv")
    content = b"".join(exported.streaming_content).decode()
    by_mask = {r["mask"]: r for r in csv.DictReader(io.StringIO(content))}
    assert by_mask[card.mask]["balances_as_of"] == card.balances_updated_at.isoformat()
    assert by_mask[checking.mask]["balances_as_of"] == ""


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_worker_refreshes_a_capital_one_card_and_the_dashboard_says_as_of(
    emulator, process_env, start_worker, client
):
    user = UserFactory(username="cap")
    item = linking.item_link_sandbox(user=user, institution_id=CAPITAL_ONE, queue_refresh=False)
    assert item.institution_id == CAPITAL_ONE
    # The option is sent on the real-time call (/accounts/balance/get): the schedule's
    # opt-in source, so `refresh_balances` queues that call.
    process_env["BALANCE_SCHEDULED_SOURCE"] = "realtime"
    start_worker()
    queued = manage(process_env, "refresh_balances", "--user", "cap")
    assert queued.returncode == 0, queued.stderr

    ended = PlaidItem.objects.filter(pk=item.pk, refresh_requested_at=None)
    assert wait_for(
        lambda: ended.exclude(last_refreshed_at=None).exists() or ended.exclude(error_code="")
    ), "the worker did not refresh the Item"
    item.refresh_from_db()
    assert (item.status, item.error_code) == (PlaidItem.Status.HEALTHY, ""), item.error_message
    assert Account.objects.filter(item=item).count() == 2
    assert PlaidCall.objects.filter(item=item, endpoint="/accounts/balance/get").exists()
    client.force_login(user)
    _assert_card_as_of_hours_ago(client, item)


@pytest.mark.django_db
def test_no_newer_card_balance_keeps_the_last_one_with_its_age(emulator, settings, client):
    user = UserFactory(username="cap2")
    item = linking.item_link_sandbox(user=user, institution_id=CAPITAL_ONE, queue_refresh=False)
    store.item_refresh_balances(item=item)
    client.force_login(user)
    _assert_card_as_of_hours_ago(client, item)
    kept = {a.pk: (a.current, a.balances_updated_at) for a in Account.objects.filter(item=item)}

    # Accept only balances from the last hour: the card's is 6 hours old at Capital One.
    settings.PLAID_MIN_LAST_UPDATED_HOURS = 1
    with pytest.raises(PlaidError) as raised:
        store.item_refresh_balances(item=item)
    assert raised.value.code == "LAST_UPDATED_DATETIME_OUT_OF_RANGE"

    item.refresh_from_db()
    assert item.status == PlaidItem.Status.HEALTHY  # never broken for it
    assert kept == {
        a.pk: (a.current, a.balances_updated_at) for a in Account.objects.filter(item=item)
    }
    page = text(client.get("/"))
    assert "no newer balances from the bank" in page
    assert "last update failed" not in page
    assert "6 hours ago" in page
