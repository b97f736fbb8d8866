"""The only code that talks to Plaid (or the offline emulator) and imports `plaid`.

Contract:
- The SDK client is built lazily from settings, once per process (urllib3 pools are not
  fork-safe, and Celery forks its workers), and rebuilt when the settings change.
- Every call passes `_request_timeout=settings.PLAID_TIMEOUT` (the SDK has no default).
- Replies come back as the frozen dataclasses of `types.py`, never SDK objects; money is
  `Decimal`. Accounts replies (every refresh) are read from the SDK's HTTP response
  (`_preload_content=False`) and parsed by `parse.py`; other replies go through the
  SDK's models.
- Every failure (HTTP error, timeout, refused connection, malformed reply) raises one
  `PlaidError` (`errors.py`) with Plaid's error code, the request id and whether a retry
  can help.
  Access tokens never appear in a PlaidError, a log line or a dataclass repr.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

import plaid
import urllib3
from django.conf import settings
from plaid.api import plaid_api
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

from balances.plaid.errors import (
    CONNECTION_ERROR,
    MALFORMED_RESPONSE,
    NOT_CONFIGURED,
    RETRYABLE_CODES,
    RETRYABLE_TYPES,
    TIMEOUT,
    PlaidError,
)
from balances.plaid.parse import accounts_result
from balances.plaid.types import (
    AccountsResult,
    Institution,
    ItemInfo,
    LinkToken,
    TokenExchange,
    WebhookKey,
)

logger = logging.getLogger(__name__)

ENVIRONMENT_HOSTS = {
    "sandbox": plaid.Environment.Sandbox,
    "production": plaid.Environment.Production,
}

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
        return accounts_result(_body(response))

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
        return accounts_result(_body(response))

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
    redirect_uri: str | None = None,
) -> LinkToken:
    """Create a Link token (`/link/token/create`) for one Link session.

    Normal mode (no `access_token`) asks for settings.PLAID_PRODUCTS. Update mode (with the
    Item's `access_token`) sends no products, as Plaid requires; `account_selection` lets
    the user add accounts Plaid reported as new. `redirect_uri` (registered in Plaid's
    dashboard) is where OAuth banks send the browser back. Country codes, client name and
    language come from settings. The token is valid for 4 hours and one Link session.
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
        if redirect_uri:
            kwargs["redirect_uri"] = redirect_uri
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
    institution_id: str,
    *,
    initial_products: Sequence[str],
    webhook: str | None = None,
    override_username: str | None = None,
    override_password: str | None = None,
) -> str:
    """Create a sandbox public token without Link (sandbox and emulator only).

    `override_username`/`override_password`: a sandbox test user (e.g. `user_custom` with
    a JSON `override_accounts` configuration as the password), as Plaid's sandbox takes.
    """

    def call() -> str:
        kwargs: dict[str, Any] = {
            "institution_id": institution_id,
            "initial_products": [Products(p) for p in initial_products],
        }
        options = {
            key: value
            for key, value in (
                ("webhook", webhook),
                ("override_username", override_username),
                ("override_password", override_password),
            )
            if value
        }
        if options:
            kwargs["options"] = SandboxPublicTokenCreateRequestOptions(**options)
        reply = get_api().sandbox_public_token_create(
            SandboxPublicTokenCreateRequest(**kwargs), _request_timeout=_timeout()
        )
        return str(reply.public_token)

    return _call("/sandbox/public_token/create", call)


def webhook_verification_key_get(key_id: str) -> WebhookKey:
    """Fetch the public key with id `key_id` (the `kid` of a Plaid-Verification JWT).

    Given PLAID_WEBHOOK_KEY_TIMEOUT seconds to connect and to read (not PLAID_TIMEOUT): a
    web worker waits for it while a webhook's sender waits for our answer.
    """
    limit = float(settings.PLAID_WEBHOOK_KEY_TIMEOUT)
    connect, read = _timeout()
    timeout = (min(connect, limit), min(read, limit))

    def call() -> WebhookKey:
        reply = (
            get_api()
            .webhook_verification_key_get(
                WebhookVerificationKeyGetRequest(key_id=key_id), _request_timeout=timeout
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
