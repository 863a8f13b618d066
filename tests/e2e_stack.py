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
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import redis

from bot.connectors.base import ChatConnector
from bot.incidents import Incidents
from bot.outbox import Outbox
from bot.queue import JobQueue, job_key
from bot.service import BotService
from bot.settings import BotSettings, load_bot_settings
from bot.templates import load_templates
from bot.worker import Supervisor
from tests.test_e2e_wechat import PAGE_TEXT, WAIT, RedisProcess, config_copy, stack_env, until

PLATFORM_VARIABLES = (
    "ONEBOT_WS_URL",
    "ONEBOT_ACCESS_TOKEN",
    "FEISHU_APP_ID",
    "FEISHU_APP_SECRET",
    "FEISHU_VERIFICATION_TOKEN",
    "FEISHU_ENCRYPT_KEY",
    "FEISHU_BASE_URL",
    "FEISHU_EVENTS",
    "FEISHU_CALLBACK_LISTEN",
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


# --- what the bot said, on any platform ----------------------------------------------------


@dataclass(frozen=True)
class Said:
    """Something the bot sent, as a platform's stand-in saw it, in leaksentry's ids."""

    room_id: str | None
    to_id: str | None
    """The contact of a direct message (None in a group)."""
    text: str
    mention_ids: tuple[str, ...]


class ChatView(Protocol):
    """A stand-in's record of what the bot sent."""

    def said(self) -> list[Said]: ...

    async def wait_until_said(self, predicate: Callable[[Said], bool]) -> Said: ...


@dataclass(frozen=True)
class ChatGroup:
    room_id: str
    topic: str
    admin: str
    """The group's owner: its admin for alerts."""
    officer: str


def in_room(chat: ChatView, group: ChatGroup) -> list[Said]:
    return [s for s in chat.said() if s.room_id == group.room_id]


def dms_to(chat: ChatView, contact_id: str) -> list[Said]:
    return [s for s in chat.said() if s.to_id == contact_id]


def assert_no_page_content(messages: list[Said]) -> None:
    """Alerts name what was found, never what the page says."""
    for said in messages:
        for words in PAGE_TEXT:
            assert words not in said.text, (words, said.text)


async def alerted_once(
    stack: ServiceStack,
    chat: ChatView,
    group: ChatGroup,
    member: tuple[str, str],
    message_key: str,
    item: str = "图片",
) -> None:
    """The item's @-warning to `member` (id, name) in the group and one DM to the group's
    admin and officer each, each exactly once, when everything has been sent."""
    member_id, member_name = member
    warning = await chat.wait_until_said(
        lambda s: s.room_id == group.room_id and member_id in s.mention_ids
    )
    for contact in (group.admin, group.officer):
        await chat.wait_until_said(lambda s, c=contact: s.to_id == c)
    await stack.idle()
    incident = stack.incidents.by_message(message_key)
    assert incident is not None
    assert [s.message_key for s in incident.sightings] == [message_key]
    assert stack.client.get(job_key(message_key)) == b"done"

    assert [s for s in in_room(chat, group) if s.mention_ids] == [warning]
    template = load_templates(stack.settings.source_dir).render(
        "member_warning", member=member_name, item=item, group=group.topic
    )
    assert warning.mention_ids == (member_id,) and warning.text.endswith(template)
    for contact in (group.admin, group.officer):
        (dm,) = dms_to(chat, contact)
        assert f"事件编号 {incident.incident_id}" in dm.text
        assert f"群聊：{group.topic}" in dm.text and f"发送人：{member_name}" in dm.text
    assert not dms_to(chat, member_id)
    assert_no_page_content([warning, *dms_to(chat, group.admin), *dms_to(chat, group.officer)])


def enroll_by_cli(stack: ServiceStack, group: ChatGroup) -> None:
    """`leaksentry groups enroll ROOM --officer OFFICER` (its admins taken from the room)."""
    out = stack.cli("groups", "enroll", group.room_id, "--officer", group.officer)
    assert f"enrolled {group.room_id}; officers: {group.officer}" in out
