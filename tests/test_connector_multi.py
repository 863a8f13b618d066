"""One bot on several platforms: the sandbox chat (bare ids, standing in for WeChat), QQ against
the OneBot v11 stand-in and Feishu against its stand-in, behind one `MultiConnector`; and which
platforms `leaksentry bot` and `run` serve from the environment."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot import service
from bot.connectors.base import ConnectorError, MessageKind, SendError
from bot.connectors.feishu import FeishuConnector, feishu_id
from bot.connectors.multi import MultiConnector
from bot.connectors.onebot import OneBotConnector, qq_id
from bot.connectors.sandbox import DEMO_MEMBER, DEMO_OFFICER, DEMO_ROOM, SandboxConnector
from tests.connector_inbox import WAIT, Inbox
from tests.harness.feishu_server import BOT_OPEN_ID, FeishuServer
from tests.harness.onebot_server import OneBotServer
from tests.harness_client import free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")

QQ_GROUP, QQ_OWNER, QQ_MEMBER = 40001, 41001, 41002
CHAT, FEISHU_OWNER = "oc_multi000000000000000000000001", "ou_multiowner000000000000000001"


def feishu_connector(feishu: FeishuServer) -> FeishuConnector:
    return FeishuConnector(
        feishu.app_id,
        feishu.app_secret,
        verification_token=feishu.verification_token,
        encrypt_key=feishu.encrypt_key,
        base_url=feishu.base_url,
        listen=f"127.0.0.1:{free_port()}",
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def servers() -> AsyncIterator[tuple[OneBotServer, FeishuServer]]:
    async with OneBotServer() as onebot, FeishuServer() as feishu:
        onebot.add_user(QQ_MEMBER, "QQ成员")
        onebot.add_user(QQ_OWNER, "QQ群主")
        onebot.add_group(QQ_GROUP, "QQ工作群", owner=QQ_OWNER, members=[QQ_MEMBER])
        feishu.add_user(FEISHU_OWNER, "飞书群主")
        feishu.add_chat(CHAT, "飞书工作群", owner=FEISHU_OWNER, members=[BOT_OPEN_ID])
        yield onebot, feishu


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def multi(
    servers: tuple[OneBotServer, FeishuServer],
) -> AsyncIterator[tuple[MultiConnector, SandboxConnector, Inbox]]:
    onebot, feishu = servers
    sandbox = SandboxConnector()
    feishu_side = feishu_connector(feishu)
    connector = MultiConnector([sandbox, OneBotConnector(onebot.ws_url, onebot.token), feishu_side])
    inbox = Inbox()
    await connector.start(inbox.handle)
    feishu.callback_url = feishu_side.callback_url
    yield connector, sandbox, inbox
    await connector.stop()


async def test_messages_of_every_platform_reach_one_handler(
    multi: tuple[MultiConnector, SandboxConnector, Inbox],
    servers: tuple[OneBotServer, FeishuServer],
) -> None:
    connector, sandbox, inbox = multi
    onebot, feishu = servers
    assert connector.platform == "sandbox+qq+feishu" and connector.self_id is None
    await sandbox.post(DEMO_MEMBER, text="from the sandbox")
    await onebot.post_text(QQ_GROUP, QQ_MEMBER, "from QQ")
    await feishu.post_text(CHAT, FEISHU_OWNER, "from Feishu")
    assert (
        await inbox.wait(lambda m: m.platform == "sandbox" and m.text == "from the sandbox")
    ).room_id == DEMO_ROOM
    assert (
        await inbox.wait(lambda m: m.platform == "qq" and m.text == "from QQ")
    ).room_id == qq_id(QQ_GROUP)
    assert (
        await inbox.wait(lambda m: m.platform == "feishu" and m.text == "from Feishu")
    ).room_id == feishu_id(CHAT)


async def test_each_id_goes_to_its_platform(
    multi: tuple[MultiConnector, SandboxConnector, Inbox],
    servers: tuple[OneBotServer, FeishuServer],
) -> None:
    connector, sandbox, _ = multi
    onebot, feishu = servers
    await connector.say_in_room(qq_id(QQ_GROUP), "QQ warning", (qq_id(QQ_MEMBER),))
    await connector.say_in_room(feishu_id(CHAT), "Feishu notice")
    await connector.send_direct(DEMO_OFFICER, "sandbox DM")
    await connector.send_direct(qq_id(QQ_OWNER), "QQ DM")
    await onebot.wait_for_sent(lambda s: s.text == " QQ warning" and s.at == (QQ_MEMBER,), WAIT)
    await onebot.wait_for_sent(lambda s: s.user_id == QQ_OWNER, WAIT)
    await feishu.wait_for_sent(lambda s: s.chat_id == CHAT and s.text == "Feishu notice", WAIT)
    assert [line.text for line in sandbox.direct_messages(DEMO_OFFICER)] == ["sandbox DM"]
    assert (await connector.room_info(qq_id(QQ_GROUP))).owner_id == qq_id(QQ_OWNER)
    assert (await connector.room_info(feishu_id(CHAT))).owner_id == feishu_id(FEISHU_OWNER)
    assert (await connector.room_info(DEMO_ROOM)).topic == "演示工作群"


async def test_fetch_goes_to_the_messages_platform(
    multi: tuple[MultiConnector, SandboxConnector, Inbox],
    servers: tuple[OneBotServer, FeishuServer],
) -> None:
    connector, sandbox, inbox = multi
    onebot, _ = servers
    await onebot.post_image(QQ_GROUP, QQ_MEMBER, b"qq photo")
    posted = await sandbox.post(DEMO_MEMBER, MessageKind.IMAGE, data=b"sandbox photo")
    qq_image = await inbox.wait(lambda m: m.platform == "qq" and m.kind is MessageKind.IMAGE)
    assert await connector.fetch(qq_image) == b"qq photo"
    assert await connector.fetch(posted) == b"sandbox photo"


async def test_an_id_of_a_platform_not_served_is_refused(
    multi: tuple[MultiConnector, SandboxConnector, Inbox],
) -> None:
    connector, _, _ = multi
    with pytest.raises(SendError, match="no platform served here"):
        await connector.send_direct("dingtalk:123", "hello")


async def test_a_platform_that_cannot_start_is_named_and_the_others_stopped(
    servers: tuple[OneBotServer, FeishuServer],
) -> None:
    onebot, _ = servers
    qq = OneBotConnector(onebot.ws_url, onebot.token)
    unreachable = OneBotConnector(f"ws://127.0.0.1:{free_port()}")
    unreachable.platform = "qq-second"  # type: ignore[misc]
    unreachable.id_prefix = "qqtwo:"  # type: ignore[misc]
    with pytest.raises(ConnectorError, match="qq-second: cannot reach the OneBot server"):
        await MultiConnector([qq, unreachable]).start(Inbox().handle)
    assert not qq.connected


async def test_two_connectors_of_one_platform_are_refused() -> None:
    with pytest.raises(ConnectorError, match="one connector per platform"):
        MultiConnector([SandboxConnector(), SandboxConnector()])


async def test_the_environment_chooses_the_platforms(
    servers: tuple[OneBotServer, FeishuServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    onebot, feishu = servers
    for name in ("WECHATY_PUPPET_SERVICE_TOKEN", "ONEBOT_WS_URL", "FEISHU_APP_ID", "FEISHU_EVENTS"):
        monkeypatch.delenv(name, raising=False)
    assert service.platforms_configured() == []
    with pytest.raises(service.SetupError, match="no chat platform is configured"):
        service.platform_connector()

    monkeypatch.setenv("ONEBOT_WS_URL", onebot.ws_url)
    assert isinstance(service.platform_connector(), OneBotConnector)
    monkeypatch.setenv("FEISHU_APP_ID", feishu.app_id)
    with pytest.raises(service.SetupError, match="FEISHU_APP_SECRET"):
        service.platform_connector()
    monkeypatch.setenv("FEISHU_APP_SECRET", feishu.app_secret)
    with pytest.raises(service.SetupError, match="FEISHU_VERIFICATION_TOKEN, FEISHU_ENCRYPT_KEY"):
        service.platform_connector()  # the HTTP callback, by default, needs both
    monkeypatch.setenv("FEISHU_EVENTS", "long_connection")  # which needs neither
    over_socket = service.platform_connector()
    assert isinstance(over_socket, MultiConnector)
    assert [c.platform for c in over_socket.connectors] == ["qq", "feishu"]
    monkeypatch.delenv("FEISHU_EVENTS")
    monkeypatch.setenv("FEISHU_VERIFICATION_TOKEN", feishu.verification_token)
    monkeypatch.setenv("FEISHU_ENCRYPT_KEY", feishu.encrypt_key)
    monkeypatch.setenv("FEISHU_BASE_URL", feishu.base_url)
    both = service.platform_connector()
    assert isinstance(both, MultiConnector) and both.platform == "qq+feishu"


def leaksentry_bot(tmp_path: Path, onebot_url: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WECHATY_", "FEISHU_")) and k != "REDIS_URL"
    }
    env["LEAKSENTRY_DATA_DIR"] = str(tmp_path)
    env["ONEBOT_WS_URL"] = onebot_url
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "bot"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_leaksentry_bot_with_a_bad_onebot_url_says_so(tmp_path: Path) -> None:
    result = leaksentry_bot(tmp_path, "127.0.0.1:3001")
    assert result.returncode == 2
    assert "ONEBOT_WS_URL" in result.stderr and "ws://HOST:PORT" in result.stderr


async def test_leaksentry_bot_with_an_unreachable_server_says_so(tmp_path: Path) -> None:
    result = leaksentry_bot(tmp_path, f"ws://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert "cannot start the bot: cannot reach the OneBot server" in result.stderr
    assert "Traceback" not in result.stderr


async def test_leaksentry_bot_serves_qq_and_feishu_at_once(tmp_path: Path) -> None:
    """The command itself, against both stand-ins: each group's owner enrolls it in chat."""
    async with OneBotServer() as onebot, FeishuServer() as feishu:
        onebot.add_group(QQ_GROUP, "QQ工作群", owner=QQ_OWNER, members=[QQ_MEMBER])
        feishu.add_chat(CHAT, "飞书工作群", owner=FEISHU_OWNER, members=[BOT_OPEN_ID])
        listen = f"127.0.0.1:{free_port()}"
        feishu.callback_url = f"http://{listen}/feishu/events"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("WECHATY_", "FEISHU_", "ONEBOT_")) and k != "REDIS_URL"
        }
        env.update(
            LEAKSENTRY_DATA_DIR=str(tmp_path),
            ONEBOT_WS_URL=onebot.ws_url,
            ONEBOT_ACCESS_TOKEN=onebot.token,
            FEISHU_APP_ID=feishu.app_id,
            FEISHU_APP_SECRET=feishu.app_secret,
            FEISHU_VERIFICATION_TOKEN=feishu.verification_token,
            FEISHU_ENCRYPT_KEY=feishu.encrypt_key,
            FEISHU_BASE_URL=feishu.base_url,
            FEISHU_CALLBACK_LISTEN=listen,
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "bot",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            assert process.stdout is not None
            output = b""
            while b"bot service up on qq+feishu" not in output:
                line = await asyncio.wait_for(process.stdout.readline(), 60)
                assert line, output.decode()[-3000:]
                output += line
            await onebot.post_text(QQ_GROUP, QQ_OWNER, "/enroll")
            await feishu.post_text(CHAT, FEISHU_OWNER, "/enroll", mentions=(BOT_OPEN_ID,))
            qq_reply = await onebot.wait_for_sent(lambda s: s.group_id == QQ_GROUP, 30)
            feishu_reply = await feishu.wait_for_sent(lambda s: s.chat_id == CHAT, 30)
            assert "本群「QQ工作群」已开启保密检测" in qq_reply.text
            assert "本群「飞书工作群」已开启保密检测" in feishu_reply.text
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), 60) == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
