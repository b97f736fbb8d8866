"""The production store: Redis, shared by every process on every machine.

Each call is one round trip; where it must be atomic, a Lua script sent by its hash.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis

from balances.shared_state.base import SharedStateUnavailable

# Sliding-window log over several keys at once: either every key gets the call (returns 0)
# or none does (returns the milliseconds until the fullest window has room). KEYS: the n
# logs, then each log's line (`take(space=True)`, ARGV[3 + n] = 1): a refused call comes
# back one `window / limit` after the caller refused before it (`base.line_up`).
_TAKE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local n = #KEYS / 2
local wait, binding = 0, 0
for i = 1, n do
  local key = KEYS[i]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= tonumber(ARGV[2 + i]) then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local w = tonumber(oldest[2]) + window - now
    if w > wait then wait, binding = w, i end
  end
end
if wait > 0 then
  if tonumber(ARGV[3 + n]) ~= 1 then return wait end
  local due = now + wait
  local line = tonumber(redis.call('GET', KEYS[n + binding]) or '0')
  local after = line + window / tonumber(ARGV[2 + binding])
  if after > due then due = math.ceil(after) end
  local ttl = math.ceil(due - now + window)
  redis.call('SET', KEYS[n + binding], string.format('%d', due), 'PX', ttl)
  return due - now
end
for i = 1, n do
  redis.call('ZADD', KEYS[i], now, ARGV[2])
  redis.call('PEXPIRE', KEYS[i], math.ceil(window))
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
            raise SharedStateUnavailable(f"Redis is unreachable: {exc}") from exc

    def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        with self._errors():
            return bool(self.client.set(key, value, nx=True, px=max(1, int(ttl * 1000))))

    def set(self, key: str, value: str, ttl: float) -> None:
        with self._errors():
            self.client.set(key, value, px=max(1, int(ttl * 1000)))

    def delete(self, key: str, value: str | None = None) -> None:
        """Delete `key` (only while it holds `value`, when given): one round trip."""
        with self._errors():
            if value is None:
                self.client.delete(key)
            else:
                self._delete_if(keys=[key], args=[value])

    def remaining(self, key: str) -> float:
        with self._errors():
            ms = int(self.client.pttl(key))  # -2: absent, -1: no expiry (never set here)
        return max(ms, 0) / 1000

    def take(
        self, limits: Sequence[tuple[str, int]], window: float, *, space: bool = False
    ) -> float:
        keys = [key for key, _ in limits]
        args: list[Any] = [window * 1000, uuid.uuid4().hex, *(limit for _, limit in limits)]
        with self._errors():
            wait_ms = int(
                self._take(keys=[*keys, *(f"{key}:line" for key in keys)], args=[*args, int(space)])
            )
        return wait_ms / 1000
