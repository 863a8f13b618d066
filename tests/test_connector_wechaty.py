"""The WeChat connector with the real python-wechaty client against a real puppet-service server
(npm `wechaty-puppet-service` around the mock puppet, `tests/harness/`), over gRPC."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web
from grpclib.client import Channel
from harness_client import PuppetHarness, free_port
from wechaty_grpc.wechaty import PuppetStub

from bot.connectors.base import ConnectorError, FetchError, IncomingMessage, MessageKind, SendError
from bot.connectors.wechaty import WechatyConnector
from tests.connector_inbox import WAIT, Inbox

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROOM = "10001@chatroom"
TOPIC = "项目组"
BOT = "wxid_bot"
UUID_BOX, BASE64_BOX = 7, 1


async def populate(harness: PuppetHarness) -> None:
    for contact_id, name in [("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol 王")]:
        await harness.create_contact(contact_id, name)
    await harness.create_room(ROOM, TOPIC, owner="alice", admins=["bob"], members=["carol"])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def harness() -> AsyncIterator[PuppetHarness]:
    async with PuppetHarness() as running:
        await populate(running)
        await running.login(BOT, "泄密哨兵")
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def inbox() -> Inbox:
    return Inbox()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def connector(harness: PuppetHarness, inbox: Inbox) -> AsyncIterator[WechatyConnector]:
    wechat = WechatyConnector(
        harness.token, harness.endpoint, login_timeout=WAIT, reconnect_delays=(0.1, 0.5)
    )
    await wechat.start(inbox.handle)
    yield wechat
    await wechat.stop()


async def wire_file_box(harness: PuppetHarness, message_id: str, *, image: bool) -> dict:
    """The FileBox JSON as the service puts it on the wire (python-wechaty's own stubs)."""
    channel = Channel("127.0.0.1", harness.port)
    channel._authority = harness.token  # how python-wechaty authenticates
    try:
        stub = PuppetStub(channel)
        if image:
            reply = await stub.message_image(id=message_id, type=3)
        else:
            reply = await stub.message_file(id=message_id)
        return json.loads(reply.filebox)
    finally:
        channel.close()


async def test_logs_in(connector: WechatyConnector, harness: PuppetHarness) -> None:
    assert connector.platform == "wechat"
    assert connector.self_id == BOT
    assert connector.connected
    assert harness.logins >= 1


async def test_text_in_a_room(connector: WechatyConnector, harness: PuppetHarness, inbox: Inbox):
    before = time.time()
    message_id = await harness.post_text("carol", "请看附件", room=ROOM, mentions=[BOT])
    message = await inbox.get(message_id)
    assert message.platform == "wechat"
    assert message.key == f"wechat:{message_id}"
    assert message.kind is MessageKind.TEXT
    assert (message.sender_id, message.sender_name) == ("carol", "Carol 王")
    assert (message.room_id, message.room_topic) == (ROOM, TOPIC)
    assert message.text == "请看附件"
    assert message.mentions_self
    assert not message.is_self
    assert before - 1 <= message.sent_at <= time.time() + 1


async def test_direct_message(connector: WechatyConnector, harness: PuppetHarness, inbox: Inbox):
    message = await inbox.get(await harness.post_text("bob", "误报 A7K3Q9"))
    assert message.room_id is None
    assert (message.sender_id, message.text, message.mentions_self) == ("bob", "误报 A7K3Q9", False)


async def test_large_image_comes_as_a_uuid_file_box(
    connector: WechatyConnector, harness: PuppetHarness, inbox: Inbox
):
    photo = os.urandom(300 * 1024)
    message_id = await harness.post_image("alice", photo, name="IMG_0001.jpg", room=ROOM)
    message = await inbox.get(message_id)
    assert message.kind is MessageKind.IMAGE
    assert message.filename == "IMG_0001.jpg"
    assert (await wire_file_box(harness, message_id, image=True))["type"] == UUID_BOX
    assert await connector.fetch(message) == photo


async def test_small_image_comes_inline(
    connector: WechatyConnector, harness: PuppetHarness, inbox: Inbox
):
    photo = os.urandom(5 * 1024)
    message = await inbox.get(await harness.post_image("alice", photo, room=ROOM))
    assert (await wire_file_box(harness, message.message_id, image=True))["type"] == BASE64_BOX
    assert await connector.fetch(message) == photo


async def test_attachment_keeps_its_name(
    connector: WechatyConnector, harness: PuppetHarness, inbox: Inbox
):
    pdf = b"%PDF-1.7\n" + os.urandom(40 * 1024)
    message_id = await harness.post_file("bob", pdf, name="关于2024年工作安排的通知.pdf", room=ROOM)
    message = await inbox.get(message_id)
    assert message.kind is MessageKind.FILE
    assert message.filename == "关于2024年工作安排的通知.pdf"
    assert (await wire_file_box(harness, message_id, image=False))["type"] == UUID_BOX
    assert await connector.fetch(message) == pdf


async def test_fetch_is_size_capped(
    connector: WechatyConnector, harness: PuppetHarness, inbox: Inbox
):
    message = await inbox.get(await harness.post_file("bob", os.urandom(64 * 1024), name="x.zip"))
    limit, connector.max_fetch_bytes = connector.max_fetch_bytes, 32 * 1024
    try:
        with pytest.raises(FetchError, match="larger than 32768 bytes"):
            await connector.fetch(message)
    finally:
        connector.max_fetch_bytes = limit


async def test_url_file_box_is_downloaded(
    connector: WechatyConnector, harness: PuppetHarness, inbox: Inbox
):
    photo = os.urandom(50 * 1024)

    async def cdn(request: web.Request) -> web.Response:
        if request.match_info["name"] == "photo.jpg":
            return web.Response(body=photo)
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/cdn/{name}", cdn)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        base = f"http://127.0.0.1:{port}/cdn/"
        present = await inbox.get(await harness.post_remote_image("alice", base + "photo.jpg"))
        assert await connector.fetch(present) == photo
        gone = await inbox.get(await harness.post_remote_image("alice", base + "gone.jpg"))
        with pytest.raises(FetchError, match="HTTP 404"):
            await connector.fetch(gone)
    finally:
        await runner.cleanup()


async def test_fetch_refuses_what_carries_no_file(
    connector: WechatyConnector, harness: PuppetHarness, inbox: Inbox
):
    text = await inbox.get(await harness.post_text("alice", "hello", room=ROOM))
    with pytest.raises(FetchError, match="carries no file"):
        await connector.fetch(text)
    unknown = IncomingMessage(
        platform="wechat",
        message_id="no-such-message",
        kind=MessageKind.IMAGE,
        sender_id="alice",
        sender_name="Alice",
        room_id=ROOM,
    )
    with pytest.raises(FetchError, match="no file"):
        await connector.fetch(unknown)


async def test_url_card(connector: WechatyConnector, harness: PuppetHarness, inbox: Inbox):
    message_id = await harness.post_url(
        "bob",
        "https://mp.weixin.qq.com/s/abc",
        title="内部通报：机密文件",
        description="请勿外传",
        room=ROOM,
    )
    message = await inbox.get(message_id)
    assert message.kind is MessageKind.URL
    assert message.text == "内部通报：机密文件\n请勿外传"
    assert message.extra["url"] == "https://mp.weixin.qq.com/s/abc"


async def test_recall_names_the_recalled_message(
    connector: WechatyConnector, harness: PuppetHarness, inbox: Inbox
):
    original = await harness.post_image("carol", os.urandom(30 * 1024), room=ROOM)
    await inbox.get(original)
    recall = await inbox.get(await harness.recall("carol", original, room=ROOM))
    assert recall.kind is MessageKind.RECALLED
    assert recall.recalled_message_id == original
    assert (recall.sender_id, recall.room_id) == ("carol", ROOM)


@pytest.mark.parametrize(
    ("wire_type", "kind"),
    [
        ("video", MessageKind.VIDEO),
        ("voice", MessageKind.VOICE),
        ("chat_history", MessageKind.CHAT_HISTORY),
        ("emoticon", MessageKind.OTHER),
        ("location", MessageKind.OTHER),
    ],
)
async def test_other_message_types(
    connector: WechatyConnector,
    harness: PuppetHarness,
    inbox: Inbox,
    wire_type: str,
    kind: MessageKind,
):
    message = await inbox.get(await harness.post(wire_type, "alice", room=ROOM, text="..."))
    assert message.kind is kind
    assert message.extra["wechat_type"].startswith("MESSAGE_TYPE_")


async def test_say_in_room_mentions_the_member(
    connector: WechatyConnector, harness: PuppetHarness, inbox: Inbox
):
    await connector.say_in_room(ROOM, "请撤回刚才的消息。", ("carol",))
    sent = await harness.wait_for_sent(lambda s: s.room_id == ROOM and s.mention_ids)
    assert sent.mention_ids == ("carol",)
    assert sent.text == "@Carol 王\u2005请撤回刚才的消息。"
    # WeChat shows the bot its own message: delivered, marked as its own.
    echo = await inbox.get(sent.message_id)
    assert echo.is_self
    assert echo.sender_id == BOT


async def test_mentioning_an_unknown_contact_still_sends(
    connector: WechatyConnector, harness: PuppetHarness
):
    await connector.say_in_room(ROOM, "注意", ("ghost", "carol"))
    sent = await harness.wait_for_sent(lambda s: s.mention_ids == ("ghost", "carol"))
    assert sent.text == "@ghost\u2005@Carol 王\u2005注意"


async def test_a_mentioned_name_is_written_on_one_line(
    connector: WechatyConnector, harness: PuppetHarness
):
    # A name is chosen by its owner: it must not forge lines, nor turn the line around.
    await harness.create_contact("mallory", "张三\n风险等级：无风险\u202e\u200b")
    await connector.say_in_room(ROOM, "请撤回。", ("mallory",))
    sent = await harness.wait_for_sent(lambda s: s.mention_ids == ("mallory",))
    assert sent.text == "@张三 风险等级：无风险\u2005请撤回。"


async def test_send_direct(connector: WechatyConnector, harness: PuppetHarness, inbox: Inbox):
    await connector.send_direct("bob", "发现疑似泄密：事件 A7K3Q9")
    sent = await harness.wait_for_sent(lambda s: s.to_id == "bob")
    assert (sent.room_id, sent.text, sent.mention_ids) == (None, "发现疑似泄密：事件 A7K3Q9", ())
    assert (await inbox.get(sent.message_id)).is_self


async def test_send_to_nowhere_is_a_send_error(connector: WechatyConnector):
    with pytest.raises(SendError, match="no-such-room@chatroom"):
        await connector.say_in_room("no-such-room@chatroom", "hello")


async def test_room_info(connector: WechatyConnector):
    info = await connector.room_info(ROOM)
    assert info.room_id == ROOM
    assert info.topic == TOPIC
    assert info.owner_id == "alice"
    assert info.admin_ids == ("bob",)
    assert set(info.member_ids) == {"alice", "bob", "carol"}
    with pytest.raises(ConnectorError):
        await connector.room_info("no-such-room@chatroom")


async def test_a_renamed_group_has_its_new_topic(
    connector: WechatyConnector, harness: PuppetHarness, inbox: Inbox
):
    await harness.create_room("10002@chatroom", "旧名称", owner="alice", members=["carol"])
    first = await inbox.get(await harness.post_text("carol", "1", room="10002@chatroom"))
    assert first.room_topic == "旧名称"
    await harness.rename_room("10002@chatroom", "新名称", by="alice")
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        message = await inbox.get(await harness.post_text("carol", "2", room="10002@chatroom"))
        if message.room_topic == "新名称":
            break
        await asyncio.sleep(0.05)
    assert message.room_topic == "新名称"
    assert (await connector.room_info("10002@chatroom")).topic == "新名称"


async def test_a_failing_handler_is_logged_and_delivery_goes_on(
    connector: WechatyConnector,
    harness: PuppetHarness,
    inbox: Inbox,
    caplog: pytest.LogCaptureFixture,
):
    failing = await harness.post_text("alice", Inbox.FAIL, room=ROOM)
    await inbox.get(failing)
    message = await inbox.get(await harness.post_text("alice", "still listening", room=ROOM))
    assert message.text == "still listening"
    assert f"handling WeChat message {failing} failed" in caplog.text


async def test_reconnects_after_the_stream_drops(
    connector: WechatyConnector, harness: PuppetHarness, inbox: Inbox
):
    logins = connector.logins
    await harness.drop_clients()
    await harness.wait_for_login(harness.logins + 1)
    deadline = time.monotonic() + WAIT
    while connector.logins == logins and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert connector.logins == logins + 1
    assert connector.connected
    message = await inbox.get(await harness.post_text("alice", "after the drop", room=ROOM))
    assert message.room_topic == TOPIC
    await connector.send_direct("alice", "back")
    await harness.wait_for_sent(lambda s: s.to_id == "alice" and s.text == "back")


async def test_reconnects_after_a_silent_drop(inbox: Inbox):
    async with PuppetHarness() as own:
        await populate(own)
        await own.login(BOT)
        wechat = WechatyConnector(
            own.token,
            own.endpoint,
            connect_timeout=0.5,
            call_timeout=0.5,
            keepalive_interval=0.2,
            reconnect_delays=(0.1,),
        )
        await wechat.start(inbox.handle)
        try:
            own.freeze()
            deadline = time.monotonic() + WAIT
            while wechat.connected and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert not wechat.connected  # the keepalive noticed
            own.thaw()
            await own.wait_for_login(2)
            while not wechat.connected and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert wechat.logins == 2
            message = await inbox.get(await own.post_text("alice", "back again", room=ROOM))
            assert message.text == "back again"
        finally:
            await wechat.stop()


async def test_wrong_token_is_a_clear_error(harness: PuppetHarness, inbox: Inbox):
    wrong = WechatyConnector("not-the-token", harness.endpoint, login_timeout=WAIT)
    with pytest.raises(ConnectorError, match="puppet service rejected the token"):
        await asyncio.wait_for(wrong.start(inbox.handle), WAIT)


async def test_unreachable_endpoint_is_a_clear_error(inbox: Inbox):
    closed = WechatyConnector("token", f"127.0.0.1:{free_port()}", login_timeout=WAIT)
    with pytest.raises(ConnectorError, match="cannot reach the puppet service"):
        await asyncio.wait_for(closed.start(inbox.handle), WAIT)


async def test_silent_endpoint_times_out(inbox: Inbox):
    # Accepts TCP connections and never answers, as a stuck gateway or a wrong port does.
    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(WAIT)
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    silent = WechatyConnector("token", f"127.0.0.1:{port}", connect_timeout=1.0)
    started = time.monotonic()
    try:
        with pytest.raises(ConnectorError, match=r"did not answer within 1\.0 s"):
            await asyncio.wait_for(silent.start(inbox.handle), WAIT)
    finally:
        server.close()
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("token", "endpoint", "error"),
    [
        ("", "127.0.0.1:8788", "no puppet service token"),
        ("token", "127.0.0.1", "must be HOST:PORT"),
        ("token", "", "must be HOST:PORT"),
    ],
)
async def test_bad_settings_are_clear_errors(token: str, endpoint: str, error: str) -> None:
    with pytest.raises(ConnectorError, match=error):
        WechatyConnector(token, endpoint)


async def test_login_qr_code_and_stray_variables(
    inbox: Inbox,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
):
    # python-wechaty also reads the bare TOKEN and ENDPOINT: they must change nothing.
    monkeypatch.setenv("TOKEN", "stray-token")
    monkeypatch.setenv("ENDPOINT", "127.0.0.1:1")
    monkeypatch.delenv("WECHATY_PUPPET_SERVICE_TOKEN", raising=False)
    with pytest.raises(ConnectorError, match="WECHATY_PUPPET_SERVICE_TOKEN"):
        WechatyConnector.from_env()
    qr_code = "https://login.weixin.qq.com/l/IaysbZa04Q=="
    async with PuppetHarness() as own:
        await populate(own)
        await own.login(BOT, qrcode=qr_code)
        monkeypatch.setenv("WECHATY_PUPPET_SERVICE_TOKEN", own.token)
        monkeypatch.setenv("WECHATY_PUPPET_SERVICE_ENDPOINT", own.endpoint)
        caplog.set_level(logging.INFO)
        wechat = WechatyConnector.from_env(login_timeout=WAIT)
        await wechat.start(inbox.handle)
        try:
            assert wechat.last_qr_code == qr_code
            assert "https://wechaty.js.org/qrcode/https%3A%2F%2Flogin.weixin.qq.com" in caplog.text
            assert own.token not in caplog.text
            assert "█" in capfd.readouterr().out  # python-wechaty printed the QR code
            message = await inbox.get(await own.post_text("alice", "hi", room=ROOM))
            assert (message.room_id, message.sender_id) == (ROOM, "alice")
        finally:
            await wechat.stop()
    with pytest.raises(SendError, match="not connected"):
        await wechat.send_direct("alice", "after stop")
