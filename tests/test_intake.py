"""The intake: enrollment, what is queued for scanning, commands and officers' replies.

Real parts: an embedded Redis-protocol server, the sandbox chat connector, the real queue,
incident store and outbox with its sender (so replies arrive in the sandbox chat).
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Callable

import pytest
import redis
from PIL import Image

from bot import keys
from bot.blobs import Blobs, sha256_of
from bot.connectors.base import MessageKind
from bot.connectors.sandbox import (
    DEMO_ADMIN,
    DEMO_MEMBER,
    DEMO_OFFICER,
    DEMO_OWNER,
    DEMO_ROOM,
    ChatLine,
    SandboxConnector,
)
from bot.incidents import FALSE_POSITIVE, OPEN
from bot.jobs import ScanJob
from bot.redis_text import stream_entries
from bot.service import BotService
from bot.settings import BotSettings, load_bot_settings

OTHER_ROOM = "sandbox-other-room"
IT_ADMIN = "it-admin"
SECRET_TEXT = "关于2024年预算调整的通知 机密★1年"


def fast_settings() -> BotSettings:
    """The shipped settings, with a sender that does not pace messages seconds apart."""
    base = load_bot_settings()
    outbox = base.outbox.model_copy(
        update={"min_interval_seconds": 0.0, "messages_per_minute": 100_000}
    )
    return base.model_copy(
        update={"officers": (DEMO_OFFICER,), "admins": (IT_ADMIN,), "outbox": outbox}
    )


@pytest.fixture
async def chat(client: redis.Redis) -> AsyncIterator[tuple[BotService, SandboxConnector]]:
    sandbox = SandboxConnector()
    sandbox.add_room(OTHER_ROOM, topic="外部群", owner_id="stranger", member_ids=(DEMO_MEMBER,))
    sandbox.add_room("it-room", topic="信息部", owner_id="it-owner", member_ids=(IT_ADMIN, "m2"))
    service = BotService(client, fast_settings(), sandbox)
    await service.start()
    yield service, sandbox
    await service.stop()


def png(color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(out, format="PNG")
    return out.getvalue()


async def settle(service: BotService, timeout: float = 10.0) -> None:
    """Until everything queued in the outbox has been delivered to the sandbox chat."""
    deadline = time.monotonic() + timeout
    while service.outbox.backlog() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert service.outbox.backlog() == 0, "the outbox did not drain"


def said(sandbox: SandboxConnector, room_id: str = DEMO_ROOM) -> list[ChatLine]:
    return [line for line in sandbox.transcript(room_id) if line.from_bot]


def dms(sandbox: SandboxConnector, contact_id: str) -> list[ChatLine]:
    return [line for line in sandbox.direct_messages(contact_id) if line.from_bot]


def jobs(client: redis.Redis) -> list[ScanJob]:
    return [ScanJob.from_fields(f) for _, f in stream_entries(client.xrange(keys.JOBS_STREAM))]


async def enroll(service: BotService, sandbox: SandboxConnector) -> None:
    await sandbox.post(DEMO_OWNER, text="/enroll")
    await settle(service)


def everything_stored(client: redis.Redis) -> bytes:
    """Every key and value in the server, as one blob of bytes to search."""
    readers: dict[bytes, Callable[[bytes], object]] = {
        b"string": client.get,
        b"hash": client.hgetall,
        b"set": client.smembers,
        b"zset": lambda k: client.zrange(k, 0, -1),
        b"list": lambda k: client.lrange(k, 0, -1),
        b"stream": client.xrange,
    }
    dump = [
        key + b"=" + repr(readers[client.type(key)](key)).encode() for key in client.scan_iter()
    ]
    return b"\n".join(dump)


async def test_enrollment_by_owner_and_configured_admin_only(
    chat: tuple[BotService, SandboxConnector],
) -> None:
    service, sandbox = chat
    await sandbox.post(DEMO_MEMBER, text="/enroll")
    await sandbox.post(DEMO_ADMIN, text="/enroll")  # a WeChat admin, not a configured one
    await settle(service)
    assert not service.groups.is_enrolled(DEMO_ROOM)
    refusals = said(sandbox)
    assert len(refusals) == 2 and all("只有群主或管理员" in line.text for line in refusals)
    assert refusals[0].mention_ids == (DEMO_MEMBER,)

    await enroll(service, sandbox)
    assert service.groups.is_enrolled(DEMO_ROOM)
    assert "已开启保密检测" in said(sandbox)[-1].text
    assert service.groups.recipients(DEMO_ROOM) == ((DEMO_OWNER, DEMO_ADMIN), (DEMO_OFFICER,))

    await sandbox.post(IT_ADMIN, text="@leaksentry\u2005/enroll", room_id="it-room")
    await settle(service)
    assert service.groups.is_enrolled("it-room")
    assert service.groups.recipients("it-room")[0] == ("it-owner",)


async def test_a_group_not_enrolled_gets_one_hint_and_nothing_is_stored(
    chat: tuple[BotService, SandboxConnector], client: redis.Redis
) -> None:
    service, sandbox = chat
    before = set(client.keys())
    image = png()
    await sandbox.post(DEMO_MEMBER, MessageKind.IMAGE, data=image, room_id=OTHER_ROOM)
    await sandbox.post(DEMO_MEMBER, text=SECRET_TEXT, room_id=OTHER_ROOM)
    await sandbox.post(DEMO_MEMBER, MessageKind.VIDEO, data=b"video", room_id=OTHER_ROOM)
    await sandbox.post(DEMO_MEMBER, text="/status", room_id=OTHER_ROOM)
    await settle(service)
    lines = said(sandbox, OTHER_ROOM)
    assert len(lines) == 1 and "/enroll" in lines[0].text

    await sandbox.post(DEMO_MEMBER, text="还在吗？" * 3, room_id=OTHER_ROOM)
    await settle(service)
    assert len(said(sandbox, OTHER_ROOM)) == 1  # silence from now on

    new_keys = set(client.keys()) - before
    assert not any(k.startswith((keys.BLOB.encode(), keys.JOB.encode())) for k in new_keys)
    assert not any(k.startswith(b"ls:in:") for k in new_keys)
    assert client.xlen(keys.JOBS_STREAM) == 0
    stored = everything_stored(client)
    assert SECRET_TEXT.encode() not in stored
    assert SECRET_TEXT.encode("unicode_escape") not in stored
    assert sha256_of(image).encode() not in stored
    assert not client.exists(keys.GROUPS + OTHER_ROOM)


async def test_enrolled_group_image_is_stored_and_queued_once(
    chat: tuple[BotService, SandboxConnector], client: redis.Redis
) -> None:
    service, sandbox = chat
    await enroll(service, sandbox)
    image = png()
    before = time.time()
    message = await sandbox.post(DEMO_MEMBER, MessageKind.IMAGE, data=image, filename="p.png")
    await sandbox.deliver(message)  # the platform delivers it again
    queued = jobs(client)
    assert len(queued) == 1
    job = queued[0]
    assert job.job_id == message.key and job.kind == "image" and job.filename == "p.png"
    assert (job.sha256, job.size, job.room_id) == (sha256_of(image), len(image), DEMO_ROOM)
    assert before <= job.received_at <= time.time()
    assert Blobs(client, service.settings).get(job.sha256) == image


async def test_text_is_queued_as_message_txt_and_short_text_and_commands_are_not(
    chat: tuple[BotService, SandboxConnector], client: redis.Redis
) -> None:
    service, sandbox = chat
    await enroll(service, sandbox)
    await sandbox.post(DEMO_MEMBER, text="好的")
    await sandbox.post(DEMO_MEMBER, text="/unknowncommand")
    await sandbox.post(DEMO_MEMBER, text=SECRET_TEXT)
    await sandbox.post(DEMO_MEMBER, MessageKind.URL, text="机密文件 - 内部通报 第3期")
    queued = jobs(client)
    assert [(j.kind, j.filename) for j in queued] == [
        ("text", "message.txt"),
        ("url", "message.txt"),
    ]
    assert Blobs(client, service.settings).get(queued[0].sha256) == SECRET_TEXT.encode()


async def test_video_and_voice_are_recorded_as_not_scanned(
    chat: tuple[BotService, SandboxConnector], client: redis.Redis
) -> None:
    service, sandbox = chat
    await enroll(service, sandbox)
    video = await sandbox.post(DEMO_MEMBER, MessageKind.VIDEO, data=b"\x00\x00\x00\x18ftypmp42")
    await sandbox.deliver(video)
    await sandbox.post(DEMO_MEMBER, MessageKind.VOICE, data=b"#!SILK_V3")
    assert client.xlen(keys.JOBS_STREAM) == 0
    entries = [fields for _, fields in client.xrange(keys.INTAKE_UNSCANNED)]
    assert [e[b"kind"] for e in entries] == [b"video", b"voice"]
    assert entries[0][b"message_key"] == video.key.encode()
    assert client.hget(keys.INTAKE_COUNTS, "unscanned:video") == b"1"


async def test_fetch_failure_is_recorded_and_the_officer_told(
    chat: tuple[BotService, SandboxConnector], client: redis.Redis
) -> None:
    service, sandbox = chat
    await enroll(service, sandbox)
    await sandbox.post(DEMO_MEMBER, MessageKind.FILE, filename="报告.pdf")  # no bytes to fetch
    await settle(service)
    assert client.xlen(keys.JOBS_STREAM) == 0
    (failure,) = [fields for _, fields in client.xrange(keys.INTAKE_FAILURES)]
    assert failure[b"reason"].startswith(b"fetch:")
    (notice,) = dms(sandbox, DEMO_OFFICER)
    assert "检测失败" in notice.text and "无法从聊天平台取回" in notice.text
    assert "报告.pdf" not in notice.text


async def test_recall_is_recorded_on_the_incident_and_recipients_told(
    chat: tuple[BotService, SandboxConnector], client: redis.Redis
) -> None:
    service, sandbox = chat
    await enroll(service, sandbox)
    posted = await sandbox.post(DEMO_MEMBER, MessageKind.IMAGE, data=png())
    (job,) = jobs(client)
    report = {
        "verdict": "high",
        "findings": [
            {"detector": "classification_marking", "label": "机密", "page": 1, "confidence": 0.9}
        ],
    }
    event = service.incidents.record(client, job, report)
    assert event is not None
    await sandbox.recall(posted)
    await settle(service)
    incident = service.incidents.get(event.incident_id)
    assert incident is not None and incident.sightings[0].recalled_at is not None
    for contact in (DEMO_OFFICER, DEMO_OWNER, DEMO_ADMIN):
        assert any(
            "撤回" in line.text and event.incident_id in line.text for line in dms(sandbox, contact)
        )


async def test_officer_replies_update_the_incident_and_others_are_refused(
    chat: tuple[BotService, SandboxConnector], client: redis.Redis
) -> None:
    service, sandbox = chat
    await enroll(service, sandbox)
    await sandbox.post(DEMO_MEMBER, MessageKind.IMAGE, data=png())
    (job,) = jobs(client)
    event = service.incidents.record(client, job, {"verdict": "medium", "findings": []})
    assert event is not None
    incident_id = event.incident_id

    await sandbox.direct(DEMO_MEMBER, f"误报 {incident_id}")
    await settle(service)
    assert "无法处理" in dms(sandbox, DEMO_MEMBER)[-1].text
    assert service.incidents.get(incident_id).status == OPEN  # type: ignore[union-attr]

    await sandbox.direct(DEMO_OFFICER, f"误报 {incident_id.lower()} 是培训材料")
    await sandbox.direct(DEMO_OFFICER, "误报 ZZZZZZ")
    await settle(service)
    incident = service.incidents.get(incident_id)
    assert incident is not None and incident.status == FALSE_POSITIVE
    assert (incident.audit[-1].actor, incident.audit[-1].note) == (DEMO_OFFICER, "是培训材料")
    replies = [line.text for line in dms(sandbox, DEMO_OFFICER)]
    assert f"已将事件 {incident_id} 标记为「误报」" in replies[0]
    assert "未找到事件 ZZZZZZ" in replies[1]

    await sandbox.direct(DEMO_ADMIN, f"确认 {incident_id}")  # a group admin may decide too
    await settle(service)
    assert service.incidents.get(incident_id).status == "confirmed"  # type: ignore[union-attr]


async def test_status_help_and_unenroll(
    chat: tuple[BotService, SandboxConnector], client: redis.Redis
) -> None:
    service, sandbox = chat
    await enroll(service, sandbox)
    await sandbox.post(DEMO_MEMBER, text="/status")
    await sandbox.post(DEMO_MEMBER, text="/help")
    await sandbox.post(DEMO_MEMBER, text="/unenroll")
    await settle(service)
    status, help_text, refused = (line.text for line in said(sandbox)[-3:])
    assert "已开启保密检测" in status and "保密员 1 人" in status and "待处理事件：0 件" in status
    assert "/enroll" in help_text and "/status" in help_text
    assert "只有群主或管理员" in refused
    assert service.groups.is_enrolled(DEMO_ROOM)

    await sandbox.post(DEMO_OWNER, text="/unenroll")
    await settle(service)
    assert "已关闭保密检测" in said(sandbox)[-1].text
    assert not service.groups.is_enrolled(DEMO_ROOM)
    await sandbox.post(DEMO_MEMBER, MessageKind.IMAGE, data=png())
    await settle(service)
    assert client.xlen(keys.JOBS_STREAM) == 0
    assert "已关闭保密检测" in said(sandbox)[-1].text  # no new hint after an unenroll
