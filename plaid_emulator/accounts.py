"""Create an Item's accounts: stable ids, sandbox users and ``user_custom`` configs.

Sandbox credentials follow Plaid: ``user_good`` / ``pass_good`` (any password
``error_<ERROR_CODE>`` fails with that error), ``user_custom`` with a JSON
``override_accounts`` config as the password.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from .errors import CATALOGUE, PlaidAPIError, invalid_field
from .institutions import AccountTemplate, Institution

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
CRYPTO_CODES = frozenset({"BTC", "ETH", "DOGE", "LTC", "SOL", "USDC", "USDT", "XRP", "ADA"})


def plaid_id(*parts: str, length: int = 37) -> str:
    """Return a random-looking, deterministic base62 id derived from ``parts``."""
    digest = hashlib.sha512("\x1f".join(parts).encode()).digest()
    return "".join(_ALPHABET[b % 62] for b in digest[:length])


@dataclass
class Account:
    """Hold one linked account and its base (initial) balances."""

    account_id: str
    name: str
    official_name: str | None
    mask: str | None
    type: str
    subtype: str | None
    available: float | None
    current: float | None
    limit: float | None
    iso_currency_code: str | None
    unofficial_currency_code: str | None

    def to_json(self) -> dict[str, Any]:
        """Return the account as a plain dict for the state file."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Account:
        """Rebuild an account from the state file."""
        return cls(**data)


def from_template(item_id: str, index: int, tpl: AccountTemplate) -> Account:
    """Return the account built from ``tpl`` with an id stable for ``item_id``."""
    return Account(
        account_id=plaid_id(item_id, str(index), tpl.mask or "", tpl.name),
        name=tpl.name,
        official_name=tpl.official_name,
        mask=tpl.mask,
        type=tpl.type,
        subtype=tpl.subtype,
        available=tpl.available,
        current=tpl.current,
        limit=tpl.limit,
        iso_currency_code=tpl.iso_currency_code,
        unofficial_currency_code=tpl.unofficial_currency_code,
    )


def accounts_for_login(
    item_id: str, institution: Institution, username: str | None, password: str | None
) -> list[Account]:
    """Check sandbox credentials and return the accounts they yield.

    Raise ``PlaidAPIError`` (INVALID_CREDENTIALS, or the ``error_<CODE>`` asked
    for) when the login fails, like Plaid's sandbox.
    """
    user = username if username is not None else "user_good"
    pwd = password if password is not None else "pass_good"
    if user == "user_custom":
        return _custom_accounts(item_id, pwd)
    if user != "user_good":
        raise PlaidAPIError("INVALID_CREDENTIALS")
    if pwd.startswith("error_"):
        code = pwd[len("error_") :]
        if code in CATALOGUE:
            raise PlaidAPIError(code)
        raise PlaidAPIError("INVALID_CREDENTIALS")
    if pwd != "pass_good":  # noqa: S105 - Plaid's public sandbox test password
        raise PlaidAPIError("INVALID_CREDENTIALS")
    return [from_template(item_id, i, tpl) for i, tpl in enumerate(institution.accounts)]


def _num(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid_field(f"user_custom: {what} must be a number")
    return float(value)


def _custom_accounts(item_id: str, password: str) -> list[Account]:
    """Parse Plaid's ``user_custom`` configuration (``override_accounts``)."""
    try:
        config = json.loads(password)
    except ValueError as exc:
        raise invalid_field(
            "user_custom: override_password must be a JSON configuration object"
        ) from exc
    if not isinstance(config, dict) or not isinstance(config.get("override_accounts"), list):
        raise invalid_field("user_custom: configuration needs an override_accounts list")
    accounts = []
    for index, spec in enumerate(config["override_accounts"]):
        if not isinstance(spec, dict):
            raise invalid_field("user_custom: each override_accounts entry must be an object")
        acc_type = str(spec.get("type", "depository"))
        subtype = spec.get("subtype", "checking" if acc_type == "depository" else None)
        meta = spec.get("meta") or {}
        if not isinstance(meta, dict):
            raise invalid_field("user_custom: meta must be an object")
        current = _num(spec.get("starting_balance", 0), "starting_balance")
        limit = _num(meta.get("limit"), "meta.limit")
        if "force_available_balance" in spec:
            available = _num(spec["force_available_balance"], "force_available_balance")
        elif acc_type == "depository":
            available = current
        elif acc_type == "credit" and limit is not None and current is not None:
            available = max(limit - current, 0.0)
        else:
            available = None
        currency = spec.get("currency", "USD")
        iso: str | None
        unofficial: str | None
        if "iso_currency_code" in spec or "unofficial_currency_code" in spec:
            iso = spec.get("iso_currency_code")
            unofficial = spec.get("unofficial_currency_code")
        elif isinstance(currency, str) and currency.upper() in CRYPTO_CODES:
            iso, unofficial = None, currency.upper()
        else:
            iso, unofficial = str(currency), None
        name = str(meta.get("name") or f"Custom {subtype or acc_type}".title())
        mask = meta.get("mask", f"{(index + 1) % 10000:04d}")
        accounts.append(
            Account(
                account_id=plaid_id(item_id, "custom", str(index), name),
                name=name,
                official_name=meta.get("official_name"),
                mask=None if mask is None else str(mask),
                type=acc_type,
                subtype=None if subtype is None else str(subtype),
                available=available,
                current=current,
                limit=limit,
                iso_currency_code=iso,
                unofficial_currency_code=unofficial,
            )
        )
    if not accounts:
        raise PlaidAPIError("NO_ACCOUNTS")
    return accounts
