"""Server-side console sessions in Redis; the cookie holds only a random id.

Redis stores the SHA-256 of the id, not the id itself, so a copy of the database does not hold
cookies that would work. A session ends when it has been idle for `idle_seconds`, after
`max_seconds` in any case, at logout, and when its user is removed (the user's `uid` no longer
matches). Each session carries its own CSRF token.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import redis

from bot import keys
from bot.redis_text import text_map
from bot.web.users import Role, UserStore


@dataclass(frozen=True)
class Session:
    key: str  # the Redis key, not the cookie value
    user: str
    role: Role
    csrf_token: str
    created_at: float


class SessionStore:
    """Blocking calls: from aiohttp handlers, run them in a thread."""

    def __init__(
        self, client: redis.Redis, users: UserStore, idle_seconds: float, max_seconds: float
    ) -> None:
        self._client = client
        self._users = users
        self._idle = max(1, int(idle_seconds))
        self._max = max_seconds

    def create(self, user: str, uid: str, role: Role, ip: str) -> tuple[str, Session]:
        """A new session: (the cookie value, the session)."""
        cookie = secrets.token_urlsafe(32)
        session = Session(_key(cookie), user, role, secrets.token_urlsafe(32), time.time())
        pipe = self._client.pipeline(transaction=True)
        pipe.hset(
            session.key,
            mapping={
                "user": user,
                "uid": uid,
                "role": role.value,
                "csrf": session.csrf_token,
                "created_at": repr(session.created_at),
                "ip": ip,
            },
        )
        pipe.expire(session.key, self._idle)
        pipe.execute()
        return cookie, session

    def load(self, cookie: str) -> Session | None:
        """The live session for a cookie value, its idle time restarted; None when there is none.

        The role comes from the user record, so a changed role applies at once.
        """
        if not cookie or len(cookie) > 128:
            return None
        key = _key(cookie)
        fields = text_map(self._client.hgetall(key))
        if not fields:
            return None
        user = self._users.get(fields["user"])
        created_at = float(fields["created_at"])
        if user is None or user.uid != fields["uid"] or time.time() - created_at > self._max:
            self._client.delete(key)
            return None
        self._client.expire(key, self._idle)
        return Session(key, user.name, user.role, fields["csrf"], created_at)

    def end(self, cookie: str) -> None:
        if cookie:
            self._client.delete(_key(cookie))


def _key(cookie: str) -> str:
    return keys.CONSOLE_SESSION + hashlib.sha256(cookie.encode()).hexdigest()
