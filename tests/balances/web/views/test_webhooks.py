"""`POST /plaid/webhook/`: verified, then applied; anything unverified changes nothing; a
webhook that cannot be processed now is answered 503, so Plaid delivers it again."""

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client
from django.urls import reverse
from kombu.exceptions import OperationalError as KombuOperationalError

from balances import tasks
from balances.models import PlaidItem
from balances.plaid import client as plaid_client
from balances.plaid.errors import PlaidError
from tests.conftest import webhook_body
from tests.factories import PlaidItemFactory

pytestmark = pytest.mark.django_db

URL = "/plaid/webhook/"


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


def test_good_webhook_is_accepted_and_applied(client, webhook_keys, item):
    body = webhook_body(item.plaid_item_id)
    response = post(client, body, webhook_keys.sign(body))
    assert response.status_code == 200
    assert response.json() == {"handled": True, "detail": "applied NEW_ACCOUNTS_AVAILABLE"}
    item.refresh_from_db()
    assert item.new_accounts_available is True


def test_csrf_is_not_required(webhook_keys, item):
    body = webhook_body(item.plaid_item_id)
    assert post(Client(enforce_csrf_checks=True), body, webhook_keys.sign(body)).status_code == 200


@pytest.mark.parametrize(
    ("case", "status"),
    [("missing header", 400), ("bad signature", 401), ("tampered body", 401), ("key down", 503)],
)
def test_unverified_webhooks_are_refused_and_change_nothing(
    client, webhook_keys, item, monkeypatch, case, status
):
    body = webhook_body(item.plaid_item_id)
    token = webhook_keys.sign(body)
    if case == "missing header":
        token = None
    elif case == "bad signature":
        token = webhook_keys.sign(body, key=ec.generate_private_key(ec.SECP256R1()))
    elif case == "tampered body":
        body = webhook_body(item.plaid_item_id, code="USER_PERMISSION_REVOKED")
    elif case == "key down":

        def down(key_id):
            raise PlaidError(code="CONNECTION_ERROR", message="down", retryable=True)

        monkeypatch.setattr(plaid_client, "webhook_verification_key_get", down)
    response = post(client, body, token)
    assert response.status_code == status
    assert response.json() == {"error": "webhook not verified"}
    assert unchanged(item)


def test_unknown_item_and_unknown_type_are_acknowledged(client, webhook_keys, item):
    body = webhook_body("item-nobody-knows")
    response = post(client, body, webhook_keys.sign(body))
    assert response.status_code == 200 and response.json()["handled"] is False
    body = webhook_body(item.plaid_item_id, wtype="INCOME", code="SOMETHING")
    response = post(client, body, webhook_keys.sign(body))
    assert response.status_code == 200 and response.json()["handled"] is False
    assert unchanged(item)


@pytest.mark.django_db(transaction=True)  # on_commit runs at once, as in a real request
def test_broker_down_answers_503_so_plaid_delivers_again(client, webhook_keys, monkeypatch):
    item = PlaidItemFactory(plaid_item_id="item-r")
    published = []

    def down(pk, **kwargs):
        published.append(pk)
        raise KombuOperationalError("broker down")

    monkeypatch.setattr(tasks.refresh_item_balances, "delay", down)
    body = webhook_body(item.plaid_item_id, wtype="TRANSACTIONS", code="DEFAULT_UPDATE")
    assert post(client, body, webhook_keys.sign(body)).status_code == 503
    assert published == [item.pk]
    item.refresh_from_db()
    assert item.refresh_requested_at is None  # nothing pending: the next delivery queues it


@pytest.mark.django_db(transaction=True)  # on_commit runs at once, as in a real request
def test_redis_down_does_not_stop_a_webhook(client, webhook_keys, settings, queued):
    # Pending refreshes live in the database: queueing one needs no Redis.
    settings.THROTTLE_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    item = PlaidItemFactory(plaid_item_id="item-r")
    body = webhook_body(item.plaid_item_id, wtype="TRANSACTIONS", code="DEFAULT_UPDATE")
    response = post(client, body, webhook_keys.sign(body))
    assert response.status_code == 200
    assert "refresh queued" in response.json()["detail"]
    assert [pk for pk, _ in queued] == [item.pk]


def test_a_replayed_delivery_is_answered_200_and_not_applied(client, webhook_keys, item):
    error = {"error_type": "ITEM_ERROR", "error_code": "ITEM_LOGIN_REQUIRED"}
    captured_body = webhook_body(item.plaid_item_id, code="ERROR", error=error)
    captured = webhook_keys.sign(captured_body)
    assert post(client, captured_body, captured).status_code == 200
    repaired = webhook_body(item.plaid_item_id, code="LOGIN_REPAIRED")
    assert post(client, repaired, webhook_keys.sign(repaired)).status_code == 200
    item.refresh_from_db()
    assert item.status == PlaidItem.Status.HEALTHY
    response = post(client, captured_body, captured)  # the captured delivery, seconds later
    assert response.status_code == 200
    assert response.json() == {"handled": False, "detail": "already received"}
    assert unchanged(item)


@pytest.mark.parametrize(
    "changes",
    [
        {"webhook_code": "PENDING_EXPIRATION", "consent_expiration_time": "2025-02-30T00:00:00Z"},
        {"webhook_code": "ERROR", "error": {"error_code": "E" * 101}},
        {"webhook_code": "ERROR", "error": {"error_code": "ITEM_LOGIN_REQUIRED\x00"}},
        {"item_id": "item-abc\x00"},
        {"webhook_code": "USER_ACCOUNT_REVOKED", "account_id": "acc\x00"},
    ],
    ids=["impossible date", "long error code", "NUL error code", "NUL item", "NUL account"],
)
def test_a_verified_body_the_app_cannot_read_gets_a_logged_200_and_changes_nothing(
    client, webhook_keys, item, changes, caplog
):
    payload = json.loads(webhook_body(item.plaid_item_id))
    payload.update(changes)
    body = json.dumps(payload).encode()
    response = post(client, body, webhook_keys.sign(body))
    assert response.status_code == 200
    assert response.json()["handled"] is False
    assert response.json()["detail"].startswith("malformed: ")
    assert "Verified webhook ignored, its body is malformed" in caplog.text
    assert unchanged(item)
