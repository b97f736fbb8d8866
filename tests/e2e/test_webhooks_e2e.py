"""Webhooks end to end: the emulator signs and POSTs them over HTTP to a live server."""

import hashlib
import json
import time
import uuid

import jwt
import pytest
import urllib3
from cryptography.hazmat.primitives.asymmetric import ec

from balances.models import PlaidItem
from balances.plaid import client as plaid_client
from balances.plaid import errors as plaid_errors
from balances.plaid import webhook_verification
from balances.services import linking
from tests.e2e.conftest import emulator_post, wait_for
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def deliver(url, body, token):
    """POST like Plaid does; return the HTTP status."""
    response = urllib3.request(
        "POST",
        url,
        body=body,
        headers={"Content-Type": "application/json", "Plaid-Verification": token},
        timeout=10,
        redirect=False,
    )
    return response.status


@pytest.fixture
def linked(emulator, live_server):
    webhook_verification._keys.clear()
    url = live_server.url + "/plaid/webhook/"
    user = UserFactory(username="wendy")
    item = linking.item_link_sandbox(
        user=user, institution_id="ins_3", webhook=url, queue_refresh=False
    )
    # The access token stays in this process: tests hand it to the emulator directly.
    yield item, url
    webhook_verification._keys.clear()


def fire(emulator, item, code):
    emulator_post(
        emulator,
        "/sandbox/item/fire_webhook",
        {"access_token": item.access_token, "webhook_code": code},
    )


def test_fired_webhooks_are_verified_and_applied(emulator, linked):
    item, _url = linked
    fire(emulator, item, "NEW_ACCOUNTS_AVAILABLE")
    assert wait_for(lambda: PlaidItem.objects.get(pk=item.pk).new_accounts_available)
    fire(emulator, item, "PENDING_EXPIRATION")
    assert wait_for(lambda: PlaidItem.objects.get(pk=item.pk).warning_code == "PENDING_EXPIRATION")
    assert PlaidItem.objects.get(pk=item.pk).expires_at is not None
    fire(emulator, item, "DEFAULT_UPDATE")
    assert wait_for(lambda: PlaidItem.objects.get(pk=item.pk).refresh_requested_at is not None)
    fire(emulator, item, "ERROR")  # ITEM_LOGIN_REQUIRED
    assert wait_for(
        lambda: PlaidItem.objects.get(pk=item.pk).status == PlaidItem.Status.LOGIN_REQUIRED
    )
    # Every delivery was answered 2xx on the first attempt. The emulator logs a delivery
    # after reading our reply, which can be after the change above is visible: wait for it.
    deliverer = emulator.emulator.deliverer
    assert wait_for(lambda: len(deliverer.log) == 4)
    log = list(deliverer.log)
    assert [(e["status"], e["attempts"]) for e in log] == [("delivered", 1)] * 4


def test_forged_webhooks_over_http_are_refused(emulator, linked):
    item, url = linked
    signer = emulator.emulator.signer
    body = json.dumps(
        {
            "webhook_type": "ITEM",
            "webhook_code": "USER_PERMISSION_REVOKED",
            "item_id": item.plaid_item_id,
            "environment": "sandbox",
        }
    ).encode()
    # Sanity: the emulator's real key signs a delivery we accept...
    good = body.replace(b"USER_PERMISSION_REVOKED", b"NEW_ACCOUNTS_AVAILABLE")
    assert deliver(url, good, signer.sign(good)) == 200
    # ...and everything else is refused, over real HTTP, with the key fetched from Plaid.
    assert deliver(url, body + b" ", signer.sign(body)) == 401  # tampered body
    assert deliver(url, body, signer.sign(body, iat=int(time.time()) - 301)) == 401  # stale
    stranger = ec.generate_private_key(ec.SECP256R1())
    claims = {"iat": int(time.time()), "request_body_sha256": hashlib.sha256(body).hexdigest()}
    forged = jwt.encode(claims, stranger, algorithm="ES256", headers={"kid": signer.kid})
    assert deliver(url, body, forged) == 401  # bad signature
    unknown = jwt.encode(claims, stranger, algorithm="ES256", headers={"kid": "no-such-kid"})
    assert deliver(url, body, unknown) == 401  # unknown kid (Plaid says so)
    hs = jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"kid": signer.kid})
    assert deliver(url, body, hs) == 401  # wrong alg
    assert PlaidItem.objects.get(pk=item.pk).status == PlaidItem.Status.HEALTHY


def test_client_exposes_request_id_and_duration_for_the_call_log(emulator, linked):
    item, _url = linked
    result = plaid_client.accounts_get(item.access_token)
    assert result.request_id and result.duration_ms is not None
    emulator_post(
        emulator,
        "/emulator/faults",
        {"error_code": "INSTITUTION_DOWN", "item_id": item.plaid_item_id, "count": 1},
    )
    with pytest.raises(plaid_errors.PlaidError) as raised:
        plaid_client.accounts_balance_get(item.access_token)
    error = raised.value
    assert (error.code, error.endpoint, error.retryable) == (
        "INSTITUTION_DOWN",
        "/accounts/balance/get",
        True,
    )
    assert error.request_id and error.duration_ms is not None
    key = plaid_client.webhook_verification_key_get(emulator.emulator.signer.kid)
    assert key.jwk["crv"] == "P-256" and key.kid == emulator.emulator.signer.kid


KEY_GET = "/webhook_verification_key/get"


def key_fetches(emulator) -> int:
    """Calls to Plaid's key endpoint the emulator has answered (its request counter)."""
    return emulator_post(emulator, "/emulator/stats", method="GET")["requests"].get(KEY_GET, 0)


@pytest.fixture
def shared_redis(redis_url, settings):
    """Key-fetch bounds and replay memory in real Redis, as in production."""
    settings.THROTTLE_REDIS_URL = redis_url
    settings.THROTTLE_KEY_PREFIX = f"test-{uuid.uuid4().hex[:12]}"


def test_forged_webhooks_make_the_server_spend_at_most_its_bounded_key_fetches(
    emulator, linked, shared_redis, settings
):
    item, url = linked
    settings.PLAID_WEBHOOK_KEY_FETCHES_PER_MINUTE = 2
    signer = emulator.emulator.signer
    body = json.dumps(
        {
            "webhook_type": "ITEM",
            "webhook_code": "USER_PERMISSION_REVOKED",
            "item_id": item.plaid_item_id,
            "environment": "sandbox",
        }
    ).encode()
    good = body.replace(b"USER_PERMISSION_REVOKED", b"NEW_ACCOUNTS_AVAILABLE")
    assert deliver(url, good, signer.sign(good)) == 200  # fetches the real key: one call
    assert key_fetches(emulator) == 1
    stranger = ec.generate_private_key(ec.SECP256R1())

    def forged(kid, *, iat=None, digest=None):
        claims = {
            "iat": int(time.time()) if iat is None else iat,
            "request_body_sha256": digest or hashlib.sha256(body).hexdigest(),
        }
        return jwt.encode(claims, stranger, algorithm="ES256", headers={"kid": kid})

    # Refused by the free checks: no key is ever asked for.
    free = [forged(f"kid-{n}", iat=int(time.time()) - 600) for n in range(20)]
    free += [forged(f"kid-{n}", digest="0" * 64) for n in range(20)]
    free += [forged(signer.kid)] * 20  # the real kid, a forged signature: the cached key
    assert {deliver(url, body, token) for token in free} == {401}
    assert key_fetches(emulator) == 1
    # One unknown kid, 50 times: Plaid is asked once, then it is remembered as unknown.
    assert {deliver(url, body, forged("no-such-kid")) for _ in range(50)} == {401}
    assert key_fetches(emulator) == 2
    # 100 random kids: the rate (2 a minute) is spent; each is answered 503 at once.
    statuses = [deliver(url, body, forged(str(uuid.uuid4()))) for _ in range(100)]
    assert set(statuses) == {503}
    assert key_fetches(emulator) == 2
    # Nothing forged changed anything; Plaid's own deliveries still verify (cached key).
    assert PlaidItem.objects.get(pk=item.pk).status == PlaidItem.Status.HEALTHY
    again = good.replace(b'"sandbox"', b'"sandbox" ')
    assert deliver(url, again, signer.sign(again)) == 200


def test_a_replayed_delivery_after_login_repaired_is_answered_200_and_changes_nothing(
    emulator, linked, shared_redis
):
    item, url = linked
    signer = emulator.emulator.signer

    def body(code, **extra):
        payload = {"webhook_type": "ITEM", "webhook_code": code, "item_id": item.plaid_item_id}
        payload.update(extra, environment="sandbox")
        return json.dumps(payload).encode()

    error = body("ERROR", error={"error_type": "ITEM_ERROR", "error_code": "ITEM_LOGIN_REQUIRED"})
    captured = signer.sign(error)
    assert deliver(url, error, captured) == 200
    assert PlaidItem.objects.get(pk=item.pk).status == PlaidItem.Status.LOGIN_REQUIRED
    repaired = body("LOGIN_REPAIRED")
    assert deliver(url, repaired, signer.sign(repaired)) == 200
    assert PlaidItem.objects.get(pk=item.pk).status == PlaidItem.Status.HEALTHY
    # Seconds later, the captured ERROR delivery is posted again, token and all.
    response = urllib3.request(
        "POST",
        url,
        body=error,
        headers={"Content-Type": "application/json", "Plaid-Verification": captured},
        timeout=10,
    )
    assert response.status == 200
    assert response.json() == {"handled": False, "detail": "already received"}
    fresh = PlaidItem.objects.get(pk=item.pk)
    assert (fresh.status, fresh.error_code) == (PlaidItem.Status.HEALTHY, "")
