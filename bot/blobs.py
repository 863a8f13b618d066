"""The bytes of scanned items, stored once in Redis under their SHA-256.

A forwarded copy of a photo has the same hash, so it is stored and scanned once. Bytes live
`retention.clean_blob_hours` from their last upload; the bytes of an item that opened or joined
an incident are kept as evidence for `retention.evidence_days`, unless
`retention.evidence_picture` is off ("findings only": then they expire like a clean item's). A
timeout never shortens a longer one that is already set (EXPIRE ... GT), so a clean re-post
cannot cut evidence short. The bytes are sealed (AES-GCM, `bot.sealing`) before they reach
Redis: its append-only file holds no picture.
"""

from __future__ import annotations

import hashlib

import redis
from redis.client import Pipeline

from bot import keys
from bot.redis_text import binary
from bot.sealing import Sealer, SealError
from bot.settings import BotSettings

HOUR = 3600
DAY = 24 * HOUR


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blob_key(sha256: str) -> str:
    return keys.BLOB + sha256


class Blobs:
    """Content-addressed bytes with a retention timeout (keys in `bot.keys.BLOB`)."""

    def __init__(
        self, client: redis.Redis, settings: BotSettings, sealer: Sealer | None = None
    ) -> None:
        self._redis = client
        self._sealer = sealer or Sealer.from_environment()
        retention = settings.retention
        self._clean_seconds = max(1, round(retention.clean_blob_hours * HOUR))
        self._evidence_seconds = max(1, round(retention.evidence_days * DAY))
        self._keep_picture = retention.evidence_picture

    def put(self, data: bytes, pipe: Pipeline | None = None) -> str:
        """Store `data` (once) and return its SHA-256; with `pipe`, only queue the writes."""
        digest = sha256_of(data)
        target = pipe if pipe is not None else self._redis.pipeline(transaction=True)
        sealed = self._sealer.seal(data, digest.encode())
        target.set(blob_key(digest), sealed, nx=True, ex=self._clean_seconds)
        target.expire(blob_key(digest), self._clean_seconds, gt=True)
        if pipe is None:
            target.execute()
        return digest

    def get(self, sha256: str) -> bytes | None:
        """The bytes, or None when they never were stored or have expired. Raises
        `SealError` when they were sealed with another key (a misconfigured machine)."""
        sealed = self._redis.get(blob_key(sha256))
        if sealed is None:
            return None
        data = self._sealer.open(binary(sealed), sha256.encode())
        if sha256_of(data) != sha256:
            raise SealError(f"blob {sha256} does not hash to its key")
        return data

    def keep_as_evidence(self, pipe: Pipeline | redis.Redis, sha256: str) -> None:
        """Keep the bytes for the evidence retention (queued on `pipe` inside a transaction);
        with "findings only" they keep the timeout of a clean item."""
        if self._keep_picture:
            pipe.expire(blob_key(sha256), self._evidence_seconds, gt=True)
