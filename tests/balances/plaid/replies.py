"""Malformed accounts replies, shared by the parser's tests and the client's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Each breaks Plaid's sample reply (`tests.conftest.example_reply`) in one way the strict
# parser must refuse.
MANGLES: list[Callable[[dict[str, Any]], Any]] = [
    lambda r: r["accounts"][0].pop("mask"),  # a required key missing
    lambda r: r["accounts"][0]["balances"].update(current="lots"),  # wrong type
    lambda r: r.pop("item"),
    lambda r: r["item"].pop("update_type"),  # the sample lacks it; today's API sends it
    lambda r: r["accounts"][1]["balances"].pop("limit"),  # required, even when null
    lambda r: r["accounts"][0]["balances"].update(current=True),  # a bool is no amount
    lambda r: r["accounts"][0].update(name=None),
    lambda r: r["accounts"][0].update(type="spaceship"),  # not an account type
    lambda r: r["accounts"][0]["balances"].update(last_updated_datetime="yesterday"),
    lambda r: r["accounts"][0]["balances"].update(last_updated_datetime="2026-11-24T10:00"),
    lambda r: r.update(accounts={"0": r["accounts"][0]}),
    lambda r: r.update(request_id=7),
]

# Bodies that are no JSON object: an array, null, NaN, bytes that are no text.
NOT_JSON_OBJECTS = [b"[]", b"null", b'{"accounts": NaN}', b"\xff\xfe"]
