"""What Plaid Link's `onSuccess` reports about a new link, parsed and checked.

The browser sends it; treat it as the user's claim, not Plaid's word: it only serves as a
fallback institution. The duplicate guard never reads it: it compares the accounts Plaid
itself reports for the new Item (`balances.services.linking.item_link`), on every path,
with or without Link.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_ACCOUNTS = 500
MAX_TEXT = 300


class MetadataError(ValueError):
    """The metadata is not the shape Plaid Link sends. `str()` is fit to show the user."""


@dataclass(frozen=True, slots=True)
class LinkedAccount:
    account_id: str
    name: str
    mask: str


@dataclass(frozen=True, slots=True)
class LinkMetadata:
    institution_id: str
    institution_name: str
    accounts: tuple[LinkedAccount, ...]
    link_session_id: str


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise MetadataError(f"Plaid Link sent an invalid {what}.")
    return value


def parse_link_metadata(raw: Any) -> LinkMetadata | None:
    """Return Link's `onSuccess` metadata as a LinkMetadata; None when none was sent.

    Raises MetadataError when it is present but not shaped like Plaid Link's.
    """
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise MetadataError("Plaid Link sent invalid details about the new link.")
    institution = raw.get("institution") or {}
    if not isinstance(institution, dict):
        raise MetadataError("Plaid Link sent an invalid institution.")
    raw_accounts = raw.get("accounts") or []
    if not isinstance(raw_accounts, list) or len(raw_accounts) > MAX_ACCOUNTS:
        raise MetadataError("Plaid Link sent an invalid list of accounts.")
    accounts = []
    for entry in raw_accounts:
        if not isinstance(entry, dict):
            raise MetadataError("Plaid Link sent an invalid account.")
        accounts.append(
            LinkedAccount(
                account_id=_text(entry.get("id"), "account id"),
                name=_text(entry.get("name"), "account name"),
                mask=_text(entry.get("mask"), "account mask"),
            )
        )
    return LinkMetadata(
        institution_id=_text(institution.get("institution_id"), "institution id"),
        institution_name=_text(institution.get("name"), "institution name"),
        accounts=tuple(accounts),
        link_session_id=_text(raw.get("link_session_id"), "link session id"),
    )
