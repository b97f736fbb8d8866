"""Helpers shared by the test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import re
import shutil
import socket
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.conftest import FakePlaid


def body(response: Any) -> str:
    """Return a response's body as text, a streamed one (the dashboard) too; read once
    and kept on the response, so it can be asked again."""
    kept: str | None = getattr(response, "_test_body", None)
    if kept is None:
        raw = b"".join(response.streaming_content) if response.streaming else response.content
        kept = raw.decode()
        response._test_body = kept
    return kept


def figures(response: Any) -> dict[str, Any]:
    """Return the figures the streamed dashboard `response` rendered (its template context:
    the test client records none of a page rendered while it streams), read again by the
    view's own `dashboard_context` for the same user and parameters."""
    from balances.web.forms import clean_period, clean_range, clean_view
    from balances.web.views.dashboard import dashboard_context

    body(response)  # the page first, as the browser gets it
    request = response.wsgi_request
    return dashboard_context(
        user=request.user,
        range_key=clean_range(request.GET.get("range")),
        period_key=clean_period(request.GET.get("since")),
        household=clean_view(request.GET.get("view")),
    )


def text(response: Any) -> str:
    """Return a response's body with runs of whitespace collapsed to one space."""
    return re.sub(r"\s+", " ", body(response))


def tight_text(response: Any) -> str:
    """Return `text(response)` with the spaces at tags' edges removed too, so an assertion
    can name "<td>$110.00</td>" whatever the template's indentation."""
    return re.sub(r"\s*<", "<", re.sub(r">\s*", ">", text(response)))


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


def link_again(fake: FakePlaid, user: Any, indexes: tuple[int, ...] = (0, 3)) -> Any:
    """Link Plaid's example bank (ins_3) again for `user`, through the linking service, with
    only the example accounts at `indexes` ticked (default: the checking account and the
    card), then refresh it once; return the new Item. Its accounts have new Plaid ids, as
    a second Item's have."""
    from balances.services import linking, store

    public_token, _, _ = new_link(fake)
    reply = fake.replies[fake.public_tokens[public_token][0]]
    reply["accounts"] = [
        {**a, "account_id": f"{a['account_id']}-again"}
        for i, a in enumerate(reply["accounts"])
        if i in indexes
    ]
    item = linking.item_link(user=user, public_token=public_token, queue_refresh=False)
    store.item_refresh_balances(item=item)
    return item


ROOT = Path(__file__).resolve().parents[1]
# What a copy of the source tree leaves out: local state, caches, the developer's own
# virtualenv and `.env` (a fresh clone has none of them).
NOT_COPIED = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".env",
    "var",
    "staticfiles",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "node_modules",
)


def copy_source_tree(destination: Path) -> Path:
    """Copy the project's source tree to `destination` as a fresh clone would hold it."""
    shutil.copytree(ROOT, destination, ignore=NOT_COPIED)
    return destination


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
