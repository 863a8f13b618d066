"""Failed console sign-ins slow down the next attempt: growing delays, never a lockout.

Failures are counted per client address and per user name in Redis (forgotten after
`forget_seconds` without one). After `free_failures` of them, each further failure makes the
next attempt wait `first_delay_seconds`, doubling, up to a cap. The address's cap is long (it
stops one machine guessing); the name's cap is short, and it does not apply to an address from
which that name signed in before, so that strangers guessing `admin` from everywhere slow the
guessing down without keeping the owner out. A throttled attempt is refused before the password
is checked, and it does not count as a failure. Redis holds the counts, so several console
processes share them and a restart forgets nothing.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import redis

from bot import keys


@dataclass(frozen=True)
class Backoff:
    free_failures: int
    first_delay_seconds: float
    max_delay_seconds: float

    def delay_after(self, failures: int) -> float:
        """Seconds the next attempt waits after `failures` failures in a row."""
        if failures < self.free_failures:
            return 0.0
        steps = min(failures - self.free_failures, 64)  # 2**64 s is past any cap
        return float(min(self.first_delay_seconds * 2**steps, self.max_delay_seconds))


@dataclass(frozen=True)
class LoginLimits:
    per_ip: Backoff
    per_user: Backoff
    forget_seconds: float
    known_address_seconds: float


class LoginLimiter:
    """Blocking calls: from aiohttp handlers, run them in a thread."""

    def __init__(self, client: redis.Redis, limits: LoginLimits) -> None:
        self._client = client
        self._limits = limits

    def blocked_for(self, user: str, ip: str) -> int:
        """Whole seconds until this name may be tried from this address; 0 when it may now."""
        pipe = self._client.pipeline(transaction=False)
        pipe.pttl(_wait_key(_ip_key(ip)))
        pipe.pttl(_wait_key(_user_key(user)))
        pipe.exists(_known_key(user, ip))
        ip_ms, user_ms, known = pipe.execute()
        wait_ms = max(int(ip_ms), 0 if known else int(user_ms), 0)
        return math.ceil(wait_ms / 1000)

    def record_failure(self, user: str, ip: str) -> None:
        counted = ((_ip_key(ip), self._limits.per_ip), (_user_key(user), self._limits.per_user))
        forget_ms = int(self._limits.forget_seconds * 1000)
        pipe = self._client.pipeline(transaction=True)
        for key, _ in counted:
            pipe.incr(key)
            pipe.pexpire(key, forget_ms)
        failures = pipe.execute()[::2]
        pipe = self._client.pipeline(transaction=False)
        for (key, backoff), count in zip(counted, failures, strict=True):
            delay_ms = int(backoff.delay_after(int(count)) * 1000)
            if delay_ms > 0:
                pipe.set(_wait_key(key), "1", px=delay_ms)
        pipe.execute()

    def record_success(self, user: str, ip: str) -> None:
        """The name's failures end, and this address is one the name's delay spares from now
        on; the address keeps its count (it may be guessing other names)."""
        key = _user_key(user)
        known_ms = int(self._limits.known_address_seconds * 1000)
        pipe = self._client.pipeline(transaction=True)
        pipe.delete(key, _wait_key(key))
        pipe.set(_known_key(user, ip), "1", px=known_ms)
        pipe.execute()


def _user_digest(user: str) -> str:
    # Hashed: the name is whatever was typed, of any length.
    return hashlib.sha256(user.strip().lower().encode()).hexdigest()[:32]


def _user_key(user: str) -> str:
    return keys.CONSOLE_LOGIN_FAILURES + "user:" + _user_digest(user)


def _ip_key(ip: str) -> str:
    return keys.CONSOLE_LOGIN_FAILURES + "ip:" + ip[:64]


def _wait_key(count_key: str) -> str:
    return count_key + ":wait"


def _known_key(user: str, ip: str) -> str:
    return keys.CONSOLE_LOGIN_KNOWN + _user_digest(user) + ":" + ip[:64]
