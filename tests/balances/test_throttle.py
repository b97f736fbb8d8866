"""The shared throttle store: the same semantics in Redis and in the file fallback."""

import time
import uuid

import pytest

from balances.shared_state import api as shared_state
from tests.conftest import require_service, tcp_open


@pytest.fixture(params=["file", "redis"])
def store_kind(request, settings, tmp_path):
    if request.param == "redis":
        require_service("Redis", lambda: tcp_open("127.0.0.1", 6379), "nothing on :6379")
        settings.THROTTLE_REDIS_URL = "redis://127.0.0.1:6379/15"
        settings.THROTTLE_KEY_PREFIX = f"test-{uuid.uuid4().hex[:12]}"
    else:
        settings.THROTTLE_REDIS_URL = ""
        settings.THROTTLE_FILE_PATH = tmp_path / "state.json"
    return request.param


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


def test_a_batch_releases_its_locks_and_marks_at_once(store_kind):
    tokens = {pk: shared_state.item_lock_acquire(pk) for pk in (1, 2, 3)}
    for pk in (1, 2, 3):
        assert shared_state.pending_mark(pk)
    taken_over = shared_state.item_lock_acquire(4)
    # 3 failed (still pending, retried later); 4's lock is another holder's: kept.
    shared_state.items_release({**tokens, 4: "not-its-token"}, finished=[1, 2])
    assert [shared_state.item_lock_remaining(pk) for pk in (1, 2, 3)] == [0, 0, 0]
    assert shared_state.item_lock_remaining(4) > 0 and taken_over
    assert shared_state.pending_mark(1) and shared_state.pending_mark(2)
    assert not shared_state.pending_mark(3)
    shared_state.items_release({})  # nothing to do: no round trip, no error


def test_lock_of_a_dead_holder_expires(store_kind, settings):
    settings.BALANCE_REFRESH_LOCK_TTL = 0.3
    assert shared_state.item_lock_acquire(7)  # never released: its holder "died"
    assert shared_state.item_lock_acquire(7) is None
    time.sleep(0.4)
    assert shared_state.item_lock_acquire(7) is not None


def test_pending_mark_refuses_a_second_queueing_until_cleared(store_kind):
    assert shared_state.pending_mark(3)
    assert not shared_state.pending_mark(3)
    shared_state.pending_extend(3, 10)
    assert not shared_state.pending_mark(3)
    shared_state.pending_clear(3)
    assert shared_state.pending_mark(3)


def test_refresh_now_interval(store_kind, settings):
    settings.BALANCE_REFRESH_NOW_INTERVAL = 120
    assert shared_state.refresh_now_wait(5) == 0
    shared_state.refresh_now_claim(5)
    assert 110 < shared_state.refresh_now_wait(5) <= 120
    shared_state.refresh_now_release(5)
    assert shared_state.refresh_now_wait(5) == 0


def test_rate_limit_per_item_and_per_client(store_kind, settings):
    settings.PLAID_BALANCE_GET_PER_ITEM_PER_MINUTE = 2
    settings.PLAID_BALANCE_GET_PER_CLIENT_PER_MINUTE = 3
    assert shared_state.plaid_call_wait(shared_state.BALANCE_GET, 1) == 0
    assert shared_state.plaid_call_wait(shared_state.BALANCE_GET, 1) == 0
    wait = shared_state.plaid_call_wait(shared_state.BALANCE_GET, 1)  # Item 1 is at its limit
    assert 55 < wait <= 60
    assert shared_state.plaid_call_wait(shared_state.BALANCE_GET, 2) == 0  # client's 3rd call
    assert shared_state.plaid_call_wait(shared_state.BALANCE_GET, 3) > 0  # client at its limit
    # A refused call counted nothing; /accounts/get has its own limits.
    assert shared_state.plaid_call_wait(shared_state.ACCOUNTS_GET, 1) == 0


def test_redis_down_raises_throttle_unavailable(settings):
    settings.THROTTLE_REDIS_URL = "redis://127.0.0.1:1/0"
    with pytest.raises(shared_state.ThrottleUnavailable):
        shared_state.pending_mark(1)
    with pytest.raises(shared_state.ThrottleUnavailable):
        shared_state.plaid_call_wait(shared_state.BALANCE_GET, 1)


def test_file_store_is_shared_between_processes(settings, tmp_path):
    """Two processes (here: the test and a child) see the same lock through the file."""
    import subprocess
    import sys

    path = tmp_path / "shared.json"
    settings.THROTTLE_FILE_PATH = path
    assert shared_state.item_lock_acquire(9)
    prefix = settings.THROTTLE_KEY_PREFIX
    code = (
        "from pathlib import Path; from balances.shared_state.api import FileStore;"
        f"s = FileStore(Path({str(path)!r}));"
        f"print(s.set_if_absent('{prefix}:lock:9', 'x', 60),"
        f" s.set_if_absent('{prefix}:lock:8', 'x', 60))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "True"]
