"""The commands that call Plaid (`refresh_balances --sync`, `item_refresh --sync`,
`link_sandbox_item`) with this server's Plaid configuration missing or refused: a clear
command error for the operator, and no Item's status changed."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from balances.models import PlaidItem
from balances.services import store
from tests.factories import PlaidItemFactory

pytestmark = pytest.mark.django_db

STATE = ("status", "error_code", "error_message", "error_at", "updated_at")


def states() -> list[tuple]:
    return list(PlaidItem.objects.order_by("pk").values_list(*STATE))


@pytest.fixture
def items(fake_plaid):
    """A healthy Item with balances, and one whose owner must log in again."""
    healthy = PlaidItemFactory(institution_name="Chase")
    fake_plaid.add_item(healthy.access_token)
    store.item_refresh_balances(item=healthy)
    PlaidItemFactory(owner=healthy.owner, status=PlaidItem.Status.LOGIN_REQUIRED)
    return healthy


COMMANDS = {
    "refresh_balances": lambda item: ["refresh_balances", "--sync"],
    "item_refresh": lambda item: ["item_refresh", str(item.pk), "--sync"],
    "link_sandbox_item": lambda item: ["link_sandbox_item", item.owner.username],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_missing_plaid_keys_stop_the_command_and_change_no_item(
    items, fake_plaid, settings, command
):
    settings.PLAID_CLIENT_ID = ""
    before = states()
    calls_before = len(fake_plaid.calls)
    with pytest.raises(CommandError) as raised:
        call_command(*COMMANDS[command](items), stdout=StringIO(), stderr=StringIO())
    assert states() == before
    message = str(raised.value)
    assert "Plaid is not configured (NOT_CONFIGURED)" in message
    assert "PLAID_CLIENT_ID" in message
    assert "`make run` is up" in message
    assert "No Item was changed." in message
    assert len(fake_plaid.calls) == calls_before  # stopped before any call
    assert states() == before
    assert PlaidItem.objects.count() == 2  # nothing linked


@pytest.mark.parametrize("command", COMMANDS)
def test_refused_plaid_keys_stop_the_command_and_change_no_item(items, fake_plaid, command):
    other = PlaidItemFactory(owner=items.owner)
    fake_plaid.add_item(other.access_token)
    before = states()
    calls_before = len(fake_plaid.calls)
    fake_plaid.fail_next("INVALID_API_KEYS")
    with pytest.raises(CommandError) as raised:
        call_command(*COMMANDS[command](items), stdout=StringIO(), stderr=StringIO())
    assert states() == before
    message = str(raised.value)
    assert "Plaid refused this server's configuration (INVALID_API_KEYS" in message
    assert "No Item was changed." in message
    assert states() == before
    # The first refused call ends the command: the other Items are not tried in vain.
    assert len(fake_plaid.calls) - calls_before <= 1
    assert PlaidItem.objects.count() == 3
