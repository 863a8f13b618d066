"""The intake's spool: Redis killed -9 while posts keep arriving loses nothing.

Real parts: an embedded Redis-protocol server process (killed with SIGKILL by its pid and
started again from its append-only file), the sandbox chat, the real intake, queue and outbox.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis
from PIL import Image

from bot import keys
from bot.connectors.base import IncomingMessage, MessageKind
from bot.connectors.sandbox import DEMO_MEMBER, DEMO_OFFICER, DEMO_OWNER, SandboxConnector
from bot.jobs import ScanJob
from bot.redis_server import connect
from bot.redis_text import stream_entries
from bot.service import BotService
from bot.settings import BotSettings, load_bot_settings
from bot.spool import Spool

OTHER_ROOM = "spool-other-room"


def outage_settings() -> BotSettings:
    """The shipped settings; the officer is told at once and the sender does not pace."""
    base = load_bot_settings()
    outbox = base.outbox.model_copy(
        update={"min_interval_seconds": 0.0, "messages_per_minute": 100_000}
    )
    intake = base.intake.model_copy(
        update={"outage_alert_seconds": 0.0, "outage_poll_seconds": 0.2}
    )
    return base.model_copy(update={"officers": (DEMO_OFFICER,), "outbox": outbox, "intake": intake})


def photo(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (seed * 37 % 256, 90, 30)).save(out, format="JPEG")
    return out.getvalue()


def spool_at(folder: Path, max_items: int = 1000) -> Spool:
    return Spool(folder, max_bytes=64 * 1024 * 1024, max_items=max_items)


@pytest.fixture
async def chat(
    client: redis.Redis, tmp_path: Path
) -> AsyncIterator[tuple[BotService, SandboxConnector]]:
    sandbox = SandboxConnector()
    sandbox.add_room(OTHER_ROOM, topic="外部群", owner_id="stranger", member_ids=(DEMO_MEMBER,))
    service = BotService(client, outage_settings(), sandbox, spool=spool_at(tmp_path / "spool"))
    await service.start()
    await sandbox.post(DEMO_OWNER, text="/enroll")
    yield service, sandbox
    await service.stop()


def kill_server(redis_dir: Path) -> None:
    pid = int(json.loads((redis_dir / "server.json").read_text())["server_pid"])
    os.kill(pid, signal.SIGKILL)


def queued_job_ids(client: redis.Redis) -> list[str]:
    entries = stream_entries(client.xrange(keys.JOBS_STREAM))
    return [ScanJob.from_fields(fields).job_id for _, fields in entries]


def bot_dms(sandbox: SandboxConnector) -> list[str]:
    return [line.text for line in sandbox.direct_messages(DEMO_OFFICER) if line.from_bot]


async def test_redis_killed_while_posts_arrive_every_post_becomes_a_job(
    chat: tuple[BotService, SandboxConnector], client: redis.Redis, redis_dir: Path
) -> None:
    service, sandbox = chat
    posted: list[IncomingMessage] = []
    for i in range(2):
        posted.append(await sandbox.post(DEMO_MEMBER, MessageKind.IMAGE, data=photo(i)))
    kill_server(redis_dir)
    for i in range(2, 6):
        posted.append(await sandbox.post(DEMO_MEMBER, MessageKind.IMAGE, data=photo(i)))
    posted.append(await sandbox.post(DEMO_MEMBER, text="关于2024年预算调整的通知 机密★1年"))
    await sandbox.post(DEMO_MEMBER, text="另一个群的消息内容", room_id=OTHER_ROOM)
    assert service.intake.spooled == 5  # the group not enrolled has nothing kept
    assert await sandbox.wait_for(lambda: any("中断" in t for t in bot_dms(sandbox)), 30)

    connect(redis_dir).close()  # the server again, from its append-only file

    assert await sandbox.wait_for(lambda: service.intake.spooled == 0, 60)
    assert queued_job_ids(client) == [m.key for m in posted]  # every post, in order, once
    assert await sandbox.wait_for(lambda: any("已恢复" in t for t in bot_dms(sandbox)), 30)
    over = next(t for t in bot_dms(sandbox) if "已恢复" in t)
    assert "5 条消息已按顺序补检" in over


async def test_posts_while_the_spool_replays_keep_their_order(
    chat: tuple[BotService, SandboxConnector], client: redis.Redis, redis_dir: Path
) -> None:
    service, sandbox = chat
    kill_server(redis_dir)
    posted = [await sandbox.post(DEMO_MEMBER, MessageKind.IMAGE, data=photo(i)) for i in range(3)]
    connect(redis_dir).close()
    posted += [await sandbox.post(DEMO_MEMBER, MessageKind.IMAGE, data=photo(9))]
    assert await sandbox.wait_for(lambda: service.intake.spooled == 0, 60)
    await asyncio.sleep(0)
    assert queued_job_ids(client) == [m.key for m in posted]


def message(number: int) -> IncomingMessage:
    return IncomingMessage(
        platform="sandbox",
        message_id=f"m{number}",
        kind=MessageKind.IMAGE,
        sender_id="wxid_a",
        sender_name="王小明",
        room_id="room@chatroom",
        room_topic="项目一组",
        filename="IMG_1.jpg",
        extra={"note": "x"},
    )


def test_spool_keeps_messages_and_bytes_in_order_across_a_restart(tmp_path: Path) -> None:
    spool = spool_at(tmp_path / "spool")
    for number in range(12):
        assert spool.append(message(number), 1000.0 + number, photo(number) if number % 2 else None)
    reopened = spool_at(tmp_path / "spool")  # a new process
    read = [reopened.read(p) for p in reopened.entries()]
    assert [r.message for r in read if r] == [message(n) for n in range(12)]
    assert [r.data for r in read if r] == [photo(n) if n % 2 else None for n in range(12)]
    assert [r.received_at for r in read if r] == [1000.0 + n for n in range(12)]
    assert reopened.append(message(12), 2000.0, None)
    assert reopened.entries()[-1].name.startswith("000000000013-")


def test_spool_is_private_and_bounded(tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    spool = spool_at(folder, max_items=3)
    assert all(spool.append(message(n), 1.0, photo(n)) for n in range(3))
    assert not spool.append(message(3), 1.0, photo(3))
    assert spool.refused == 1 and len(spool) == 3
    assert folder.stat().st_mode & 0o777 == 0o700
    assert {p.stat().st_mode & 0o777 for p in spool.entries()} == {0o600}
    small = Spool(tmp_path / "small", max_bytes=len(photo(0)) + 100, max_items=100)
    assert not small.append(message(0), 1.0, photo(0) * 2)


def test_a_truncated_spool_file_is_removed_and_the_rest_read(tmp_path: Path) -> None:
    spool = spool_at(tmp_path / "spool")
    for number in range(3):
        spool.append(message(number), 1.0, photo(number))
    broken = spool.entries()[1]
    broken.write_bytes(broken.read_bytes()[:-10])
    read = [spool.read(p) for p in spool.entries()]
    assert [r.message.message_id for r in read if r] == ["m0", "m2"]
    assert not broken.exists()
