"""`balances.shared_state.api`: the same semantics on both backends, Redis and the file."""

import os
import subprocess
import sys
import time
import uuid

import pytest

from balances.shared_state import api as shared_state
from balances.shared_state.file import FileStore
from balances.shared_state.memory import MemoryStore
from balances.shared_state.redis import RedisStore
from tests.conftest import require_service, tcp_open

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(params=["file", "redis"])
def store_kind(request, settings, tmp_path):
    """Point the shared state at one backend; Redis is skipped without it (failed under CI)."""
    if request.param == "redis":
        require_service("Redis", lambda: tcp_open("127.0.0.1", 6379), "nothing on :6379")
        settings.THROTTLE_REDIS_URL = REDIS_URL
        settings.THROTTLE_KEY_PREFIX = f"test-{uuid.uuid4().hex[:12]}"
    else:
        settings.THROTTLE_REDIS_URL = ""
        settings.THROTTLE_FILE_PATH = tmp_path / "state.json"
    return request.param


def test_the_setting_chooses_the_backend(store_kind):
    expected = {"file": FileStore, "redis": RedisStore}[store_kind]
    assert type(shared_state.store()) is expected
    assert shared_state.store() is shared_state.store()  # one per process and settings


def test_item_lock_is_exclusive_and_released_only_by_its_holder(store_kind, settings):
    token = shared_state.item_lock_acquire(1)
    assert token
    assert shared_state.item_lock_acquire(1) is None
    assert shared_state.item_lock_acquire(2) is not None  # other Items are independent
    assert 0 < shared_state.item_lock_remaining(1) <= settings.BALANCE_REFRESH_LOCK_TTL
    shared_state.item_lock_release(1, "someone-else")
    assert shared_state.item_lock_acquire(1) is None
    shared_state.item_lock_release(1, token)
    assert shared_state.item_lock_remaining(1) == 0
    assert shared_state.item_lock_acquire(1) is not None


def test_a_late_holder_cannot_release_its_successors_lock(store_kind, settings):
    settings.BALANCE_REFRESH_LOCK_TTL = 0.3
    late = shared_state.item_lock_acquire(4)
    time.sleep(0.4)  # the lock expired while its holder was still working
    successor = shared_state.item_lock_acquire(4)
    assert late and successor and successor != late
    shared_state.item_lock_release(4, late)
    assert shared_state.item_lock_acquire(4) is None  # the successor's lock holds
    shared_state.item_lock_release(4, successor)
    assert shared_state.item_lock_remaining(4) == 0


def test_lock_of_a_dead_holder_expires(store_kind, settings):
    settings.BALANCE_REFRESH_LOCK_TTL = 0.3
    assert shared_state.item_lock_acquire(7)  # never released: its holder "died"
    assert shared_state.item_lock_acquire(7) is None
    time.sleep(0.4)
    assert shared_state.item_lock_acquire(7) is not None


def test_refresh_now_interval(store_kind, settings):
    settings.BALANCE_REFRESH_NOW_INTERVAL = 120
    assert shared_state.refresh_now_wait(5) == 0
    shared_state.refresh_now_claim(5)
    assert 110 < shared_state.refresh_now_wait(5) <= 120
    assert shared_state.refresh_now_wait(6) == 0  # per Item
    shared_state.refresh_now_release(5)
    assert shared_state.refresh_now_wait(5) == 0


def test_rate_limit_per_item_and_per_client(store_kind, settings):
    settings.PLAID_BALANCE_GET_PER_ITEM_PER_MINUTE = 2
    settings.PLAID_BALANCE_GET_PER_CLIENT_PER_MINUTE = 3
    assert shared_state.plaid_call_wait(shared_state.BALANCE_GET, 1) == 0
    assert shared_state.plaid_call_wait(shared_state.BALANCE_GET, 1) == 0
    wait = shared_state.plaid_call_wait(shared_state.BALANCE_GET, 1)  # Item 1 is at its limit
    # Counted over a minute and a margin: a call reaching Plaid a moment after it was
    # counted here still falls in the minute the limit was kept for.
    assert 60 < wait <= shared_state.PLAID_WINDOW_SECONDS == 61
    assert shared_state.plaid_call_wait(shared_state.BALANCE_GET, 2) == 0  # client's 3rd call
    assert shared_state.plaid_call_wait(shared_state.BALANCE_GET, 3) > 0  # client at its limit
    # A refused call counted nothing; /accounts/get has its own limits.
    assert shared_state.plaid_call_wait(shared_state.ACCOUNTS_GET, 1) == 0


def test_refused_calls_are_lined_up_one_per_freed_call(store_kind, settings):
    # Refused together, they would all come back when the oldest call leaves the window
    # and all but one be refused again: each comes back 60 s / limit after the one before.
    settings.PLAID_BALANCE_GET_PER_CLIENT_PER_MINUTE = 3
    for item_id in (1, 2, 3):
        assert shared_state.plaid_call_wait(shared_state.BALANCE_GET, item_id) == 0
    waits = [shared_state.plaid_call_wait(shared_state.BALANCE_GET, i) for i in (4, 5, 6)]
    assert 55 < waits[0] <= 61  # the first: when the window has room
    assert waits[1] - waits[0] == pytest.approx(20, abs=1)
    assert waits[2] - waits[1] == pytest.approx(20, abs=1)
    # The API's limit is not lined up: a refused request may try again as soon as it can.
    assert shared_state.api_request_wait("c", limit=1, window=60) == 0
    first = shared_state.api_request_wait("c", limit=1, window=60)
    assert first == pytest.approx(shared_state.api_request_wait("c", limit=1, window=60), abs=1)


def test_a_lined_up_wait_survives_the_calls_taken_meanwhile(store_kind, settings):
    settings.PLAID_BALANCE_GET_PER_ITEM_PER_MINUTE = 1
    assert shared_state.plaid_call_wait(shared_state.BALANCE_GET, 1) == 0
    first = shared_state.plaid_call_wait(shared_state.BALANCE_GET, 1)
    assert shared_state.plaid_call_wait(shared_state.BALANCE_GET, 2) == 0  # another Item
    assert shared_state.plaid_call_wait(shared_state.BALANCE_GET, 1) - first == pytest.approx(
        shared_state.PLAID_WINDOW_SECONDS, abs=1
    )


def test_rate_limit_of_an_unknown_endpoint_is_an_error(store_kind):
    with pytest.raises(ValueError, match="/item/get"):
        shared_state.plaid_call_wait("/item/get", 1)


# --- Plaid webhooks: key fetches bounded, unknown kids and deliveries remembered ----------
# Each on the shared store and on this process's memory (`local=True`, the fallback).


@pytest.fixture(params=[False, True], ids=["shared", "local"])
def local(request):
    return request.param


def test_the_local_store_is_this_processs_memory(store_kind):
    assert type(shared_state.local_store()) is MemoryStore
    assert shared_state.local_store() is shared_state.local_store()
    assert shared_state.local_store() is not shared_state.store()


def test_one_webhook_key_fetch_in_flight_and_a_rate_for_all(store_kind, settings, local):
    settings.PLAID_WEBHOOK_KEY_FETCHES_PER_MINUTE = 2
    first = shared_state.webhook_key_fetch_claim(local=local)
    assert first
    assert shared_state.webhook_key_fetch_claim(local=local) is None  # one in flight
    shared_state.webhook_key_fetch_release("someone-else", local=local)
    assert shared_state.webhook_key_fetch_claim(local=local) is None  # only its holder frees it
    shared_state.webhook_key_fetch_release(first, local=local)
    second = shared_state.webhook_key_fetch_claim(local=local)
    assert second
    shared_state.webhook_key_fetch_release(second, local=local)
    assert shared_state.webhook_key_fetch_claim(local=local) is None  # 2 a minute: spent
    # A refused claim left the slot free (it never holds the slot without the rate).
    store = shared_state.local_store() if local else shared_state.store()
    assert store.remaining(f"{settings.THROTTLE_KEY_PREFIX}:webhook-key-fetch") == 0


def test_a_dead_fetchers_slot_expires_after_the_longest_fetch(store_kind, settings, local):
    settings.PLAID_WEBHOOK_KEY_TIMEOUT = 5.0
    assert shared_state.webhook_key_fetch_claim(local=local)  # never released: it "died"
    store = shared_state.local_store() if local else shared_state.store()
    remaining = store.remaining(f"{settings.THROTTLE_KEY_PREFIX}:webhook-key-fetch")
    assert 10 < remaining <= 2 * 5.0 + 5  # connect and read time-outs, and a margin


def test_unknown_webhook_kids_are_remembered_for_the_ttl(store_kind, settings, local):
    settings.PLAID_WEBHOOK_UNKNOWN_KEY_TTL = 300
    assert not shared_state.webhook_key_unknown("kid-1", local=local)
    shared_state.webhook_key_mark_unknown("kid-1", local=local)
    assert shared_state.webhook_key_unknown("kid-1", local=local)
    assert not shared_state.webhook_key_unknown("kid-2", local=local)
    key = f"{settings.THROTTLE_KEY_PREFIX}:webhook-kid-unknown:kid-1"
    store = shared_state.local_store() if local else shared_state.store()
    assert 290 < store.remaining(key) <= 300


def test_a_webhook_delivery_is_claimed_once_for_its_ttl(store_kind, local):
    assert shared_state.webhook_delivery_claim("d1", 0.3, local=local)
    assert not shared_state.webhook_delivery_claim("d1", 0.3, local=local)  # a replay
    assert shared_state.webhook_delivery_claim("d2", 0.3, local=local)
    shared_state.webhook_delivery_release("d2", local=local)
    assert shared_state.webhook_delivery_claim("d2", 0.3, local=local)  # forgotten: again
    time.sleep(0.4)
    assert shared_state.webhook_delivery_claim("d1", 0.3, local=local)


@pytest.fixture(params=["file", "redis"])
def unusable_store(request, settings, tmp_path):
    """A store that cannot be used: Redis where nothing listens, a file under a file."""
    if request.param == "redis":
        settings.THROTTLE_REDIS_URL = "redis://127.0.0.1:1/0"  # port 1: refused at once
        return "Redis is unreachable: "
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    settings.THROTTLE_REDIS_URL = ""
    settings.THROTTLE_FILE_PATH = not_a_folder / "state.json"
    return "Shared state file unusable: "


@pytest.mark.parametrize(
    "call",
    [
        lambda: shared_state.item_lock_acquire(1),
        lambda: shared_state.item_lock_release(1, "token"),
        lambda: shared_state.item_lock_remaining(1),
        lambda: shared_state.refresh_now_wait(1),
        lambda: shared_state.refresh_now_claim(1),
        lambda: shared_state.refresh_now_release(1),
        lambda: shared_state.plaid_call_wait(shared_state.BALANCE_GET, 1),
        lambda: shared_state.webhook_key_unknown("kid"),
        lambda: shared_state.webhook_key_mark_unknown("kid"),
        lambda: shared_state.webhook_key_fetch_claim(),
        lambda: shared_state.webhook_key_fetch_release("token"),
        lambda: shared_state.webhook_delivery_claim("digest", 60),
        lambda: shared_state.webhook_delivery_release("digest"),
    ],
)
def test_unusable_store_raises_shared_state_unavailable(unusable_store, call):
    with pytest.raises(shared_state.SharedStateUnavailable) as raised:
        call()
    assert str(raised.value).startswith(unusable_store)


def test_store_is_shared_between_processes(store_kind, settings):
    """Two processes (here: the test and a child) see the same lock through the store."""
    assert shared_state.item_lock_acquire(9)
    prefix = settings.THROTTLE_KEY_PREFIX
    if store_kind == "redis":
        store = f"from balances.shared_state.redis import RedisStore; s = RedisStore({REDIS_URL!r})"
    else:
        path = str(settings.THROTTLE_FILE_PATH)
        store = (
            "from pathlib import Path; from balances.shared_state.file import FileStore;"
            f"s = FileStore(Path({path!r}))"
        )
    code = (
        f"{store}; print(s.set_if_absent('{prefix}:lock:9', 'x', 60),"
        f" s.set_if_absent('{prefix}:lock:8', 'x', 60))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "True"]
    assert shared_state.item_lock_acquire(8) is None  # the child's lock holds here too
