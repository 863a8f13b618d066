"""What the console's tests share: one embedded Redis per test module (emptied before each
test), the two accounts, the real app on a local port, and signing in through the real form.

A test module takes the fixtures by importing them under their own names
(`from tests.console import client as client`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from bot.redis_server import connect, stop_embedded
from bot.settings import BotSettings, load_bot_settings
from bot.web.app import create_app
from bot.web.i18n import LANGUAGE_COOKIE
from bot.web.users import Role, UserStore
from detectors import ScanConfig

PASSWORD = "correct horse battery"
ADMIN = "alice"
OFFICER = "bob"

ClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture(scope="module")
def redis_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("data") / "redis"
    connect(folder)
    yield folder
    stop_embedded(folder)


@pytest.fixture
def client(redis_dir: Path) -> redis.Redis:
    found = connect(redis_dir)
    found.flushdb()
    return found


@pytest.fixture
def users(client: redis.Redis) -> UserStore:
    store = UserStore(client)
    store.add(ADMIN, Role.ADMIN, PASSWORD)
    store.add(OFFICER, Role.OFFICER, PASSWORD)
    return store


def console_settings(**changes: object) -> BotSettings:
    settings = load_bot_settings()
    return settings.model_copy(update={"console": settings.console.model_copy(update=changes)})


@pytest.fixture
async def make_client(client: redis.Redis, config: ScanConfig) -> AsyncIterator[ClientFactory]:
    started: list[TestClient] = []

    async def make(
        settings: BotSettings | None = None,
        redis_client: redis.Redis = client,
        pages: tuple = (),
        language: str | None = "en",
    ) -> TestClient:
        """A client of the real app; `language` is the console language its cookie chooses
        (the texts these tests look for are English), None for none (the default, zh_CN)."""
        app = create_app(redis_client, config, settings or console_settings(), pages=pages)
        test_client = TestClient(TestServer(app))
        await test_client.start_server()
        if language:
            test_client.session.cookie_jar.update_cookies(
                {LANGUAGE_COOKIE: language}, test_client.make_url("/")
            )
        started.append(test_client)
        return test_client

    yield make
    for test_client in started:
        await test_client.close()


async def login(
    http: TestClient, name: str, password: str = PASSWORD, **headers: str
) -> ClientResponse:
    form = await http.get("/login", headers=headers)
    token = hidden_field(await form.text(), "csrf_token")
    return await http.post(
        "/login",
        data={"csrf_token": token, "username": name, "password": password, "next": "/"},
        headers=headers,
        allow_redirects=False,
    )


async def signed_in(make_client: ClientFactory, name: str, **options: Any) -> TestClient:
    """A client of an app made with `options` (see `make_client`), signed in as `name`."""
    http = await make_client(**options)
    response = await login(http, name)
    assert response.status == 303, await response.text()
    return http


async def csrf_token(http: TestClient) -> str:
    return str((await (await http.get("/api/session")).json())["csrf_token"])


def hidden_field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden {name} in the page"
    return found.group(1)
