"""Incident notices to an HTTP endpoint: a signed JSON POST, retried with backoff.

The body names the incident, the verdict, what was found (detector labels), the group, the
member, the time and a console link; never the content. The receiver checks
`X-Leaksentry-Signature: sha256=<hex HMAC-SHA256 of the raw body>` with the shared secret, and
may use `X-Leaksentry-Delivery` (the same id on every retry) to drop a repeat.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from bot.settings import WebhookSettings
from detectors.config import ConfigError

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Leaksentry-Signature"
DELIVERY_HEADER = "X-Leaksentry-Delivery"
_RETRY_AFTER_CAP_SECONDS = 300.0


class WebhookRejected(RuntimeError):
    """The endpoint refused the delivery (a 4xx other than 429): trying again will not help."""


class WebhookUnavailable(RuntimeError):
    """The endpoint kept failing (5xx, 429, timeouts, refused connections) for every attempt."""


def sign(secret: bytes, body: bytes) -> str:
    """The signature header's value for `body`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, header: str | None) -> bool:
    """What a receiver does: recompute the signature and compare in constant time."""
    return header is not None and hmac.compare_digest(sign(secret, body), header)


def encode(payload: Mapping[str, object]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class WebhookClient:
    url: str
    secret: bytes
    timeout_seconds: float
    max_attempts: int
    retry_base_seconds: float

    @classmethod
    def from_settings(
        cls, settings: WebhookSettings, environ: Mapping[str, str] | None = None
    ) -> WebhookClient | None:
        """The configured webhook, or None when its URL variable is unset."""
        env = os.environ if environ is None else environ
        url = env.get(settings.url_env, "").strip()
        if not url:
            return None
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{settings.url_env}: not an http(s) URL: {url!r}")
        secret = env.get(settings.secret_env, "")
        if not secret:
            raise ConfigError(f"{settings.secret_env} must be set when {settings.url_env} is")
        return cls(
            url=url,
            secret=secret.encode(),
            timeout_seconds=settings.timeout_seconds,
            max_attempts=settings.max_attempts,
            retry_base_seconds=settings.retry_base_seconds,
        )

    async def deliver(self, delivery_id: str, payload: Mapping[str, object]) -> int:
        """POST the payload; returns the 2xx/3xx status. Raises `WebhookRejected` on a 4xx
        (except 429) and `WebhookUnavailable` when every attempt failed."""
        body = encode(payload)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "leaksentry-webhook",
            SIGNATURE_HEADER: sign(self.secret, body),
            DELIVERY_HEADER: delivery_id,
        }
        timeout = aiohttp.ClientTimeout(total=self.timeout_seconds)
        problem = ""
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for attempt in range(1, self.max_attempts + 1):
                delay = self.retry_base_seconds * 2 ** (attempt - 1)
                try:
                    async with session.post(self.url, data=body, headers=headers) as response:
                        status = response.status
                        if status < 400:
                            return status
                        problem = f"HTTP {status}"
                        if status != 429 and status < 500:
                            raise WebhookRejected(
                                f"webhook {self.url} refused {delivery_id}: {problem}"
                            )
                        delay = max(delay, _retry_after(response.headers.get("Retry-After")))
                except (aiohttp.ClientError, TimeoutError) as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "webhook %s attempt %d/%d for %s failed: %s",
                    self.url,
                    attempt,
                    self.max_attempts,
                    delivery_id,
                    problem,
                )
                if attempt < self.max_attempts:
                    await asyncio.sleep(delay)
        raise WebhookUnavailable(
            f"webhook {self.url}: {delivery_id} failed {self.max_attempts} times, last: {problem}"
        )


def _retry_after(value: str | None) -> float:
    """Seconds a 429/503 asks us to wait (the delta form; a date is ignored)."""
    try:
        return min(max(float(value or 0), 0.0), _RETRY_AFTER_CAP_SECONDS)
    except ValueError:
        return 0.0
