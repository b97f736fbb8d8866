"""Helpers for the linking tests: a Link session's public token and metadata on fake_plaid."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import FakePlaid


def new_link(
    fake: FakePlaid, *, institution_id: str = "ins_3", masks: tuple[str, ...] | None = None
) -> tuple[str, dict[str, Any], str]:
    """Make `fake` accept a new public token for a new Item; return (token, metadata, item_id).

    The Item's accounts are the example reply's five (masks 0000-4444) unless `masks` is given.
    """
    n = uuid.uuid4()
    public_token = f"public-sandbox-{n}"
    access_token, item_id = f"access-sandbox-{n}", f"item-{n.hex}"
    reply = fake.add_item(access_token)
    reply["item"]["item_id"] = item_id
    reply["item"]["institution_id"] = institution_id
    if masks is not None:
        reply["accounts"] = [
            {**reply["accounts"][0], "account_id": f"acct-{n.hex}-{m}", "mask": m} for m in masks
        ]
    fake.public_tokens[public_token] = (access_token, item_id)
    metadata = {
        "institution": {"institution_id": institution_id, "name": "Chase"},
        "accounts": [
            {"id": a["account_id"], "name": a["name"], "mask": a["mask"], "type": a["type"]}
            for a in reply["accounts"]
        ],
        "link_session_id": f"session-{n}",
    }
    return public_token, metadata, item_id
