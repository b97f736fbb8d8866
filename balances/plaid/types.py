"""What our Plaid client returns: frozen dataclasses, never SDK objects; money is Decimal.

Access tokens and link tokens are kept out of every repr.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class Balances:
    available: Decimal | None
    current: Decimal | None
    limit: Decimal | None
    iso_currency_code: str | None
    unofficial_currency_code: str | None
    last_updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    name: str
    official_name: str | None
    mask: str | None
    type: str
    subtype: str | None
    balances: Balances


@dataclass(frozen=True, slots=True)
class AccountsResult:
    item_id: str
    institution_id: str | None
    accounts: tuple[Account, ...]
    request_id: str
    # Wall time of the HTTP call, for the per-Item call log.
    duration_ms: int | None = None


@dataclass(frozen=True, slots=True)
class TokenExchange:
    access_token: str = field(repr=False)
    item_id: str
    request_id: str


@dataclass(frozen=True, slots=True)
class ItemInfo:
    item_id: str
    institution_id: str | None
    webhook: str | None
    error_code: str | None
    consent_expiration_time: datetime | None
    request_id: str


@dataclass(frozen=True, slots=True)
class Institution:
    institution_id: str
    name: str


@dataclass(frozen=True, slots=True)
class LinkToken:
    link_token: str = field(repr=False)
    expiration: datetime | None
    request_id: str


@dataclass(frozen=True, slots=True)
class WebhookKey:
    """A public JWK that verifies webhook signatures (`/webhook_verification_key/get`)."""

    kid: str
    jwk: dict[str, Any]
    created_at: int | None
    expired_at: int | None
