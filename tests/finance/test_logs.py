import json
import logging

import pytest

from balances.log_fields import log_context
from finance.logs import ContextFilter, JsonFormatter, request_id


def format_record(**extra) -> dict:
    record = logging.makeLogRecord(
        {"name": "balances", "levelname": "INFO", "msg": "hi %s", "args": ("there",), **extra}
    )
    ContextFilter().filter(record)
    return json.loads(JsonFormatter().format(record))


def test_json_lines_carry_request_id_and_extras():
    token = request_id.set("abc123")
    try:
        entry = format_record(item_id=7, plaid_request_id="req-9")
    finally:
        request_id.reset(token)
    assert entry["message"] == "hi there"
    assert entry["level"] == "INFO"
    assert entry["request_id"] == "abc123"
    assert (entry["item_id"], entry["plaid_request_id"]) == (7, "req-9")


def test_log_context_fields_reach_records_logged_inside_the_block():
    # The app adds fields with balances.log_fields; the project's filter copies them.
    with log_context(item_id=7):
        with log_context(attempt=2):
            inner = format_record()
        outer = format_record(item_id=8)  # an explicit `extra=` wins
    after = format_record()
    assert (inner["item_id"], inner["attempt"]) == (7, 2)
    assert outer["item_id"] == 8 and "attempt" not in outer
    assert "item_id" not in after


@pytest.mark.django_db
def test_every_response_has_a_request_id(client):
    response = client.get("/accounts/login/")
    assert len(response["X-Request-ID"]) == 32
    sane = client.get("/accounts/login/", headers={"X-Request-ID": "proxy-id.1"})
    assert sane["X-Request-ID"] == "proxy-id.1"
    insane = client.get("/accounts/login/", headers={"X-Request-ID": "bad id\n<script>"})
    assert insane["X-Request-ID"] != "bad id\n<script>"


def test_log_records_written_during_a_request_carry_its_id(rf, caplog):
    from django.http import HttpResponse

    from finance.logs import RequestIdMiddleware

    def view(request):
        logging.getLogger("balances").warning("inside the view")
        return HttpResponse("ok")

    caplog.handler.addFilter(ContextFilter())
    response = RequestIdMiddleware(view)(rf.get("/", headers={"X-Request-ID": "rid-42"}))
    assert response["X-Request-ID"] == "rid-42"
    (record,) = [r for r in caplog.records if r.getMessage() == "inside the view"]
    assert record.request_id == "rid-42"
    assert request_id.get() == ""
