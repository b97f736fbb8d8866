"""Throttles, de-duplication and per-Item locks shared by every process on every machine.

State lives in Redis (`THROTTLE_REDIS_URL`, by default the Celery broker when it is Redis),
never in process memory, so limits hold across any number of web and worker processes.
Without Redis (`make run` falls back to a file broker), the same state lives in one JSON
file under DATA_DIR guarded by `flock`: correct across the processes of one machine only.

Every function raises `ThrottleUnavailable` when the store cannot be reached; callers
decide (a view shows a message, a task retries later). Keys never hold tokens.

Costs: each call is one Redis round trip (a Lua script where it must be atomic, sent by
its hash), or one locked read-modify-write of a small file; `items_release` ends a whole
batch in one.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import redis
from django.conf import settings

BALANCE_GET = "/accounts/balance/get"
ACCOUNTS_GET = "/accounts/get"
WINDOW_SECONDS = 60.0


class ThrottleUnavailable(Exception):
    """The shared throttle store (Redis) is unreachable."""


class Store(Protocol):
    def set_if_absent(self, key: str, value: str, ttl: float) -> bool: ...
    def set(self, key: str, value: str, ttl: float) -> None: ...
    def delete(self, key: str, value: str | None = None) -> None: ...
    def delete_many(self, keys: Sequence[tuple[str, str | None]]) -> None: ...
    def remaining(self, key: str) -> float: ...
    def take(self, limits: Sequence[tuple[str, int]], window: float) -> float: ...


# Sliding-window log over several keys at once: either every key gets the call (returns 0)
# or none does (returns the milliseconds until the fullest window has room).
_TAKE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local wait = 0
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= tonumber(ARGV[2 + i]) then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local w = tonumber(oldest[2]) + window - now
    if w > wait then wait = w end
  end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[2])
  redis.call('PEXPIRE', key, math.ceil(window))
end
return 0
"""
_DELETE_IF_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisStore:
    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=3)
        # Sent by hash (EVALSHA) once Redis has them: not the script's text on every call.
        self._take = self.client.register_script(_TAKE_LUA)
        self._delete_if = self.client.register_script(_DELETE_IF_LUA)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as exc:
            raise ThrottleUnavailable(f"Redis is unreachable: {exc}") from exc

    def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        with self._errors():
            return bool(self.client.set(key, value, nx=True, px=max(1, int(ttl * 1000))))

    def set(self, key: str, value: str, ttl: float) -> None:
        with self._errors():
            self.client.set(key, value, px=max(1, int(ttl * 1000)))

    def delete(self, key: str, value: str | None = None) -> None:
        self.delete_many([(key, value)])

    def delete_many(self, keys: Sequence[tuple[str, str | None]]) -> None:
        """Delete each key (only while it holds `value`, when given): one round trip."""
        with self._errors():
            if len(keys) == 1:
                self._delete_one(self.client, *keys[0])
                return
            pipe = self.client.pipeline(transaction=False)
            for key, value in keys:
                self._delete_one(pipe, key, value)
            pipe.execute()

    def _delete_one(self, client: Any, key: str, value: str | None) -> None:
        if value is None:
            client.delete(key)
        else:
            self._delete_if(keys=[key], args=[value], client=client)

    def remaining(self, key: str) -> float:
        with self._errors():
            ms = int(self.client.pttl(key))  # -2: absent, -1: no expiry (never set here)
        return max(ms, 0) / 1000

    def take(self, limits: Sequence[tuple[str, int]], window: float) -> float:
        keys = [key for key, _ in limits]
        args: list[Any] = [window * 1000, uuid.uuid4().hex, *(limit for _, limit in limits)]
        with self._errors():
            wait_ms = int(self._take(keys=keys, args=args))
        return wait_ms / 1000


class FileStore:
    """The Redis store's semantics in one JSON file, for a single machine without Redis."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _state(self) -> Iterator[dict[str, Any]]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path.with_suffix(".lock"), "a+") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    state: dict[str, Any] = json.loads(self.path.read_text() or "{}")
                except (FileNotFoundError, ValueError):
                    state = {}
                now = time.time()
                state = {k: v for k, v in state.items() if v["exp"] > now}
                yield state
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(state))
                os.replace(tmp, self.path)
        except OSError as exc:
            raise ThrottleUnavailable(f"Throttle state file unusable: {exc}") from exc

    def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        with self._state() as state:
            if key in state:
                return False
            state[key] = {"v": value, "exp": time.time() + ttl}
            return True

    def set(self, key: str, value: str, ttl: float) -> None:
        with self._state() as state:
            state[key] = {"v": value, "exp": time.time() + ttl}

    def delete(self, key: str, value: str | None = None) -> None:
        self.delete_many([(key, value)])

    def delete_many(self, keys: Sequence[tuple[str, str | None]]) -> None:
        with self._state() as state:
            for key, value in keys:
                if key in state and (value is None or state[key].get("v") == value):
                    del state[key]

    def remaining(self, key: str) -> float:
        with self._state() as state:
            return max(0.0, state[key]["exp"] - time.time()) if key in state else 0.0

    def take(self, limits: Sequence[tuple[str, int]], window: float) -> float:
        with self._state() as state:
            now = time.time()
            wait = 0.0
            logs: list[list[float]] = []
            for key, limit in limits:
                log = [t for t in state.get(key, {}).get("z", []) if t > now - window]
                logs.append(log)
                if len(log) >= limit:
                    wait = max(wait, log[0] + window - now)
            if wait > 0:
                return wait
            for (key, _), log in zip(limits, logs, strict=True):
                state[key] = {"z": [*log, now], "exp": now + window}
            return 0.0


_stores: dict[tuple[int, str, str], Store] = {}


def store() -> Store:
    """Return this process's store for the current settings (clients are not fork-safe)."""
    url = settings.THROTTLE_REDIS_URL
    path = str(settings.THROTTLE_FILE_PATH)
    key = (os.getpid(), url, path)
    if key not in _stores:
        _stores[key] = RedisStore(url) if url else FileStore(Path(path))
    return _stores[key]


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


# --- Pending refresh: already queued or running → not queued again ----------------------


def pending_mark(item_id: int) -> bool:
    """Mark a refresh of the Item as pending; return False when one already is."""
    return store().set_if_absent(
        _key("pending", item_id), "1", settings.BALANCE_REFRESH_PENDING_TTL
    )


def pending_extend(item_id: int, seconds: float = 0) -> None:
    """Keep the Item pending (a retry is scheduled `seconds` from now)."""
    store().set(_key("pending", item_id), "1", settings.BALANCE_REFRESH_PENDING_TTL + seconds)


def pending_clear(item_id: int) -> None:
    """The Item's refresh finished (or was never queued): it may be queued again."""
    store().delete(_key("pending", item_id))


def items_release(locks: dict[int, str], *, finished: Sequence[int] = ()) -> None:
    """Release the Items' locks held with these tokens and clear the pending mark of the
    `finished` ones, in one round trip (a batch of refreshes ends)."""
    keys: list[tuple[str, str | None]] = [(_key("pending", pk), None) for pk in finished]
    keys += [(_key("lock", pk), token) for pk, token in locks.items()]
    if keys:
        store().delete_many(keys)


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
    """
    per_item, per_client = _limits(endpoint)
    return store().take(
        [
            (_key("rate", endpoint, "item", item_id), max(1, per_item)),
            (_key("rate", endpoint, "client"), max(1, per_client)),
        ],
        WINDOW_SECONDS,
    )
