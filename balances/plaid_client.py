"""The only code that talks to Plaid (or the offline emulator) and imports `plaid`.

Contract:
- The SDK client is built lazily from settings, once per process (urllib3 pools are not
  fork-safe, and Celery forks its workers), and rebuilt when the settings change.
- Every call passes `_request_timeout=settings.PLAID_TIMEOUT` (the SDK has no default).
- Replies come back as this module's frozen dataclasses, never SDK objects; money is
  `Decimal`. Accounts replies (every refresh) are read from the SDK's HTTP response
  (`_preload_content=False`) and parsed here, strictly, with JSON numbers read straight
  into Decimal (every digit Plaid sent); other replies go through the SDK's models.
- Every failure (HTTP error, timeout, refused connection, malformed reply) raises one
  `PlaidError` carrying Plaid's error code, the request id and whether a retry can help.
  Access tokens never appear in a PlaidError, a log line or a dataclass repr.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import plaid
import urllib3
from django.conf import settings
from plaid.api import plaid_api
from plaid.model.account_type import AccountType
from plaid.model.accounts_balance_get_request import AccountsBalanceGetRequest
from plaid.model.accounts_balance_get_request_options import AccountsBalanceGetRequestOptions
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.country_code import CountryCode
from plaid.model.institutions_get_by_id_request import InstitutionsGetByIdRequest
from plaid.model.item_get_request import ItemGetRequest
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.item_remove_request import ItemRemoveRequest
from plaid.model.link_token_create_request import LinkTokenCreateRequest
from plaid.model.link_token_create_request_update import LinkTokenCreateRequestUpdate
from plaid.model.link_token_create_request_user import LinkTokenCreateRequestUser
from plaid.model.products import Products
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from plaid.model.sandbox_public_token_create_request_options import (
    SandboxPublicTokenCreateRequestOptions,
)
from plaid.model.webhook_verification_key_get_request import WebhookVerificationKeyGetRequest

logger = logging.getLogger(__name__)

ENVIRONMENT_HOSTS = {
    "sandbox": plaid.Environment.Sandbox,
    "production": plaid.Environment.Production,
}

# Error codes worth retrying later (with backoff). Everything with HTTP status >= 500,
# 429, a timeout or a refused connection is retryable too.
RETRYABLE_CODES = frozenset(
    {
        "INSTITUTION_DOWN",
        "INSTITUTION_NOT_RESPONDING",
        "INSTITUTION_NOT_AVAILABLE",
        "INTERNAL_SERVER_ERROR",
        "PLANNED_MAINTENANCE",
        "RATE_LIMIT_EXCEEDED",
        "BALANCE_LIMIT",
        "ACCOUNTS_BALANCE_GET_LIMIT",
        "ACCOUNTS_LIMIT",
        "ITEM_GET_LIMIT",
        "PRODUCT_NOT_READY",
    }
)
RETRYABLE_TYPES = frozenset({"RATE_LIMIT_EXCEEDED", "API_ERROR"})

# Codes this module raises itself, for failures that never reached a Plaid error object.
TIMEOUT = "TIMEOUT"
CONNECTION_ERROR = "CONNECTION_ERROR"
MALFORMED_RESPONSE = "MALFORMED_RESPONSE"
NOT_CONFIGURED = "NOT_CONFIGURED"


class PlaidError(Exception):
    """A Plaid call failed. `retryable` says whether the same call may succeed later."""

    def __init__(
        self,
        *,
        code: str,
        message: str,
        error_type: str = "",
        request_id: str = "",
        http_status: int | None = None,
        display_message: str = "",
        retryable: bool = False,
        endpoint: str = "",
        duration_ms: int | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        # Set by `_call`: which endpoint failed and how long the attempt took.
        self.endpoint = endpoint
        self.duration_ms = duration_ms
        self.code = code
        self.message = message
        self.error_type = error_type
        self.request_id = request_id
        self.http_status = http_status
        self.display_message = display_message
        self.retryable = retryable

    def __repr__(self) -> str:
        return (
            f"PlaidError(code={self.code!r}, type={self.error_type!r}, "
            f"status={self.http_status!r}, request_id={self.request_id!r}, "
            f"retryable={self.retryable!r})"
        )


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


# --- The SDK client, one per process ----------------------------------------------------

_client: tuple[tuple[Any, ...], plaid_api.PlaidApi] | None = None


def _settings_key() -> tuple[Any, ...]:
    return (
        os.getpid(),
        settings.PLAID_ENV,
        settings.PLAID_HOST,
        settings.PLAID_CLIENT_ID,
        settings.PLAID_SECRET,
    )


def get_api() -> plaid_api.PlaidApi:
    """Return this process's SDK client, building it on first use."""
    global _client
    key = _settings_key()
    if _client is not None and _client[0] == key:
        return _client[1]
    if not settings.PLAID_CLIENT_ID or not settings.PLAID_SECRET:
        raise PlaidError(
            code=NOT_CONFIGURED,
            message="PLAID_CLIENT_ID and PLAID_SECRET are not set.",
            error_type="CONFIGURATION",
        )
    host = settings.PLAID_HOST or ENVIRONMENT_HOSTS[settings.PLAID_ENV]
    configuration = plaid.Configuration(
        host=host,
        api_key={"clientId": settings.PLAID_CLIENT_ID, "secret": settings.PLAID_SECRET},
    )
    # One pooled keep-alive connection per worker thread (the SDK's default is 5 per CPU).
    configuration.connection_pool_maxsize = settings.PLAID_CONNECTION_POOL_SIZE
    api = plaid_api.PlaidApi(plaid.ApiClient(configuration))
    _client = (key, api)
    return api


# --- Error translation --------------------------------------------------------------------

T = TypeVar("T")


def _from_api_exception(exc: plaid.ApiException) -> PlaidError:
    status = exc.status
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        body = None
    if not isinstance(body, dict):
        return PlaidError(
            code=f"HTTP_{status}",
            message=f"Plaid answered HTTP {status} without an error object.",
            http_status=status,
            retryable=status is None or status >= 500 or status == 429,
        )
    code = str(body.get("error_code") or f"HTTP_{status}")
    error_type = str(body.get("error_type") or "")
    return PlaidError(
        code=code,
        message=str(body.get("error_message") or ""),
        error_type=error_type,
        request_id=str(body.get("request_id") or ""),
        http_status=status,
        display_message=str(body.get("display_message") or ""),
        retryable=(
            code in RETRYABLE_CODES
            or error_type in RETRYABLE_TYPES
            or (status is not None and (status >= 500 or status == 429))
        ),
    )


def _call(endpoint: str, func: Callable[[], T]) -> T:
    """Run one SDK call and translate every way it can fail into PlaidError.

    The PlaidError carries `endpoint` and `duration_ms` for the caller's call log.
    """
    started = time.monotonic()
    try:
        return func()
    except plaid.ApiException as exc:
        error = _from_api_exception(exc)
    except (urllib3.exceptions.TimeoutError, TimeoutError) as exc:
        error = PlaidError(code=TIMEOUT, message=f"{endpoint} timed out: {exc}", retryable=True)
    except urllib3.exceptions.MaxRetryError as exc:
        # NewConnectionError subclasses ConnectTimeoutError: test for it first.
        is_timeout = not isinstance(
            exc.reason, urllib3.exceptions.NewConnectionError
        ) and isinstance(exc.reason, urllib3.exceptions.TimeoutError)
        error = PlaidError(
            code=TIMEOUT if is_timeout else CONNECTION_ERROR,
            message=f"{endpoint}: cannot reach Plaid ({exc.reason}).",
            retryable=True,
        )
    except (urllib3.exceptions.HTTPError, ConnectionError) as exc:
        error = PlaidError(
            code=CONNECTION_ERROR, message=f"{endpoint}: connection failed ({exc}).", retryable=True
        )
    except (plaid.OpenApiException, TypeError, ValueError, KeyError, AttributeError) as exc:
        # The SDK raises bare TypeError for a missing key, ApiTypeError/ApiValueError for
        # a wrong type, ValueError for a body that is not JSON (a truncated reply).
        error = PlaidError(
            code=MALFORMED_RESPONSE,
            message=f"{endpoint}: unexpected reply ({type(exc).__name__}: {exc}).",
            retryable=True,
        )
    error.endpoint = endpoint
    error.duration_ms = _elapsed_ms(started)
    logger.warning(
        "Plaid %s failed: %r",
        endpoint,
        error,
        extra={"plaid_request_id": error.request_id, "plaid_error_code": error.code},
    )
    raise error


def _elapsed_ms(started: float) -> int:
    return max(0, round((time.monotonic() - started) * 1000))


def _reject_constant(name: str) -> Decimal:
    raise ValueError(f"{name} is not a number")


def _json(data: bytes) -> Any:
    """Parse a reply body; JSON numbers become Decimal with the digits Plaid sent."""
    return json.loads(data, parse_float=Decimal, parse_int=Decimal, parse_constant=_reject_constant)


def _field(obj: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    """Return `obj[key]`, which must be present and of `kind` (raise KeyError, TypeError)."""
    value = obj[key]
    if not isinstance(value, kind):
        raise TypeError(f"{key}: {type(value).__name__} where {kind} was expected")
    return value


_STR = (str,)
_STR_OR_NONE = (str, type(None))
_MONEY = (Decimal, type(None))
# Keys the reply must carry (the OpenAPI spec's `required`, as plaid-python enforces it).
_ITEM_KEYS = (
    "item_id",
    "webhook",
    "error",
    "available_products",
    "billed_products",
    "consent_expiration_time",
    "update_type",
)
ACCOUNT_TYPES = frozenset(AccountType.allowed_values[("value",)].values())


def _datetime(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return parsed


def _account(a: dict[str, Any]) -> Account:
    b = _field(a, "balances", dict)
    account_type = _field(a, "type", _STR)
    if account_type not in ACCOUNT_TYPES:
        raise ValueError(f"unknown account type {account_type!r}")
    return Account(
        account_id=_field(a, "account_id", _STR),
        name=_field(a, "name", _STR),
        official_name=_field(a, "official_name", _STR_OR_NONE),
        mask=_field(a, "mask", _STR_OR_NONE),
        type=account_type,
        subtype=_field(a, "subtype", _STR_OR_NONE),
        balances=Balances(
            available=_field(b, "available", _MONEY),
            current=_field(b, "current", _MONEY),
            limit=_field(b, "limit", _MONEY),
            iso_currency_code=_field(b, "iso_currency_code", _STR_OR_NONE),
            unofficial_currency_code=_field(b, "unofficial_currency_code", _STR_OR_NONE),
            last_updated_at=_datetime(b.get("last_updated_datetime")),
        ),
    )


def _accounts_result(body: bytes) -> AccountsResult:
    """Parse an accounts reply strictly (every required key, every type) into dataclasses.

    The SDK's own models would parse it too, then `to_dict()` would copy it again: that
    cost 2 ms of CPU per call, more than the rest of the call (profile in
    docs/BENCHMARKS.md), so the body is read as JSON here, as strictly as the SDK would.
    Raises KeyError, TypeError or ValueError, which `_call` reports as MALFORMED_RESPONSE.
    """
    reply = _json(body)
    if not isinstance(reply, dict):
        raise TypeError(f"the reply is a JSON {type(reply).__name__}, not an object")
    item = _field(reply, "item", dict)
    missing = [key for key in _ITEM_KEYS if key not in item]
    if missing:
        raise KeyError(", ".join(missing))
    return AccountsResult(
        item_id=_field(item, "item_id", _STR),
        institution_id=_field(item, "institution_id", _STR_OR_NONE)
        if "institution_id" in item
        else None,
        request_id=_field(reply, "request_id", _STR),
        accounts=tuple(_account(a) for a in _field(reply, "accounts", list)),
    )


def _body(response: urllib3.BaseHTTPResponse) -> bytes:
    """Read a reply the SDK left unparsed (`_preload_content=False`); free its connection."""
    try:
        return response.data
    finally:
        response.release_conn()


def _timeout() -> tuple[float, float]:
    connect, read = settings.PLAID_TIMEOUT
    return (float(connect), float(read))


# --- Endpoints ---------------------------------------------------------------------------


def accounts_balance_get(
    access_token: str,
    *,
    account_ids: Sequence[str] | None = None,
    min_last_updated_datetime: datetime | None = None,
) -> AccountsResult:
    """Fetch real-time balances (`/accounts/balance/get`). Billed per call in production."""
    options: dict[str, Any] = {}
    if account_ids:
        options["account_ids"] = list(account_ids)
    if min_last_updated_datetime is not None:
        options["min_last_updated_datetime"] = min_last_updated_datetime

    def call() -> AccountsResult:
        request = AccountsBalanceGetRequest(access_token=access_token)
        if options:
            request.options = AccountsBalanceGetRequestOptions(**options)
        response = get_api().accounts_balance_get(
            request, _request_timeout=_timeout(), _preload_content=False
        )
        return _accounts_result(_body(response))

    started = time.monotonic()
    result = _call("/accounts/balance/get", call)
    return replace(result, duration_ms=_elapsed_ms(started))


def accounts_get(access_token: str) -> AccountsResult:
    """Fetch accounts with cached balances (`/accounts/get`; no per-call fee)."""

    def call() -> AccountsResult:
        request = AccountsGetRequest(access_token=access_token)
        response = get_api().accounts_get(
            request, _request_timeout=_timeout(), _preload_content=False
        )
        return _accounts_result(_body(response))

    started = time.monotonic()
    result = _call("/accounts/get", call)
    return replace(result, duration_ms=_elapsed_ms(started))


def item_public_token_exchange(public_token: str) -> TokenExchange:
    """Exchange a Link `public_token` for an access token and item id."""

    def call() -> TokenExchange:
        request = ItemPublicTokenExchangeRequest(public_token=public_token)
        reply = get_api().item_public_token_exchange(request, _request_timeout=_timeout())
        return TokenExchange(
            access_token=reply.access_token, item_id=reply.item_id, request_id=reply.request_id
        )

    return _call("/item/public_token/exchange", call)


def item_get(access_token: str) -> ItemInfo:
    """Fetch an Item's institution, webhook, error and consent expiration."""

    def call() -> ItemInfo:
        reply = (
            get_api()
            .item_get(ItemGetRequest(access_token=access_token), _request_timeout=_timeout())
            .to_dict()
        )
        item = reply["item"]
        return ItemInfo(
            item_id=item["item_id"],
            institution_id=item.get("institution_id"),
            webhook=item.get("webhook"),
            error_code=(item.get("error") or {}).get("error_code"),
            consent_expiration_time=item.get("consent_expiration_time"),
            request_id=reply["request_id"],
        )

    return _call("/item/get", call)


def item_remove(access_token: str) -> str:
    """Remove an Item at Plaid (ends billing and access). Return the request id."""

    def call() -> str:
        reply = get_api().item_remove(
            ItemRemoveRequest(access_token=access_token), _request_timeout=_timeout()
        )
        return str(reply.request_id)

    return _call("/item/remove", call)


def institutions_get_by_id(institution_id: str) -> Institution:
    """Fetch an institution's name."""

    def call() -> Institution:
        request = InstitutionsGetByIdRequest(
            institution_id=institution_id,
            country_codes=[CountryCode(code) for code in settings.PLAID_COUNTRY_CODES],
        )
        reply = get_api().institutions_get_by_id(request, _request_timeout=_timeout())
        return Institution(
            institution_id=reply.institution.institution_id, name=reply.institution.name
        )

    return _call("/institutions/get_by_id", call)


def link_token_create(
    *,
    client_user_id: str,
    access_token: str | None = None,
    account_selection: bool = False,
    webhook: str | None = None,
) -> LinkToken:
    """Create a Link token (`/link/token/create`) for one Link session.

    Normal mode (no `access_token`) asks for settings.PLAID_PRODUCTS. Update mode (with the
    Item's `access_token`) sends no products, as Plaid requires; `account_selection` lets
    the user add accounts Plaid reported as new. Country codes, client name and language
    come from settings. The token is valid for 4 hours and one Link session.
    """

    def call() -> LinkToken:
        kwargs: dict[str, Any] = {
            "client_name": settings.PLAID_CLIENT_NAME,
            "language": settings.PLAID_LINK_LANGUAGE,
            "country_codes": [CountryCode(code) for code in settings.PLAID_COUNTRY_CODES],
            "user": LinkTokenCreateRequestUser(client_user_id=client_user_id),
        }
        if access_token:
            kwargs["access_token"] = access_token
            if account_selection:
                kwargs["update"] = LinkTokenCreateRequestUpdate(account_selection_enabled=True)
        else:
            kwargs["products"] = [Products(p) for p in settings.PLAID_PRODUCTS]
        if webhook:
            kwargs["webhook"] = webhook
        reply = get_api().link_token_create(
            LinkTokenCreateRequest(**kwargs), _request_timeout=_timeout()
        )
        return LinkToken(
            link_token=str(reply.link_token),
            expiration=reply.expiration,
            request_id=str(reply.request_id),
        )

    return _call("/link/token/create", call)


def sandbox_public_token_create(
    institution_id: str, *, initial_products: Sequence[str], webhook: str | None = None
) -> str:
    """Create a sandbox public token without Link (sandbox and emulator only)."""

    def call() -> str:
        kwargs: dict[str, Any] = {
            "institution_id": institution_id,
            "initial_products": [Products(p) for p in initial_products],
        }
        if webhook:
            kwargs["options"] = SandboxPublicTokenCreateRequestOptions(webhook=webhook)
        reply = get_api().sandbox_public_token_create(
            SandboxPublicTokenCreateRequest(**kwargs), _request_timeout=_timeout()
        )
        return str(reply.public_token)

    return _call("/sandbox/public_token/create", call)


@dataclass(frozen=True, slots=True)
class WebhookKey:
    """A public JWK that verifies webhook signatures (`/webhook_verification_key/get`)."""

    kid: str
    jwk: dict[str, Any]
    created_at: int | None
    expired_at: int | None


def webhook_verification_key_get(key_id: str) -> WebhookKey:
    """Fetch the public key with id `key_id` (the `kid` of a Plaid-Verification JWT)."""

    def call() -> WebhookKey:
        reply = (
            get_api()
            .webhook_verification_key_get(
                WebhookVerificationKeyGetRequest(key_id=key_id), _request_timeout=_timeout()
            )
            .to_dict()
        )
        key = reply["key"]
        jwk = {k: key[k] for k in ("kty", "crv", "x", "y") if k in key}
        jwk.update(alg=str(key.get("alg") or ""), kid=str(key["kid"]))
        return WebhookKey(
            kid=str(key["kid"]),
            jwk=jwk,
            created_at=key.get("created_at"),
            expired_at=key.get("expired_at"),
        )

    return _call("/webhook_verification_key/get", call)
