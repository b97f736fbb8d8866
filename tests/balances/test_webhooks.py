"""`POST /plaid/webhook/`: verification exactly as Plaid documents it, then the Item's update."""

import hashlib
import json
import time
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.urls import reverse
from django.utils import timezone
from jwt.algorithms import ECAlgorithm

from balances.models import PlaidItem
from balances.plaid import client as plaid_client
from balances.plaid import webhook_verification
from balances.plaid.errors import PlaidError
from balances.plaid.types import WebhookKey
from tests.factories import AccountFactory, PlaidItemFactory

pytestmark = pytest.mark.django_db

URL = "/plaid/webhook/"


class Keys:
    """Plaid's side: signing keys by kid, and the count of key fetches."""

    def __init__(self):
        self.private = {}
        self.fetches = []

    def new(self, kid):
        self.private[kid] = ec.generate_private_key(ec.SECP256R1())
        return kid

    def get(self, key_id):
        self.fetches.append(key_id)
        if key_id not in self.private:
            raise PlaidError(
                code="INVALID_WEBHOOK_VERIFICATION_KEY_ID", message="no such key", http_status=400
            )
        jwk = json.loads(ECAlgorithm.to_jwk(self.private[key_id].public_key()))
        return WebhookKey(kid=key_id, jwk={**jwk, "kid": key_id}, created_at=0, expired_at=None)

    def sign(self, body, *, kid="k1", iat=None, alg="ES256", digest=None, key=None):
        claims = {
            "iat": int(time.time()) if iat is None else iat,
            "request_body_sha256": digest or hashlib.sha256(body).hexdigest(),
        }
        return jwt.encode(claims, key or self.private[kid], algorithm=alg, headers={"kid": kid})


@pytest.fixture
def keys(monkeypatch):
    webhook_verification._keys.clear()
    keys = Keys()
    keys.new("k1")
    monkeypatch.setattr(plaid_client, "webhook_verification_key_get", keys.get)
    yield keys
    webhook_verification._keys.clear()


def body_for(item_id, wtype="ITEM", code="NEW_ACCOUNTS_AVAILABLE", **extra):
    payload = {"webhook_type": wtype, "webhook_code": code, "item_id": item_id, "error": None}
    payload.update(extra, environment="sandbox")
    return json.dumps(payload).encode()


def post(client, body, token):
    headers = {} if token is None else {"HTTP_PLAID_VERIFICATION": token}
    return client.post(URL, data=body, content_type="application/json", **headers)


@pytest.fixture
def item():
    return PlaidItemFactory(plaid_item_id="item-abc")


def unchanged(item):
    fresh = PlaidItem.objects.get(pk=item.pk)
    return (fresh.status, fresh.new_accounts_available, fresh.updated_at) == (
        item.status,
        item.new_accounts_available,
        item.updated_at,
    )


def test_url_is_the_public_one():
    assert reverse("plaid_webhook") == URL


def test_good_webhook_is_accepted_and_applied(client, keys, item):
    body = body_for(item.plaid_item_id)
    response = post(client, body, keys.sign(body))
    assert response.status_code == 200
    assert response.json()["handled"] is True
    item.refresh_from_db()
    assert item.new_accounts_available is True


def test_csrf_is_not_required(keys, item):
    from django.test import Client

    body = body_for(item.plaid_item_id)
    assert post(Client(enforce_csrf_checks=True), body, keys.sign(body)).status_code == 200


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("missing header", 400),
        ("garbage header", 400),
        ("bad signature", 401),
        ("wrong alg HS256", 401),
        ("alg none", 401),
        ("stale iat", 401),
        ("iat in the future", 401),
        ("tampered body", 401),
        ("unknown kid", 401),
        ("no digest claim", 401),
    ],
)
def test_unverified_webhooks_are_refused_and_change_nothing(client, keys, item, case, status):
    body = body_for(item.plaid_item_id)
    token = keys.sign(body)
    if case == "missing header":
        token = None
    elif case == "garbage header":
        token = "not-a-jwt"
    elif case == "bad signature":
        token = keys.sign(body, key=ec.generate_private_key(ec.SECP256R1()))
    elif case == "wrong alg HS256":
        # The classic confusion attack: an HMAC "signed" with public material.
        token = jwt.encode(
            {"iat": int(time.time()), "request_body_sha256": hashlib.sha256(body).hexdigest()},
            "k" * 32,
            algorithm="HS256",
            headers={"kid": "k1"},
        )
    elif case == "alg none":
        token = jwt.encode(
            {"iat": int(time.time()), "request_body_sha256": hashlib.sha256(body).hexdigest()},
            None,
            algorithm="none",
            headers={"kid": "k1"},
        )
    elif case == "stale iat":
        token = keys.sign(body, iat=int(time.time()) - 5 * 60 - 5)
    elif case == "iat in the future":
        token = keys.sign(body, iat=int(time.time()) + 600)
    elif case == "tampered body":
        body = body_for(item.plaid_item_id, code="USER_PERMISSION_REVOKED")
    elif case == "unknown kid":
        other = ec.generate_private_key(ec.SECP256R1())
        token = keys.sign(body, kid="k-unknown", key=other)
    elif case == "no digest claim":
        token = jwt.encode(
            {"iat": int(time.time())}, keys.private["k1"], algorithm="ES256", headers={"kid": "k1"}
        )
    response = post(client, body, token)
    assert response.status_code == status
    assert unchanged(item)


def test_key_is_cached_by_kid_and_refetched_for_a_new_kid(client, keys, item):
    for _ in range(3):
        body = body_for(item.plaid_item_id)
        assert post(client, body, keys.sign(body)).status_code == 200
    assert keys.fetches == ["k1"]
    keys.new("k2")  # Plaid rotated its key
    body = body_for(item.plaid_item_id)
    assert post(client, body, keys.sign(body, kid="k2")).status_code == 200
    assert keys.fetches == ["k1", "k2"]


def test_expired_key_is_refused(client, keys, item, monkeypatch):
    good = keys.get

    def expired(key_id):
        key = good(key_id)
        return WebhookKey(kid=key.kid, jwk=key.jwk, created_at=0, expired_at=int(time.time()) - 1)

    monkeypatch.setattr(plaid_client, "webhook_verification_key_get", expired)
    body = body_for(item.plaid_item_id)
    assert post(client, body, keys.sign(body)).status_code == 401
    assert unchanged(item)


def test_plaid_unreachable_for_the_key_answers_503_so_plaid_retries(
    client, keys, item, monkeypatch
):
    def down(key_id):
        raise PlaidError(code="CONNECTION_ERROR", message="down", retryable=True)

    monkeypatch.setattr(plaid_client, "webhook_verification_key_get", down)
    body = body_for(item.plaid_item_id)
    assert post(client, body, keys.sign(body)).status_code == 503
    assert unchanged(item)


def test_unknown_item_and_unknown_type_are_acknowledged(client, keys, item):
    body = body_for("item-nobody-knows")
    response = post(client, body, keys.sign(body))
    assert response.status_code == 200 and response.json()["handled"] is False
    body = body_for(item.plaid_item_id, wtype="INCOME", code="SOMETHING")
    response = post(client, body, keys.sign(body))
    assert response.status_code == 200 and response.json()["handled"] is False
    assert unchanged(item)


# --- What verified ITEM webhooks do -----------------------------------------------------


def apply(client, keys, item, wtype="ITEM", code="ERROR", **extra):
    body = body_for(item.plaid_item_id, wtype=wtype, code=code, **extra)
    response = post(client, body, keys.sign(body))
    assert response.status_code == 200, response.content
    item.refresh_from_db()
    return response.json()


def test_error_login_required_marks_the_item(client, keys, item, queued):
    error = {"error_type": "ITEM_ERROR", "error_code": "ITEM_LOGIN_REQUIRED"}
    apply(client, keys, item, code="ERROR", error=error)
    assert (item.status, item.error_code) == (
        PlaidItem.Status.LOGIN_REQUIRED,
        "ITEM_LOGIN_REQUIRED",
    )
    assert queued == []


def test_pending_expiration_and_disconnect_set_warning_and_date(client, keys, item):
    when = "2026-12-01T10:00:00Z"
    apply(client, keys, item, code="PENDING_EXPIRATION", consent_expiration_time=when)
    assert item.warning_code == "PENDING_EXPIRATION"
    assert item.expires_at.isoformat() == "2026-12-01T10:00:00+00:00"
    apply(client, keys, item, code="PENDING_DISCONNECT", disconnect_time="2026-12-03T00:00:00Z")
    assert (item.warning_code, item.expires_at.day) == ("PENDING_DISCONNECT", 3)


def test_pending_disconnect_without_a_date_uses_plaids_seven_days_once(client, keys, item):
    apply(client, keys, item, code="PENDING_DISCONNECT", reason="INSTITUTION_TOKEN_EXPIRATION")
    first = item.expires_at
    assert abs(first - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)
    apply(client, keys, item, code="PENDING_DISCONNECT", reason="INSTITUTION_TOKEN_EXPIRATION")
    assert item.expires_at == first  # a repeated delivery keeps the announced date


def test_permission_revoked_marks_revoked(client, keys, item, queued):
    apply(client, keys, item, code="USER_PERMISSION_REVOKED")
    assert item.status == PlaidItem.Status.REVOKED
    # A refresh webhook after that queues nothing.
    apply(client, keys, item, wtype="TRANSACTIONS", code="DEFAULT_UPDATE")
    assert queued == []


def test_login_repaired_makes_healthy_and_refreshes(
    client, keys, queued, django_capture_on_commit_callbacks
):
    item = PlaidItemFactory(
        status=PlaidItem.Status.LOGIN_REQUIRED, error_code="ITEM_LOGIN_REQUIRED"
    )
    with django_capture_on_commit_callbacks(execute=True):
        apply(client, keys, item, code="LOGIN_REPAIRED")
    assert (item.status, item.error_code) == (PlaidItem.Status.HEALTHY, "")
    assert item.refresh_requested_at is not None
    assert [pk for pk, _ in queued] == [item.pk]


@pytest.mark.parametrize("code", ["DEFAULT_UPDATE", "SYNC_UPDATES_AVAILABLE"])
def test_update_webhooks_queue_one_refresh_however_often_delivered(
    client, keys, item, queued, code, settings, django_capture_on_commit_callbacks
):
    settings.BALANCE_SCHEDULED_SOURCE = "cached"
    with django_capture_on_commit_callbacks(execute=True):
        first = apply(client, keys, item, wtype="TRANSACTIONS", code=code)
        again = apply(client, keys, item, wtype="TRANSACTIONS", code=code)
    assert queued == [(item.pk, {"realtime": False})]
    assert "refresh queued" in first["detail"]
    assert "already pending" in again["detail"]


def test_new_accounts_and_user_account_revoked(client, keys, item):
    account = AccountFactory(item=item, plaid_account_id="acc-1")
    apply(client, keys, item, code="NEW_ACCOUNTS_AVAILABLE")
    assert item.new_accounts_available is True
    apply(client, keys, item, code="USER_ACCOUNT_REVOKED", account_id="acc-1")
    account.refresh_from_db()
    assert account.closed_at is not None  # closed, not deleted: history stays


@pytest.mark.django_db(transaction=True)
def test_redis_down_answers_503_so_plaid_delivers_again(client, keys, settings, queued):
    item = PlaidItemFactory(plaid_item_id="item-r")
    settings.THROTTLE_REDIS_URL = "redis://127.0.0.1:1/0"
    body = body_for(item.plaid_item_id, wtype="TRANSACTIONS", code="DEFAULT_UPDATE")
    assert post(client, body, keys.sign(body)).status_code == 503
    assert queued == []
    item.refresh_from_db()
    assert item.refresh_requested_at is None
