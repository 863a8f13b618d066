"""The webhook client against a real aiohttp server: signature, retries, giving up."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from bot.settings import load_bot_settings
from bot.webhook import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    WebhookClient,
    WebhookRejected,
    WebhookUnavailable,
)
from detectors.config import ConfigError

SECRET = b"webhook-secret"
PAYLOAD = {"event": "incident.new", "incident_id": "A7K3Q9", "group": {"topic": "财务科工作群"}}


@dataclass
class Receiver:
    """An endpoint that answers with the scripted statuses in turn (then 200) and checks each
    request's signature the way a real receiver would."""

    statuses: list[int] = field(default_factory=list)
    delay_seconds: float = 0.0
    requests: list[tuple[dict[str, str], bytes, bool]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        header = request.headers.get(SIGNATURE_HEADER, "")
        expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        self.requests.append((dict(request.headers), body, hmac.compare_digest(header, expected)))
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        status = self.statuses.pop(0) if self.statuses else 200
        headers = {"Retry-After": "0"} if status == 429 else {}
        return web.Response(status=status, headers=headers)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    endpoint = Receiver()
    app = web.Application()
    app.router.add_post("/hook", endpoint.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    endpoint.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield endpoint
    await runner.cleanup()


def client(url: str, max_attempts: int = 4, timeout: float = 5.0) -> WebhookClient:
    return WebhookClient(
        url=url,
        secret=SECRET,
        timeout_seconds=timeout,
        max_attempts=max_attempts,
        retry_base_seconds=0.01,
    )


async def test_signed_json_body(receiver: Receiver) -> None:
    assert await client(receiver.url).deliver("delivery-1", PAYLOAD) == 200
    [(headers, body, signature_ok)] = receiver.requests
    assert signature_ok
    assert headers[DELIVERY_HEADER] == "delivery-1"
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == PAYLOAD


async def test_retries_after_a_server_error_with_the_same_delivery(receiver: Receiver) -> None:
    receiver.statuses = [500, 503, 429]
    assert await client(receiver.url).deliver("delivery-2", PAYLOAD) == 200
    assert len(receiver.requests) == 4
    assert {h[DELIVERY_HEADER] for h, _, _ in receiver.requests} == {"delivery-2"}
    assert all(ok for _, _, ok in receiver.requests)


async def test_stops_at_a_client_error(receiver: Receiver) -> None:
    receiver.statuses = [400, 500]
    with pytest.raises(WebhookRejected, match="400"):
        await client(receiver.url).deliver("delivery-3", PAYLOAD)
    assert len(receiver.requests) == 1


async def test_gives_up_after_max_attempts(receiver: Receiver) -> None:
    receiver.statuses = [502] * 10
    with pytest.raises(WebhookUnavailable, match="502"):
        await client(receiver.url, max_attempts=3).deliver("delivery-4", PAYLOAD)
    assert len(receiver.requests) == 3


async def test_timeouts_are_retried(receiver: Receiver) -> None:
    receiver.delay_seconds = 0.5
    with pytest.raises(WebhookUnavailable, match="Timeout"):
        await client(receiver.url, max_attempts=2, timeout=0.1).deliver("delivery-5", PAYLOAD)
    assert len(receiver.requests) == 2


async def test_a_wrong_secret_does_not_verify(receiver: Receiver) -> None:
    forged = WebhookClient(receiver.url, b"guess", 5.0, 1, 0.01)
    await forged.deliver("delivery-6", PAYLOAD)
    assert receiver.requests[0][2] is False


def test_from_settings() -> None:
    settings = load_bot_settings().webhook
    assert WebhookClient.from_settings(settings, environ={}) is None
    url = {settings.url_env: "https://hooks.example.org/leaksentry"}
    with pytest.raises(ConfigError, match=settings.secret_env):
        WebhookClient.from_settings(settings, environ=url)
    with pytest.raises(ConfigError, match="http"):
        WebhookClient.from_settings(
            settings, environ={settings.url_env: "ftp://x", settings.secret_env: "s"}
        )
    configured = WebhookClient.from_settings(settings, environ={**url, settings.secret_env: "s"})
    assert configured is not None and configured.secret == b"s"
    assert configured.max_attempts == settings.max_attempts
