"""Rate limits, per-Item locks, "Refresh now" intervals and webhook bounds shared by every
process.

State lives in Redis (`THROTTLE_REDIS_URL`, by default the Celery broker when it is Redis,
`redis.py`), never in process memory, so limits hold across any number of web and worker
processes. Without Redis (`make run` falls back to a file broker), the same state lives in
one JSON file under DATA_DIR (`file.py`): correct across the processes of one machine only.

Every function raises `SharedStateUnavailable` when the store cannot be reached; callers
decide (a view shows a message, a task retries later). The webhook functions also take
`local=True`: the same state in this process's memory (`memory.py`), for a caller that must
stay bounded without the shared store (its bound then holds per process, not for all).
Keys never hold tokens.

Costs: each call is one Redis round trip, or one locked read-modify-write of a small file.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from django.conf import settings

from balances.shared_state.base import SharedStateUnavailable, Store
from balances.shared_state.file import FileStore
from balances.shared_state.memory import MemoryStore
from balances.shared_state.redis import RedisStore

__all__ = ["SharedStateUnavailable"]

BALANCE_GET = "/accounts/balance/get"
ACCOUNTS_GET = "/accounts/get"
WINDOW_SECONDS = 60.0
# Plaid counts a call per minute when the call reaches it; a call counted here reaches it
# a little later (the SDK building the request, a thread waiting for the GIL among a
# worker's ~100, a new connection). Counted over a window this much longer than a minute,
# no minute of Plaid's holds more calls than its limit if each reaches Plaid within the
# margin: at 60 s, 3 calls of 3,000 were refused at a minute's edge (bench/production.py,
# 2026-12-01). Cost: the rate tops out at 60/61 of the limit.
PLAID_WINDOW_SECONDS = WINDOW_SECONDS + 1.0


_stores: dict[tuple[int, str, str], Store] = {}


def store() -> Store:
    """Return this process's store for the current settings (clients are not fork-safe)."""
    url = settings.THROTTLE_REDIS_URL
    path = str(settings.THROTTLE_FILE_PATH)
    key = (os.getpid(), url, path)
    if key not in _stores:
        _stores[key] = RedisStore(url) if url else FileStore(Path(path))
    return _stores[key]


_local_stores: dict[tuple[int, str, str], Store] = {}


def local_store() -> Store:
    """Return this process's own memory store (per settings, like `store()`)."""
    key = (os.getpid(), settings.THROTTLE_REDIS_URL, str(settings.THROTTLE_FILE_PATH))
    if key not in _local_stores:
        _local_stores[key] = MemoryStore()
    return _local_stores[key]


def _key(*parts: object) -> str:
    return ":".join([settings.THROTTLE_KEY_PREFIX, *(str(p) for p in parts)])


# --- Per-Item lock: two refreshes of one Item never interleave --------------------------


def item_lock_acquire(item_id: int) -> str | None:
    """Take the Item's refresh lock; return its token, or None when another holder has it.

    The lock expires after BALANCE_REFRESH_LOCK_TTL seconds, so a holder that dies
    (SIGKILL) blocks the Item for at most that long.
    """
    token = uuid.uuid4().hex
    ok = store().set_if_absent(_key("lock", item_id), token, settings.BALANCE_REFRESH_LOCK_TTL)
    return token if ok else None


def item_lock_release(item_id: int, token: str) -> None:
    """Release the lock if `token` still holds it (never another holder's lock)."""
    store().delete(_key("lock", item_id), token)


def item_lock_remaining(item_id: int) -> float:
    """Return the seconds until the Item's lock expires (0 when free)."""
    return store().remaining(_key("lock", item_id))


# --- "Refresh now": one on-demand refresh per Item per BALANCE_REFRESH_NOW_INTERVAL -----


def refresh_now_wait(item_id: int) -> float:
    """Return the seconds until the user may refresh the Item again (0: now)."""
    return store().remaining(_key("refresh-now", item_id))


def refresh_now_claim(item_id: int) -> None:
    """Start the Item's on-demand interval."""
    store().set(_key("refresh-now", item_id), "1", settings.BALANCE_REFRESH_NOW_INTERVAL)


def refresh_now_release(item_id: int) -> None:
    """Forget the Item's on-demand interval (its refresh could not be queued)."""
    store().delete(_key("refresh-now", item_id))


# --- Plaid's rate limits, enforced before Plaid has to ----------------------------------


def _limits(endpoint: str) -> tuple[int, int]:
    if endpoint == BALANCE_GET:
        return (
            settings.PLAID_BALANCE_GET_PER_ITEM_PER_MINUTE,
            settings.PLAID_BALANCE_GET_PER_CLIENT_PER_MINUTE,
        )
    if endpoint == ACCOUNTS_GET:
        return (
            settings.PLAID_ACCOUNTS_GET_PER_ITEM_PER_MINUTE,
            settings.PLAID_ACCOUNTS_GET_PER_CLIENT_PER_MINUTE,
        )
    raise ValueError(f"No rate limit is configured for {endpoint}.")


def plaid_call_wait(endpoint: str, item_id: int) -> float:
    """Count one call to `endpoint` for the Item if both its per-Item and the per-client
    limit allow it now and return 0; otherwise count nothing and return the seconds to wait.

    Counted over PLAID_WINDOW_SECONDS. Refused callers are lined up: each is told to come
    back one `window / limit` after the one refused before it (and never before the window
    has room), so the refresh tasks refused while the client limit binds come back one per
    freed call instead of all at the instant the oldest call leaves the window, where all
    but one were refused again (bench/production.py: 3,412 to 4,792 re-queues for 3,000
    Items, each a task run).
    """
    per_item, per_client = _limits(endpoint)
    return store().take(
        [
            (_key("rate", endpoint, "item", item_id), max(1, per_item)),
            (_key("rate", endpoint, "client"), max(1, per_client)),
        ],
        PLAID_WINDOW_SECONDS,
        space=True,
    )


# --- The API: API_THROTTLE_RATE requests per client --------------------------------------


def api_request_wait(client: str, *, limit: int, window: float) -> float:
    """Count one API request of `client` if fewer than `limit` were counted in the last
    `window` seconds and return 0; otherwise count nothing and return the seconds to wait.

    `client` names the caller without being a credential (a hash of a stored hash).
    """
    return store().take([(_key("api", client), max(1, limit))], window)


# --- Plaid webhooks: what unauthenticated traffic may cost, and deliveries already seen --
# Anyone can POST /plaid/webhook/ with any key id. These bound what that can make us do:
# one key fetch in flight for all processes (a worker blocked on Plaid is one worker, never
# all of them), at most PLAID_WEBHOOK_KEY_FETCHES_PER_MINUTE fetches, and a key id Plaid
# called unknown is not asked about again for PLAID_WEBHOOK_UNKNOWN_KEY_TTL seconds.


def _webhook_store(local: bool) -> Store:
    return local_store() if local else store()


def webhook_key_unknown(kid: str, *, local: bool = False) -> bool:
    """Return whether Plaid recently said it has no key `kid` (one read)."""
    return _webhook_store(local).remaining(_key("webhook-kid-unknown", kid)) > 0


def webhook_key_mark_unknown(kid: str, *, local: bool = False) -> None:
    """Remember for PLAID_WEBHOOK_UNKNOWN_KEY_TTL seconds that Plaid has no key `kid`."""
    _webhook_store(local).set(
        _key("webhook-kid-unknown", kid), "1", settings.PLAID_WEBHOOK_UNKNOWN_KEY_TTL
    )


def webhook_key_fetch_claim(*, local: bool = False) -> str | None:
    """Take the one key-fetch slot if it is free and the per-minute rate has room; return
    its token, or None (take nothing) when either says no.

    The slot expires after twice PLAID_WEBHOOK_KEY_TIMEOUT plus 5 seconds (longer than the
    fetch can take), so a holder that dies blocks key fetches for at most that long. Two
    round trips: the slot first, so a refused slot never spends the rate.
    """
    s = _webhook_store(local)
    slot = _key("webhook-key-fetch")
    token = uuid.uuid4().hex
    if not s.set_if_absent(slot, token, 2 * float(settings.PLAID_WEBHOOK_KEY_TIMEOUT) + 5):
        return None
    try:
        limit = max(1, settings.PLAID_WEBHOOK_KEY_FETCHES_PER_MINUTE)
        wait = s.take([(_key("rate", "webhook-key-fetch"), limit)], WINDOW_SECONDS)
    except Exception:
        s.delete(slot, token)
        raise
    if wait > 0:
        s.delete(slot, token)
        return None
    return token


def webhook_key_fetch_release(token: str, *, local: bool = False) -> None:
    """Free the key-fetch slot if `token` still holds it."""
    _webhook_store(local).delete(_key("webhook-key-fetch"), token)


def webhook_delivery_claim(digest: str, ttl: float, *, local: bool = False) -> bool:
    """Record a verified delivery by its `digest` for `ttl` seconds; return False when it
    was already recorded (a replay). Atomic: of two concurrent claims, one wins."""
    return _webhook_store(local).set_if_absent(_key("webhook-delivery", digest), "1", ttl)


def webhook_delivery_release(digest: str, *, local: bool = False) -> None:
    """Forget a delivery that was not applied (so the same delivery may be applied later)."""
    _webhook_store(local).delete(_key("webhook-delivery", digest))
