"""Shared fixtures: factories, a fake Plaid at our client module, real-service guards."""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from balances.plaid import parse
from balances.plaid import types as plaid_types
from balances.plaid.errors import PlaidError
from balances.plaid.types import AccountsResult, TokenExchange, WebhookKey
from tests.services import require_service, tcp_open  # noqa: F401 (re-exported)

DATA = Path(__file__).parent / "data"


def example_reply() -> dict[str, Any]:
    """Return Plaid's Retrieve Balance sample reply, completed as today's API sends it."""
    reply = json.loads((DATA / "retrieve-balance-example.json").read_text())["response"]
    reply["item"].setdefault("update_type", "background")
    reply["item"].setdefault("consent_expiration_time", None)
    return reply


class FakePlaid:
    """Stands in for balances.plaid.client's endpoint functions in unit tests."""

    def __init__(self) -> None:
        self.replies: dict[str, dict[str, Any]] = {}
        self.errors: list[PlaidError] = []
        self.calls: list[tuple[str, str]] = []
        self.public_tokens: dict[str, tuple[str, str]] = {}
        self.used_public_tokens: set[str] = set()
        self.link_token_requests: list[dict[str, Any]] = []
        self.removed: list[str] = []
        # The keyword arguments of each /accounts/balance/get call (its options), in order.
        self.balance_options: list[dict[str, Any]] = []

    def add_item(self, access_token: str, reply: dict[str, Any] | None = None) -> dict[str, Any]:
        self.replies[access_token] = copy.deepcopy(reply or example_reply())
        return self.replies[access_token]

    def fail_next(self, code: str, *, retryable: bool = False, status: int = 400) -> None:
        self.errors.append(
            PlaidError(
                code=code,
                message=f"{code} (fake)",
                http_status=status,
                request_id="fake-req",
                retryable=retryable,
            )
        )

    def _maybe_fail(self) -> None:
        if self.errors:
            raise self.errors.pop(0)

    def accounts_balance_get(self, access_token: str, **kwargs: Any) -> AccountsResult:
        self.calls.append(("/accounts/balance/get", access_token))
        self.balance_options.append(kwargs)
        self._maybe_fail()
        return parse.accounts_result(json.dumps(self.replies[access_token]).encode())

    def accounts_get(self, access_token: str) -> AccountsResult:
        self.calls.append(("/accounts/get", access_token))
        self._maybe_fail()
        return parse.accounts_result(json.dumps(self.replies[access_token]).encode())

    def item_public_token_exchange(self, public_token: str) -> TokenExchange:
        self.calls.append(("/item/public_token/exchange", public_token))
        self._maybe_fail()
        if public_token not in self.public_tokens or public_token in self.used_public_tokens:
            raise PlaidError(code="INVALID_PUBLIC_TOKEN", message="fake", http_status=400)
        self.used_public_tokens.add(public_token)
        access_token, item_id = self.public_tokens[public_token]
        return TokenExchange(access_token=access_token, item_id=item_id, request_id="fake-req")

    def item_get(self, access_token: str) -> plaid_types.ItemInfo:
        self.calls.append(("/item/get", access_token))
        reply = self.replies[access_token]
        return plaid_types.ItemInfo(
            item_id=reply["item"]["item_id"],
            institution_id=reply["item"]["institution_id"],
            webhook=None,
            error_code=None,
            consent_expiration_time=None,
            request_id="fake-req",
        )

    def institutions_get_by_id(self, institution_id: str) -> plaid_types.Institution:
        self.calls.append(("/institutions/get_by_id", institution_id))
        return plaid_types.Institution(institution_id=institution_id, name="Chase")

    def link_token_create(self, **kwargs: Any) -> plaid_types.LinkToken:
        self.calls.append(("/link/token/create", kwargs.get("access_token") or ""))
        self._maybe_fail()
        self.link_token_requests.append(kwargs)
        n = len(self.link_token_requests)
        return plaid_types.LinkToken(
            link_token=f"link-sandbox-fake-{n}", expiration=None, request_id="fake-req"
        )

    def item_remove(self, access_token: str) -> str:
        self.calls.append(("/item/remove", access_token))
        self._maybe_fail()
        self.removed.append(access_token)
        return "fake-req"

    def sandbox_public_token_create(self, institution_id: str, **kwargs: Any) -> str:
        self.calls.append(("/sandbox/public_token/create", institution_id))
        self._maybe_fail()
        n = len(self.public_tokens)
        public_token, access_token = f"public-fake-{n}", f"access-fake-{n}-secret"
        reply = self.add_item(access_token)
        reply["item"]["item_id"] = f"fake-item-{n}"
        self.public_tokens[public_token] = (access_token, f"fake-item-{n}")
        return public_token


@pytest.fixture
def fake_plaid(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePlaid]:
    from balances.plaid import client as plaid_client

    fake = FakePlaid()
    for name in (
        "accounts_balance_get",
        "item_public_token_exchange",
        "item_get",
        "institutions_get_by_id",
        "sandbox_public_token_create",
        "link_token_create",
        "item_remove",
        "accounts_get",
    ):
        monkeypatch.setattr(plaid_client, name, getattr(fake, name))
    return fake


@pytest.fixture
def item(fake_plaid: FakePlaid) -> Any:
    """An Item whose access token Plaid (the fake) answers with the example's accounts."""
    from tests.factories import PlaidItemFactory

    item = PlaidItemFactory()
    fake_plaid.add_item(item.access_token)
    return item


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, dict[str, Any]]]:
    """Capture single-Item refresh tasks instead of publishing them: (item id, options)."""
    from balances import tasks

    calls: list[tuple[int, dict[str, Any]]] = []
    monkeypatch.setattr(
        tasks.refresh_item_balances, "delay", lambda pk, **kw: calls.append((pk, kw))
    )
    return calls


@pytest.fixture
def refreshed_user(fake_plaid: FakePlaid) -> Any:
    """A user with Plaid's five example accounts ($44,110.00), refreshed once."""
    from balances.services import store
    from tests.factories import PlaidItemFactory, UserFactory

    user = UserFactory()
    item = PlaidItemFactory(owner=user)
    fake_plaid.add_item(item.access_token)
    store.item_refresh_balances(item=item)
    return user


class QueuedRefreshes:
    """Refresh tasks published (not sent): each task's Item id (as a one-item list) and
    options."""

    def __init__(self) -> None:
        self.tasks: list[tuple[list[int], dict[str, Any]]] = []

    @property
    def item_ids(self) -> list[int]:
        return [pk for ids, _ in self.tasks for pk in ids]


@pytest.fixture
def queued_refreshes(monkeypatch: pytest.MonkeyPatch) -> QueuedRefreshes:
    """Capture refresh tasks instead of publishing them (one task per Item)."""
    from balances import tasks

    queued = QueuedRefreshes()
    monkeypatch.setattr(
        tasks.refresh_item_balances, "delay", lambda pk, **kw: queued.tasks.append(([pk], kw))
    )
    return queued


class WebhookKeys:
    """Plaid's side of webhook verification: signing keys by kid, and the key fetches."""

    def __init__(self) -> None:
        self.private: dict[str, Any] = {}
        self.fetches: list[str] = []

    def new(self, kid: str) -> str:
        from cryptography.hazmat.primitives.asymmetric import ec

        self.private[kid] = ec.generate_private_key(ec.SECP256R1())
        return kid

    def get(self, key_id: str) -> WebhookKey:
        """Stands in for `balances.plaid.client.webhook_verification_key_get`."""
        from jwt.algorithms import ECAlgorithm

        self.fetches.append(key_id)
        if key_id not in self.private:
            raise PlaidError(
                code="INVALID_WEBHOOK_VERIFICATION_KEY_ID", message="no such key", http_status=400
            )
        jwk = json.loads(ECAlgorithm.to_jwk(self.private[key_id].public_key()))
        return WebhookKey(kid=key_id, jwk={**jwk, "kid": key_id}, created_at=0, expired_at=None)

    def sign(
        self,
        body: bytes,
        *,
        kid: str = "k1",
        iat: int | None = None,
        alg: str = "ES256",
        digest: str | None = None,
        key: Any = None,
    ) -> str:
        """Return a `Plaid-Verification` header for `body`, as Plaid signs it."""
        import jwt

        claims = {
            "iat": int(time.time()) if iat is None else iat,
            "request_body_sha256": digest or hashlib.sha256(body).hexdigest(),
        }
        return jwt.encode(claims, key or self.private[kid], algorithm=alg, headers={"kid": kid})


@pytest.fixture
def webhook_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookKeys]:
    """Plaid's webhook signing keys (one, "k1"); our key cache starts and ends empty."""
    from balances.plaid import client as plaid_client
    from balances.plaid import webhook_verification

    webhook_verification._keys.clear()
    keys = WebhookKeys()
    keys.new("k1")
    monkeypatch.setattr(plaid_client, "webhook_verification_key_get", keys.get)
    yield keys
    webhook_verification._keys.clear()


def webhook_body(
    item_id: str, wtype: str = "ITEM", code: str = "NEW_ACCOUNTS_AVAILABLE", **extra: Any
) -> bytes:
    """Return the raw body of a Plaid webhook for `item_id` (Plaid's `item_id`)."""
    payload: dict[str, Any] = {
        "webhook_type": wtype,
        "webhook_code": code,
        "item_id": item_id,
        "error": None,
    }
    payload.update(extra, environment="sandbox")
    return json.dumps(payload).encode()


@pytest.fixture(autouse=True)
def isolated_throttle(settings: Any, tmp_path: Path) -> None:
    """Give each test its own throttle state (a file; end-to-end tests switch to Redis)."""
    settings.THROTTLE_REDIS_URL = ""
    settings.THROTTLE_FILE_PATH = tmp_path / "throttle-state.json"


@pytest.fixture
def stub_plaid(settings: Any) -> Iterator[Any]:
    """A local HTTP server posing as Plaid; settings point the real SDK at it."""
    from tests.stub_plaid import StubPlaid

    stub = StubPlaid().start()
    settings.PLAID_HOST = stub.url
    settings.PLAID_CLIENT_ID = "stub-client"
    settings.PLAID_SECRET = "stub-secret"
    settings.PLAID_TIMEOUT = (2.0, 2.0)
    yield stub
    stub.stop()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Let the test database be dropped at the end even if a process a test started
    (a worker, gunicorn) still holds a connection to it on PostgreSQL."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


class DatabaseFault:
    """The database unreachable for this test's connection (a Django execute wrapper, no
    patching): every statement fails from `start()` until `clear()`, the first as a lost
    connection does (OperationalError), the next as psycopg's on a broken one
    (InterfaceError). `start(when=...)` starts at the first statement `when(sql)` is true
    of. Savepoint statements pass, so the test's own transaction stays usable."""

    def __init__(self) -> None:
        self.down = False
        self.when: Any = None
        self.failed = 0

    def start(self, when: Any = None) -> None:
        if when is None:
            self.down = True
        else:
            self.when = when

    def clear(self) -> None:
        self.down, self.when, self.failed = False, None, 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        from django.db import InterfaceError, OperationalError

        if not self.down and self.when is not None and self.when(sql):
            self.down = True
        statement = sql.lstrip().upper()
        if self.down and not statement.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO")):
            self.failed += 1
            if self.failed == 1:
                raise OperationalError("server closed the connection unexpectedly")
            raise InterfaceError("connection already closed")
        return execute(sql, params, many, context)


@pytest.fixture
def database_fault() -> Iterator[DatabaseFault]:
    """A `DatabaseFault` on the default connection, not started."""
    from django.db import connection

    fault = DatabaseFault()
    with connection.execute_wrapper(fault):
        yield fault
