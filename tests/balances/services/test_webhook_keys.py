"""`webhook_keys.webhook_key_get`: Plaid's key for a kid, cached per process; what anyone
can make us fetch is bounded (one fetch in flight, a rate, unknown kids remembered)."""

import uuid

import pytest

from balances.plaid.errors import PlaidError
from balances.plaid.webhook_verification import WebhookRejected
from balances.services.webhook_keys import webhook_key_get
from balances.shared_state import api as shared_state


def refused(kid: str) -> int:
    with pytest.raises(WebhookRejected) as raised:
        webhook_key_get(kid)
    return raised.value.status


def test_a_key_is_fetched_once_per_process_and_again_for_a_new_kid(webhook_keys):
    for _ in range(3):
        assert webhook_key_get("k1").kid == "k1"
    assert webhook_keys.fetches == ["k1"]
    webhook_keys.new("k2")  # Plaid rotated its key
    assert webhook_key_get("k2").kid == "k2"
    assert webhook_keys.fetches == ["k1", "k2"]


def test_an_unknown_kid_is_asked_about_once_then_refused_for_free(webhook_keys, settings):
    settings.PLAID_WEBHOOK_KEY_FETCHES_PER_MINUTE = 1000
    assert [refused("forged-kid") for _ in range(100)] == [401] * 100
    assert webhook_keys.fetches == ["forged-kid"]
    assert shared_state.webhook_key_unknown("forged-kid")


def test_random_kids_cost_at_most_the_rate_and_are_refused_503_beyond_it(webhook_keys, settings):
    settings.PLAID_WEBHOOK_KEY_FETCHES_PER_MINUTE = 3
    statuses = [refused(f"forged-{uuid.uuid4()}") for _ in range(100)]
    assert len(webhook_keys.fetches) == 3
    assert statuses == [401] * 3 + [503] * 97
    # A real key is not fetched either while the rate is spent; Plaid delivers again later.
    assert refused("k1") == 503


def test_one_fetch_in_flight_for_all_processes(webhook_keys):
    holder = shared_state.webhook_key_fetch_claim()  # another process is fetching
    assert holder
    assert refused("k1") == 503
    assert webhook_keys.fetches == []
    shared_state.webhook_key_fetch_release(holder)
    assert webhook_key_get("k1").kid == "k1"
    # The slot is free again after a fetch, successful or not.
    assert refused("no-such-kid") == 401
    assert shared_state.webhook_key_fetch_claim() is not None


def test_plaid_unreachable_answers_503_and_is_not_remembered_as_unknown(webhook_keys, monkeypatch):
    from balances.plaid import client as plaid_client

    def down(key_id):
        raise PlaidError(code="CONNECTION_ERROR", message="down", retryable=True)

    monkeypatch.setattr(plaid_client, "webhook_verification_key_get", down)
    assert refused("k1") == 503
    assert not shared_state.webhook_key_unknown("k1")
    monkeypatch.setattr(plaid_client, "webhook_verification_key_get", webhook_keys.get)
    assert webhook_key_get("k1").kid == "k1"


@pytest.fixture
def shared_state_down(settings):
    settings.THROTTLE_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    with pytest.raises(shared_state.SharedStateUnavailable):
        shared_state.webhook_key_fetch_claim()


def test_without_shared_state_fetches_stay_bounded_in_this_process(
    webhook_keys, settings, shared_state_down
):
    settings.PLAID_WEBHOOK_KEY_FETCHES_PER_MINUTE = 2
    assert webhook_key_get("k1").kid == "k1"  # a webhook still verifies while Redis is down
    assert [refused(f"forged-{n}") for n in range(10)] == [401] + [503] * 9
    assert [refused("forged-0") for _ in range(5)] == [401] * 5  # remembered as unknown
    assert webhook_keys.fetches == ["k1", "forged-0"]
