"""The bot service end to end: sandbox chat → intake → Redis → a real worker with real OCR →
incident → outbox → warning in the group and DMs to the officer and the admins.

Also the commands that start it: `leaksentry run` (workers + bot on the sandbox, stopped by
SIGTERM) and `leaksentry bot` without a token.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest
import redis
from PIL import Image, ImageDraw, ImageFont

from bot import keys
from bot.connectors.base import MessageKind
from bot.connectors.sandbox import (
    DEMO_ADMIN,
    DEMO_MEMBER,
    DEMO_OFFICER,
    DEMO_OWNER,
    SandboxConnector,
)
from bot.redis_server import connect
from bot.service import BotService
from bot.worker import run_worker
from detectors import load_config
from tests.test_intake import OTHER_ROOM, dms, fast_settings, said, settle

FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
TITLE = "关于加强内部资料管理的通知"
BODY = (
    "各部门：",
    "为进一步规范内部资料的使用与保管，现将有关事项通知如下。",
    "一、严格执行资料登记制度。",
)
PAGE_WORDS = (TITLE, *BODY, "资料登记", "规范内部资料")


def marked_page() -> bytes:
    """An A4 page at 150 dpi marked 机密★1年 in the top right, as a PNG."""
    image = Image.new("RGB", (1240, 1754), "white")
    draw = ImageDraw.Draw(image)
    large, body = ImageFont.truetype(FONT, 44), ImageFont.truetype(FONT, 34)
    draw.text((900, 120), "机密★1年", font=large, fill="black")
    draw.text((300, 360), TITLE, font=large, fill="black")
    for i, line in enumerate(BODY):
        draw.text((150, 520 + i * 70), line, font=body, fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
async def running(redis_dir: Path) -> AsyncIterator[tuple[BotService, SandboxConnector]]:
    """The bot on the sandbox chat and one worker thread, sharing the embedded server."""
    client = connect(redis_dir)
    settings = fast_settings()
    stop = threading.Event()
    worker = threading.Thread(
        target=run_worker,
        args=(lambda: connect(redis_dir), load_config(), settings, "test-worker", stop),
        daemon=True,
    )
    worker.start()
    sandbox = SandboxConnector()
    sandbox.add_room(OTHER_ROOM, topic="外部群", owner_id="stranger", member_ids=(DEMO_MEMBER,))
    service = BotService(client, settings, sandbox)
    await service.start()
    yield service, sandbox
    await service.stop()
    stop.set()
    worker.join(timeout=30)
    client.close()


async def test_marked_photo_warns_the_member_and_alerts_officer_and_admins_once(
    running: tuple[BotService, SandboxConnector],
) -> None:
    service, sandbox = running
    await sandbox.post(DEMO_OWNER, text="/enroll")
    await settle(service)
    enrolled_lines = len(said(sandbox))

    await sandbox.post(DEMO_MEMBER, MessageKind.IMAGE, data=marked_page(), filename="page.png")

    def alerted() -> bool:
        recipients = (DEMO_OFFICER, DEMO_OWNER, DEMO_ADMIN)
        return len(said(sandbox)) > enrolled_lines and all(dms(sandbox, c) for c in recipients)

    assert await sandbox.wait_for(alerted, timeout=120), "no warning and alerts within 120 s"
    await settle(service)  # anything else queued is delivered too: then count
    warning = said(sandbox)[-1]
    assert warning.mention_ids == (DEMO_MEMBER,)
    assert "撤回" in warning.text
    for contact in (DEMO_OFFICER, DEMO_OWNER, DEMO_ADMIN):
        (alert,) = dms(sandbox, contact)
        assert "机密" in alert.text and "演示工作群" in alert.text
    incidents = service.incidents.list()
    assert len(incidents) == 1 and incidents[0].incident_id in dms(sandbox, DEMO_OFFICER)[0].text
    every_message = [line.text for line in sandbox.transcript() if line.from_bot] + [
        line.text for c in (DEMO_OFFICER, DEMO_OWNER, DEMO_ADMIN) for line in dms(sandbox, c)
    ]
    assert not [m for m in every_message for word in PAGE_WORDS if word in m]
    assert len(said(sandbox)) == enrolled_lines + 1  # one warning

    # The same photo in a group that is not enrolled: the hint, nothing scanned or stored.
    await sandbox.post(DEMO_MEMBER, MessageKind.IMAGE, data=marked_page(), room_id=OTHER_ROOM)
    await settle(service)
    assert [line.text for line in said(sandbox, OTHER_ROOM)] == [
        service.templates.render("enroll_help", group="外部群")
    ]
    assert service.client.xlen(keys.JOBS_STREAM) == 0
    assert len(service.incidents.list()) == 1
    assert len(service.incidents.list()[0].sightings) == 1


def test_run_serves_the_sandbox_with_workers_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "WECHATY_PUPPET_SERVICE_TOKEN")
    }
    env["LEAKSENTRY_DATA_DIR"] = str(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--workers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = _lines_until(process, "bot service up", timeout=60)
        assert any("sandbox" in line for line in lines)
        workers = _wait_for_children(process.pid, "worker", timeout=30)
        client = redis.Redis.from_url(_server_url(tmp_path))
        assert client.ping()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_bot_without_a_token_says_what_is_missing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WECHATY_")}
    env["LEAKSENTRY_DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "bot"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "WECHATY_PUPPET_SERVICE_TOKEN" in result.stderr


def _lines_until(process: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    """Output lines of `process` up to one containing `marker`."""
    assert process.stdout is not None
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:  # read to the end: a full pipe would block the process
            lines.append(line)
            if marker in line:
                found.set()

    threading.Thread(target=read, daemon=True).start()
    assert found.wait(timeout), "".join(lines)[-3000:]
    return lines


def _wait_for_children(pid: int, word: str, timeout: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = [c for c in psutil.Process(pid).children() if word in " ".join(c.cmdline())]
        if children:
            return children
        time.sleep(0.2)
    raise AssertionError(f"no {word} process started within {timeout} s")


def _server_url(data_dir: Path) -> str:
    return str(json.loads((data_dir / "redis" / "server.json").read_text())["url"])
