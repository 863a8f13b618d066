"""The platform-independent half of an end-to-end stack, for the QQ and Feishu tests: a Redis
process, worker processes with real OCR and the bot service in this process, on whatever
connector the test hands it (talking to its platform's stand-in). The WeChat tests
(`test_e2e_wechat`) built these parts first; they are taken from there."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from bot.connectors.base import ChatConnector
from bot.incidents import Incidents
from bot.outbox import Outbox
from bot.queue import JobQueue
from bot.service import BotService
from bot.settings import BotSettings, load_bot_settings
from bot.worker import Supervisor
from tests.test_e2e_wechat import WAIT, RedisProcess, config_copy, stack_env, until

PLATFORM_VARIABLES = (
    "ONEBOT_WS_URL",
    "ONEBOT_ACCESS_TOKEN",
    "FEISHU_APP_ID",
    "FEISHU_APP_SECRET",
    "FEISHU_VERIFICATION_TOKEN",
    "FEISHU_ENCRYPT_KEY",
    "FEISHU_BASE_URL",
)


@dataclass
class ServiceStack:
    redis: RedisProcess
    client: redis.Redis
    settings: BotSettings
    service: BotService
    workers: Supervisor
    env: dict[str, str]

    @property
    def queue(self) -> JobQueue:
        return JobQueue(self.client, self.settings)

    @property
    def outbox(self) -> Outbox:
        return self.service.outbox

    @property
    def incidents(self) -> Incidents:
        return Incidents(self.client, self.settings)

    def cli(self, *args: str) -> str:
        """`leaksentry ARGS` on this stack's Redis and config; its output."""
        done = subprocess.run(
            [sys.executable, "-m", "bot.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    async def idle(self, timeout: float = WAIT) -> None:
        """Until no job is waiting or in a worker and nothing is left in the outbox (nor held
        for a batched DM); then a moment for the stand-in to see the last sends."""
        await until(
            lambda: self.queue.depth().total == 0 and self.outbox.backlog() == 0,
            "the queue and the outbox to drain",
            timeout,
        )
        await asyncio.sleep(1.0)


@contextlib.asynccontextmanager
async def service_stack(
    folder: Path, connector: ChatConnector, *, workers: int, bot_settings: dict[str, Any]
) -> AsyncIterator[ServiceStack]:
    """Redis process, worker processes and the bot service on `connector` (started), all in
    `folder`; torn down on exit. The platform's stand-in must be up before."""
    config_dir = config_copy(folder / "config", bot_settings)
    server = RedisProcess(folder / "redis")
    env = stack_env(server.url, config_dir, folder / "data")
    for name in PLATFORM_VARIABLES:
        env.pop(name, None)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # what is loaded in this process reads the same settings
    supervisor = Supervisor(workers, "e2e-worker", config_dir=config_dir, env=env)
    client = redis.Redis.from_url(server.url)
    try:
        server.start()
        supervisor.start()
        settings = load_bot_settings(config_dir)
        service = BotService(client, settings, connector)
        await service.start()
        try:
            yield ServiceStack(server, client, settings, service, supervisor, env)
        finally:
            await service.stop()
    finally:
        supervisor.stop()
        client.close()
        server.kill()
        os.environ.clear()
        os.environ.update(saved)
