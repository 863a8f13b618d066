"""One rate limit for every message the bot sends on WeChat, shared by all its processes.

WeChat's risk control bans accounts that send fast, so every outgoing chat message, from any
process on any machine, takes a slot here first: at most `limit` slots in any `window`, and
each slot at least `min_interval` after the one before. A Lua script hands out the next free
slot atomically (a sliding-window log of granted slots, on the server's clock, so that machines
with skewed clocks still agree), and the caller sleeps until its slot. Slots are granted first
come, first served.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

import redis.asyncio

from bot import keys
from bot.settings import OutboxSettings

WINDOW_SECONDS = 60.0
"""`messages_per_minute` counts over this sliding window."""

# KEYS: slots zset, last-slot key. ARGV: window ms, limit, min interval ms, slot token.
# Returns {granted slot, now}, both in ms of the server's clock.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local interval = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local slot = now
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
if last + interval > slot then slot = last + interval end
local taken = redis.call('ZCARD', KEYS[1])
if taken >= limit then
  local bound = redis.call('ZRANGE', KEYS[1], taken - limit, taken - limit, 'WITHSCORES')
  local free = tonumber(bound[2]) + window
  if free > slot then slot = free end
end
redis.call('ZADD', KEYS[1], slot, ARGV[4] .. ':' .. slot)
redis.call('SET', KEYS[2], slot, 'PX', slot - now + window)
redis.call('PEXPIRE', KEYS[1], slot - now + window)
return {slot, now}
"""


@dataclass(frozen=True)
class Slot:
    at: float
    """When the message may go: Unix time on the Redis server's clock."""
    wait: float
    """Seconds from the reservation to the slot."""


class RateLimiter:
    """`await acquire()` before each send; it returns when this send's slot has come."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        limit: int,
        min_interval_seconds: float,
        window_seconds: float = WINDOW_SECONDS,
        key: str = keys.OUTBOX_RATE,
        last_key: str = keys.OUTBOX_RATE_LAST,
    ) -> None:
        if limit < 1 or window_seconds <= 0 or min_interval_seconds < 0:
            raise ValueError("a rate limit needs limit >= 1, window > 0 and interval >= 0")
        self._client = client
        self._limit = limit
        self._window_ms = round(window_seconds * 1000)
        self._interval_ms = round(min_interval_seconds * 1000)
        self._keys = [key, last_key]
        self._script = client.register_script(_RESERVE)

    @classmethod
    def from_settings(cls, client: redis.asyncio.Redis, settings: OutboxSettings) -> RateLimiter:
        return cls(
            client,
            limit=settings.messages_per_minute,
            min_interval_seconds=settings.min_interval_seconds,
        )

    async def acquire(self) -> Slot:
        """Wait for the next free slot, and return it."""
        slot = await self.reserve()
        if slot.wait > 0:
            await asyncio.sleep(slot.wait)
        return slot

    async def reserve(self) -> Slot:
        """Take the next free slot without waiting for it (`acquire` waits)."""
        token = secrets.token_hex(6)
        args: list[int | str] = [self._window_ms, self._limit, self._interval_ms, token]
        at_ms, now_ms = (int(v) for v in await self._script(keys=self._keys, args=args))
        return Slot(at=at_ms / 1000, wait=(at_ms - now_ms) / 1000)
