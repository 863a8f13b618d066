"""Console users: a name, a role and an Argon2id password hash, stored in Redis.

Each user record carries a random `uid`. Sessions remember it, so removing a user (or removing
and re-adding the same name) ends every session that user had.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum

import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot import keys
from bot.redis_text import text, text_map

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # hashing megabytes of "password" is a denial of service


class Role(StrEnum):
    """`admin` may do everything an `officer` may, and manage users and groups."""

    OFFICER = "officer"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        return self is Role.ADMIN or needed is Role.OFFICER


class UserError(ValueError):
    """A user name, role or password that cannot be accepted; the message says why."""


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    uid: str
    created_at: float


def normalize_name(name: str) -> str:
    return name.strip().lower()


def check_name(name: str) -> str:
    normalized = normalize_name(name)
    if not NAME_PATTERN.match(normalized):
        raise UserError(
            "a user name is 1-64 characters: letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return normalized


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"a password has at most {MAX_PASSWORD_LENGTH} characters")


class UserStore:
    """Users in Redis. Blocking calls: from aiohttp handlers, run them in a thread."""

    def __init__(self, client: redis.Redis, hasher: PasswordHasher | None = None) -> None:
        self._client = client
        self._hasher = hasher or PasswordHasher()
        # Verified when the user name is unknown, so that a wrong name costs as long as a
        # wrong password and the timing does not tell which names exist.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    def add(self, name: str, role: Role, password: str) -> User:
        name = check_name(name)
        check_password(password)
        user = User(name, role, secrets.token_hex(8), time.time())
        password_hash = self._hasher.hash(password)
        key = keys.CONSOLE_USER + name
        # HSETNX on the uid decides who wins when two processes add the same name at once.
        if not self._client.hsetnx(key, "uid", user.uid):
            raise UserError(f"user {name!r} already exists")
        pipe = self._client.pipeline(transaction=True)
        pipe.hset(
            key,
            mapping={
                "uid": user.uid,
                "role": role.value,
                "password_hash": password_hash,
                "created_at": repr(user.created_at),
            },
        )
        pipe.sadd(keys.CONSOLE_USER_NAMES, name)
        pipe.execute()
        return user

    def remove(self, name: str) -> bool:
        name = normalize_name(name)
        pipe = self._client.pipeline(transaction=True)
        pipe.delete(keys.CONSOLE_USER + name)
        pipe.srem(keys.CONSOLE_USER_NAMES, name)
        removed, _ = pipe.execute()
        return bool(removed)

    def get(self, name: str) -> User | None:
        name = normalize_name(name)
        if not NAME_PATTERN.match(name):
            return None
        return _user(name, self._client.hgetall(keys.CONSOLE_USER + name))

    def list(self) -> list[User]:
        names = sorted(text(n) for n in self._client.smembers(keys.CONSOLE_USER_NAMES))
        found = (self.get(name) for name in names)
        return [user for user in found if user is not None]

    def count(self) -> int:
        return int(self._client.scard(keys.CONSOLE_USER_NAMES))

    def language(self, name: str) -> str | None:
        """The console language the user chose (None: not chosen; the browser's applies)."""
        found = self._client.hget(keys.CONSOLE_USER + normalize_name(name), "language")
        return None if found is None else text(found)

    def set_language(self, name: str, language: str) -> None:
        key = keys.CONSOLE_USER + normalize_name(name)
        if self._client.exists(key):  # not for a user removed meanwhile
            self._client.hset(key, "language", language)

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when the password matches; None otherwise, in about the same time."""
        normalized = normalize_name(name)
        if not NAME_PATTERN.match(normalized) or len(password) > MAX_PASSWORD_LENGTH:
            self._verify(self._dummy_hash, password[:MAX_PASSWORD_LENGTH])
            return None
        key = keys.CONSOLE_USER + normalized
        record = text_map(self._client.hgetall(key))
        user = _user(normalized, record)
        if user is None:
            self._verify(self._dummy_hash, password)
            return None
        stored = record["password_hash"]
        if not self._verify(stored, password):
            return None
        if self._hasher.check_needs_rehash(stored):
            self._client.hset(key, "password_hash", self._hasher.hash(password))
        return user

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False


def _user(name: str, record: dict) -> User | None:
    fields = text_map(record)
    if "password_hash" not in fields or "role" not in fields:
        return None  # absent, or half-written by an add that is still running
    return User(name, Role(fields["role"]), fields["uid"], float(fields["created_at"]))
