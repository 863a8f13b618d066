"""Evidence encrypted at rest: what members posted is sealed with AES-256-GCM before it is
written to Redis (and so to its append-only file) or to the intake's spool.

The key is `LEAKSENTRY_EVIDENCE_KEY` (32 bytes, URL-safe base64 or hex) when it is set, which
every process of an installation spread over machines must share; else the file
`<data folder>/evidence.key`, created 0600 on first use, which every process on one machine
(`leaksentry run`, its workers) shares. Whoever reads Redis's files or the spool without the
key reads nothing of a leaked page.

A sealed value is `LSE1 | nonce (12 bytes) | ciphertext and tag`; the caller's `context` (the
content hash of the bytes) is bound in as associated data, so a sealed value cannot be moved
under another key.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.paths import data_dir

KEY_ENV = "LEAKSENTRY_EVIDENCE_KEY"
KEY_FILE = "evidence.key"
KEY_BYTES = 32
MAGIC = b"LSE1"
NONCE_BYTES = 12


class SealError(ValueError):
    """A value that is not sealed, or sealed with another key, or altered since."""


class Sealer:
    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise SealError(f"the evidence key must be {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)

    @classmethod
    def from_environment(cls) -> Sealer:
        """The installation's key: `LEAKSENTRY_EVIDENCE_KEY`, else the data folder's file."""
        return cls(installation_key())

    def seal(self, data: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return MAGIC + nonce + self._aead.encrypt(nonce, data, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        if not sealed.startswith(MAGIC):
            raise SealError("not a sealed value")
        nonce = sealed[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, sealed[len(MAGIC) + NONCE_BYTES :], context)
        except InvalidTag as exc:
            raise SealError("sealed with another evidence key, or altered") from exc


def installation_key() -> bytes:
    given = os.environ.get(KEY_ENV, "").strip()
    return decode_key(given) if given else _key_file(data_dir() / KEY_FILE)


def evidence_key_text() -> str:
    """This process's key as `LEAKSENTRY_EVIDENCE_KEY` takes it (for processes elsewhere)."""
    return base64.urlsafe_b64encode(installation_key()).decode()


def decode_key(text: str) -> bytes:
    """32 bytes from 64 hex digits or URL-safe base64 (as `new_key_text` writes)."""
    try:
        return bytes.fromhex(text) if len(text) == 2 * KEY_BYTES else base64.urlsafe_b64decode(text)
    except (ValueError, binascii.Error) as exc:
        raise SealError(f"{KEY_ENV} is neither hex nor base64") from exc


def new_key_text() -> str:
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()


def _key_file(path: Path) -> bytes:
    """The key in `path`, created (0600, exclusively: two processes starting at once agree)
    when there is none."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(100):  # another process created it a moment ago and is writing it
            text = path.read_text().strip()
            if text:
                return decode_key(text)
            time.sleep(0.02)
        raise SealError(f"{path} is empty") from None
    text = new_key_text()
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    return decode_key(text)
