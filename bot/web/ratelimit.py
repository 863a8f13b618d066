"""Failed console sign-ins, counted per user name and per client address in Redis.

A fixed window that starts at the first failure: after `max_per_user` failures for one name, or
`max_per_ip` from one address, sign-in is refused until the window ends. Counting per name stops
guessing one password from many addresses; counting per address stops trying many names.
Redis holds the counts, so several console processes share them and a restart forgets nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import redis

from bot import keys


@dataclass(frozen=True)
class LoginLimits:
    max_per_user: int
    max_per_ip: int
    window_seconds: float


class LoginLimiter:
    """Blocking calls: from aiohttp handlers, run them in a thread."""

    def __init__(self, client: redis.Redis, limits: LoginLimits) -> None:
        self._client = client
        self._limits = limits

    def blocked_for(self, user: str, ip: str) -> float:
        """Seconds until sign-in may be tried again for this name and address; 0 when it may."""
        checks = (
            (_user_key(user), self._limits.max_per_user),
            (_ip_key(ip), self._limits.max_per_ip),
        )
        pipe = self._client.pipeline(transaction=False)
        for key, _ in checks:
            pipe.get(key)
            pipe.pttl(key)
        replies = pipe.execute()
        wait_ms = 0
        for (_, limit), count, ttl_ms in zip(checks, replies[::2], replies[1::2], strict=True):
            if count is not None and int(count) >= limit:
                wait_ms = max(wait_ms, int(ttl_ms))
        return max(wait_ms, 0) / 1000

    def record_failure(self, user: str, ip: str) -> None:
        window_ms = int(self._limits.window_seconds * 1000)
        pipe = self._client.pipeline(transaction=True)
        for key in (_user_key(user), _ip_key(ip)):
            pipe.incr(key)
            pipe.pexpire(key, window_ms, nx=True)
        pipe.execute()

    def clear_user(self, user: str) -> None:
        """After a successful sign-in; the address keeps its count (it may be guessing others)."""
        self._client.delete(_user_key(user))


def _user_key(user: str) -> str:
    # Hashed: the name is whatever was typed, of any length.
    digest = hashlib.sha256(user.strip().lower().encode()).hexdigest()[:32]
    return keys.CONSOLE_LOGIN_FAILURES + "user:" + digest


def _ip_key(ip: str) -> str:
    return keys.CONSOLE_LOGIN_FAILURES + "ip:" + ip[:64]
