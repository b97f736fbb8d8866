"""Implement Plaid's API endpoints: ``handler(emu, body) -> reply dict``.

Handlers raise ``PlaidAPIError`` for Plaid errors; the server adds
``request_id`` and serialises. Each handler is small and takes the state lock
only around mutations.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from .accounts import accounts_for_login, from_template
from .core import Emulator, iso, new_item_id, new_request_id
from .errors import PlaidAPIError, invalid_field, missing_fields
from .institutions import NEW_ACCOUNT_OFFER, get_institution
from .institutions import search as search_institutions
from .store import Item

Handler = Callable[[Emulator, dict[str, Any]], dict[str, Any]]


def _require(body: dict[str, Any], *names: str) -> None:
    missing = [n for n in names if body.get(n) in (None, "", [])]
    if missing:
        raise missing_fields(*missing)


def _options(body: dict[str, Any]) -> dict[str, Any]:
    opts = body.get("options") or {}
    if not isinstance(opts, dict):
        raise invalid_field("options must be an object")
    return opts


def _str_list(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid_field(f"{name} must be a list of strings")
    return value


# -- linking -------------------------------------------------------------------
def link_token_create(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    """Create a link token (update mode with ``access_token`` and no ``products``)."""
    _require(body, "client_name", "language", "country_codes", "user")
    user = body["user"]
    if not isinstance(user, dict) or not user.get("client_user_id"):
        raise missing_fields("user.client_user_id")
    country_codes = _str_list(body["country_codes"], "country_codes")
    access_token = body.get("access_token")
    products = body.get("products")
    item_id = None
    if access_token:
        item_id = emu.item_for_token(access_token).item_id
        if products:
            raise invalid_field("products must be omitted in update mode (access_token given)")
        products = []
    elif not products:
        raise missing_fields("products")
    update = body.get("update") or {}
    if not isinstance(update, dict):
        raise invalid_field("update must be an object")
    webhook = body.get("webhook")
    redirect_uri = body.get("redirect_uri")
    if redirect_uri is not None and not _redirect_uri_ok(redirect_uri):
        raise invalid_field("redirect_uri must be an http(s) URL without query or fragment")
    lt = emu.state.new_link_token(
        client_user_id=str(user["client_user_id"]),
        client_name=str(body["client_name"]),
        country_codes=country_codes,
        products=_str_list(products, "products"),
        webhook=webhook if isinstance(webhook, str) and webhook else None,
        item_id=item_id,
        account_selection_enabled=bool(update.get("account_selection_enabled", False)),
        redirect_uri=redirect_uri or None,
    )
    return {"link_token": lt.token, "expiration": iso(lt.expires_at)}


def _redirect_uri_ok(uri: object) -> bool:
    """Accept what Plaid's dashboard could register: http(s), a host, no query or fragment."""
    if not isinstance(uri, str) or not uri or not uri.isprintable() or " " in uri:
        return False
    parts = urlsplit(uri)
    return (
        parts.scheme in ("http", "https")
        and bool(parts.netloc)
        and not (parts.query or parts.fragment)
    )


def public_token_exchange(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    """Exchange a single-use public token for the Item's access token."""
    _require(body, "public_token")
    token = body["public_token"]
    state = emu.state
    with state.lock:
        pt = state.public_tokens.get(token) if isinstance(token, str) else None
        if pt is None:
            raise PlaidAPIError(
                "INVALID_PUBLIC_TOKEN", "provided public token is in an invalid format"
            )
        if pt.used:
            raise PlaidAPIError(
                "INVALID_PUBLIC_TOKEN", "provided public token has already been exchanged"
            )
        if pt.expires_at <= state.now():
            raise PlaidAPIError("INVALID_PUBLIC_TOKEN")
        item = state.items.get(pt.item_id)
        if item is None or item.removed:
            raise PlaidAPIError("ITEM_NOT_FOUND")
        pt.used = True
    state.changed()
    return {"access_token": item.access_token, "item_id": item.item_id}


def sandbox_public_token_create(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    """Create an Item without Link and return its public token."""
    _require(body, "institution_id", "initial_products")
    inst = emu.institution(body["institution_id"])
    products = _str_list(body["initial_products"], "initial_products")
    opts = _options(body)
    item_id = new_item_id()
    accounts = accounts_for_login(
        item_id, inst, opts.get("override_username"), opts.get("override_password")
    )
    webhook = opts.get("webhook")
    item = emu.create_item(
        inst,
        accounts,
        products,
        item_id=item_id,
        webhook=webhook if isinstance(webhook, str) else None,
    )
    return {"public_token": emu.state.new_public_token(item.item_id)}


# -- accounts and balances ---------------------------------------------------
def _account_ids(opts: dict[str, Any], known: set[str]) -> list[str] | None:
    if "account_ids" not in opts or opts["account_ids"] is None:
        return None
    ids = _str_list(opts["account_ids"], "options.account_ids")
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise invalid_field(
            "options.account_ids contains unknown account ids: " + ", ".join(unknown)
        )
    return ids


def accounts_balance_get(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    """Return real-time balances (drifted to now) and record the refresh time.

    At an institution with ``card_balance_lag_hours`` (Capital One), as Plaid documents:
    asking for any non-depository account needs ``options.min_last_updated_datetime``
    (else INVALID_REQUEST / INVALID_FIELD); those accounts' balances are as of their last
    update, that many hours ago, and one older than the option fails the call with
    LAST_UPDATED_DATETIME_OUT_OF_RANGE.
    """
    item = emu.item_for_token(body.get("access_token"), allow_error=False)
    opts = _options(body)
    now = emu.state.now()
    ids = _account_ids(opts, {a.account_id for a in item.accounts})
    inst = get_institution(item.institution_id)
    lag_hours = inst.card_balance_lag_hours if inst else None
    card_lag = 0.0 if lag_hours is None else lag_hours * 3600.0
    lagging = lag_hours is not None and any(
        a.type != "depository" for a in item.accounts if ids is None or a.account_id in ids
    )
    raw_min = opts.get("min_last_updated_datetime")
    if raw_min is None and lagging:
        raise invalid_field(
            "options.min_last_updated_datetime is required for non-depository accounts at "
            f"{item.institution_id}"
        )
    if raw_min is not None:
        try:
            parsed = dt.datetime.fromisoformat(str(raw_min).replace("Z", "+00:00"))
        except ValueError as exc:
            raise invalid_field(
                "options.min_last_updated_datetime must be an ISO 8601 datetime"
            ) from exc
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        oldest = now - card_lag if lagging else now
        if parsed.timestamp() > oldest + 1:
            raise PlaidAPIError("LAST_UPDATED_DATETIME_OUT_OF_RANGE")
    item.last_refresh = now  # memory only: balance reads never dirty the state file
    return {
        "accounts": emu.accounts_json(item, now, updated=now, account_ids=ids, card_lag=card_lag),
        "item": emu.item_json(item),
    }


def cached_as_of(item: Item, now: float) -> float:
    """When the balances `/accounts/get` returns for ``item`` at ``now`` were true at the
    bank: Plaid's cache is refreshed daily, by a real-time call, and when Plaid finds new
    transactions (the DEFAULT_UPDATE webhook says so)."""
    return max(
        item.created_at,
        item.last_refresh or 0.0,
        item.last_transactions_update or 0.0,
        now - now % 86400,
    )


def accounts_get(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    """Return cached balances: as of the last real-time refresh, Plaid's last transaction
    update (DEFAULT_UPDATE) or the start of today, whichever is latest."""
    item = emu.item_for_token(body.get("access_token"), allow_error=False)
    opts = _options(body)
    now = emu.state.now()
    as_of = cached_as_of(item, now)
    ids = _account_ids(opts, {a.account_id for a in item.accounts})
    return {
        "accounts": emu.accounts_json(item, as_of, updated=None, account_ids=ids),
        "item": emu.item_json(item),
    }


# -- items ---------------------------------------------------------------------
def item_get(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    """Return the Item (including its error state)."""
    item = emu.item_for_token(body.get("access_token"))
    return {"item": emu.item_json(item, consent_fields=True), "status": None}


def item_remove(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    """Remove the Item: its access token stops working (ITEM_NOT_FOUND)."""
    item = emu.item_for_token(body.get("access_token"))
    with emu.state.lock:
        item.removed = True
    emu.state.changed()
    return {}


def item_webhook_update(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    """Change the Item's webhook URL and acknowledge it with a webhook."""
    item = emu.item_for_token(body.get("access_token"))
    webhook = body.get("webhook")
    if webhook is not None and not isinstance(webhook, str):
        raise invalid_field("webhook must be a string")
    with emu.state.lock:
        item.webhook = webhook or None
    emu.state.changed()
    emu.send_webhook(
        item,
        {
            "webhook_type": "ITEM",
            "webhook_code": "WEBHOOK_UPDATE_ACKNOWLEDGED",
            "new_webhook_url": item.webhook,
            "error": None,
        },
    )
    return {"item": emu.item_json(item)}


# -- institutions ----------------------------------------------------------------
def institutions_get_by_id(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    """Return one institution."""
    _require(body, "institution_id", "country_codes")
    countries = _str_list(body["country_codes"], "country_codes")
    inst = emu.institution(body["institution_id"])
    if not set(countries) & set(inst.country_codes):
        raise PlaidAPIError("INVALID_INSTITUTION")
    opts = _options(body)
    return {
        "institution": inst.to_plaid(optional_metadata=bool(opts.get("include_optional_metadata")))
    }


def institutions_search(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    """Return institutions whose name contains ``query``."""
    _require(body, "query", "country_codes")
    countries = _str_list(body["country_codes"], "country_codes")
    products = body.get("products")
    found = search_institutions(
        str(body["query"]), countries, _str_list(products, "products") if products else None
    )
    meta = bool(_options(body).get("include_optional_metadata"))
    return {"institutions": [i.to_plaid(optional_metadata=meta) for i in found[:10]]}


def institutions_get(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    """Return a page of all institutions."""
    _require(body, "country_codes")
    count = body.get("count", 100)
    offset = body.get("offset", 0)
    if not isinstance(count, int) or not isinstance(offset, int) or count < 1 or offset < 0:
        raise invalid_field("count must be >= 1 and offset >= 0")
    found = search_institutions("", _str_list(body["country_codes"], "country_codes"))
    return {
        "institutions": [i.to_plaid() for i in found[offset : offset + count]],
        "total": len(found),
    }


# -- sandbox helpers ---------------------------------------------------------------
def sandbox_item_reset_login(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    """Force ITEM_LOGIN_REQUIRED and send the ITEM / ERROR webhook."""
    item = emu.item_for_token(body.get("access_token"))
    err = PlaidAPIError("ITEM_LOGIN_REQUIRED").to_dict(new_request_id())
    with emu.state.lock:
        item.error = err
    emu.state.changed()
    emu.item_error_webhook(item, "ITEM_LOGIN_REQUIRED")
    return {"reset_login": True}


TRANSACTIONS_CODES = {
    "DEFAULT_UPDATE",
    "INITIAL_UPDATE",
    "HISTORICAL_UPDATE",
    "SYNC_UPDATES_AVAILABLE",
    "RECURRING_TRANSACTIONS_UPDATE",
}
ITEM_CODES = {
    "ERROR",
    "NEW_ACCOUNTS_AVAILABLE",
    "PENDING_EXPIRATION",
    "PENDING_DISCONNECT",
    "USER_PERMISSION_REVOKED",
    "USER_ACCOUNT_REVOKED",
    "LOGIN_REPAIRED",
    "WEBHOOK_UPDATE_ACKNOWLEDGED",
}


def sandbox_item_fire_webhook(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    """Send the asked-for webhook now (NEW_ACCOUNTS_AVAILABLE also offers a new account)."""
    item = emu.item_for_token(body.get("access_token"))
    code = body.get("webhook_code") or "DEFAULT_UPDATE"
    if code not in TRANSACTIONS_CODES and code not in ITEM_CODES:
        raise invalid_field(f"webhook_code {code!r} is not supported")
    wtype = body.get("webhook_type") or ("TRANSACTIONS" if code in TRANSACTIONS_CODES else "ITEM")
    if not item.webhook:
        raise invalid_field("the Item has no webhook URL: set one with /item/webhook/update")
    payload: dict[str, Any] = {"webhook_type": wtype, "webhook_code": code, "error": None}
    now = emu.state.now()
    if code in ("DEFAULT_UPDATE", "SYNC_UPDATES_AVAILABLE"):
        item.last_transactions_update = now  # Plaid found new data: its cache has it
    if code == "DEFAULT_UPDATE":
        payload["new_transactions"] = 0
    elif code == "SYNC_UPDATES_AVAILABLE":
        payload.update(initial_update_complete=True, historical_update_complete=True)
    elif code == "ERROR":
        payload["error"] = PlaidAPIError("ITEM_LOGIN_REQUIRED").to_dict(new_request_id())
    elif code == "PENDING_EXPIRATION":
        payload["consent_expiration_time"] = iso(now + 7 * 86400)
    elif code == "PENDING_DISCONNECT":
        payload["reason"] = "INSTITUTION_TOKEN_EXPIRATION"
    elif code == "USER_PERMISSION_REVOKED":
        payload["error"] = PlaidAPIError("USER_PERMISSION_REVOKED").to_dict(new_request_id())
    elif code == "USER_ACCOUNT_REVOKED":
        payload["account_id"] = item.accounts[0].account_id if item.accounts else None
    elif code == "WEBHOOK_UPDATE_ACKNOWLEDGED":
        payload["new_webhook_url"] = item.webhook
    elif code == "NEW_ACCOUNTS_AVAILABLE":
        with emu.state.lock:
            if not item.new_accounts:
                index = len(item.accounts) + 100
                item.new_accounts = [from_template(item.item_id, index, NEW_ACCOUNT_OFFER)]
        emu.state.changed()
    emu.send_webhook(item, payload)
    return {"webhook_fired": True}


def webhook_verification_key_get(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    """Return the public JWK that verifies webhook signatures."""
    _require(body, "key_id")
    if body["key_id"] != emu.signer.kid:
        raise PlaidAPIError("INVALID_WEBHOOK_VERIFICATION_KEY_ID")
    return {"key": dict(emu.signer.jwk)}


ROUTES: dict[str, Handler] = {
    "/link/token/create": link_token_create,
    "/item/public_token/exchange": public_token_exchange,
    "/accounts/balance/get": accounts_balance_get,
    "/accounts/get": accounts_get,
    "/item/get": item_get,
    "/item/remove": item_remove,
    "/item/webhook/update": item_webhook_update,
    "/institutions/get_by_id": institutions_get_by_id,
    "/institutions/search": institutions_search,
    "/institutions/get": institutions_get,
    "/sandbox/public_token/create": sandbox_public_token_create,
    "/sandbox/item/reset_login": sandbox_item_reset_login,
    "/sandbox/item/fire_webhook": sandbox_item_fire_webhook,
    "/webhook_verification_key/get": webhook_verification_key_get,
}
