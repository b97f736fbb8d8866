"""Task logs of a real refresh (real SDK, the emulator over HTTP): Item id and Plaid
request id on the records, never the access token. Needs no Redis: the task runs eagerly.
"""

import json
import logging

import pytest
import urllib3

from balances import tasks
from balances.models import PlaidCall, PlaidItem
from balances.services import linking
from finance.logs import ContextFilter, JsonFormatter
from plaid_emulator import DEFAULT_CLIENT_ID, DEFAULT_SECRET
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


class Lines(logging.Handler):
    """Format records exactly as production does (context filter, JSON lines)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.addFilter(ContextFilter())
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def entries(self) -> list[dict]:
        return [json.loads(line) for line in self.lines]


@pytest.fixture
def lines():
    handler = Lines()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old_level)


def assert_no_token(handler, item):
    for line in handler.lines:
        assert item.access_token not in line
        assert item.access_token_encrypted not in line


def test_refresh_task_logs_item_and_plaid_request_ids(emulator, lines):
    item = linking.item_link_sandbox(
        user=UserFactory(username="logan"), institution_id="ins_3", queue_refresh=False
    )
    lines.lines.clear()
    result = tasks.refresh_item_balances.apply(args=(item.pk,))
    assert result.get() == "ok: 5 accounts"

    call = PlaidCall.objects.get(item=item)
    assert call.request_id
    entries = lines.entries()
    assert entries, "the refresh logged nothing"
    task_entries = [e for e in entries if e.get("item_id") == item.pk]
    assert [e for e in task_entries if e.get("plaid_request_id") == call.request_id], entries
    the_call = next(e for e in task_entries if e.get("plaid_request_id") == call.request_id)
    assert the_call["plaid_endpoint"] == "/accounts/balance/get"
    assert the_call["plaid_error_code"] == ""
    assert the_call["logger"] == "balances.services.calls"
    # Every record the task's own code wrote carries the Item id.
    ours = [e for e in entries if e["logger"].startswith("balances.")]
    assert ours and all(e.get("item_id") == item.pk for e in ours), ours
    assert_no_token(lines, item)


def test_failed_refresh_logs_the_error_with_its_request_id(emulator, lines):
    item = linking.item_link_sandbox(
        user=UserFactory(username="lara"), institution_id="ins_3", queue_refresh=False
    )
    response = urllib3.request(
        "POST",
        emulator.url + "/emulator/faults",
        json={"error_code": "ITEM_LOGIN_REQUIRED", "item_id": item.plaid_item_id, "count": 1},
        headers={"PLAID-CLIENT-ID": DEFAULT_CLIENT_ID, "PLAID-SECRET": DEFAULT_SECRET},
        timeout=10,
    )
    assert response.status == 200
    lines.lines.clear()
    assert tasks.refresh_item_balances.apply(args=(item.pk,)).get() == (
        "failed: ITEM_LOGIN_REQUIRED"
    )
    item.refresh_from_db()
    assert item.status == PlaidItem.Status.LOGIN_REQUIRED
    call = PlaidCall.objects.get(item=item)
    assert call.request_id and call.error_code == "ITEM_LOGIN_REQUIRED"
    entries = [e for e in lines.entries() if e.get("plaid_request_id") == call.request_id]
    # The client's warning and the call log's line, both with the Item and the request id.
    assert {e["logger"] for e in entries} >= {"balances.plaid.client", "balances.services.calls"}
    assert all(e["item_id"] == item.pk for e in entries)
    assert all(e["plaid_error_code"] == "ITEM_LOGIN_REQUIRED" for e in entries)
    assert_no_token(lines, item)
