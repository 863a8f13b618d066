"""The QQ connector against a OneBot v11 server on a real WebSocket (`tests/harness/onebot_server`):
events in, actions out with their echoes, files over HTTP, reconnects, start-up errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web

from bot.connectors.base import ConnectorError, FetchError, IncomingMessage, MessageKind, SendError
from bot.connectors.onebot import OneBotConnector, qq_id, qq_number
from tests.connector_inbox import WAIT, Inbox
from tests.harness.onebot_server import BOT_QQ, OneBotServer
from tests.harness_client import free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")

GROUP, OTHER_GROUP = 20001, 20002
OWNER, ADMIN, MEMBER = 10001, 10002, 10003
FAST_RECONNECT = (0.05, 0.1, 0.2)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server() -> AsyncIterator[OneBotServer]:
    async with OneBotServer() as running:
        running.add_user(OWNER, "群主老王")
        running.add_user(ADMIN, "管理员小李")
        running.add_user(MEMBER, "成员小张")
        running.add_group(GROUP, "项目一组", owner=OWNER, admins=(ADMIN,), members=[MEMBER])
        running.add_group(OTHER_GROUP, "外部群", owner=MEMBER)
        yield running


@pytest.fixture(scope="module")
def inbox() -> Inbox:
    return Inbox()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def connector(server: OneBotServer, inbox: Inbox) -> AsyncIterator[OneBotConnector]:
    running = OneBotConnector(server.ws_url, server.token, reconnect_delays=FAST_RECONNECT)
    await running.start(inbox.handle)
    yield running
    await running.stop()


async def test_ids() -> None:
    assert qq_id(123456) == "qq:123456" and qq_number("qq:123456") == 123456
    for wrong in ("123456", "qq:", "qq:12a", "wxid_abc"):
        with pytest.raises(ValueError):
            qq_number(wrong)


async def test_logs_in_with_the_bearer_token(connector: OneBotConnector, server: OneBotServer):
    assert connector.self_id == qq_id(BOT_QQ)
    assert connector.connected and server.actions[0] == "get_login_info"


async def test_text_in_a_group(connector: OneBotConnector, server: OneBotServer, inbox: Inbox):
    message_id = await server.post_text(GROUP, OWNER, "/enroll")
    message = await inbox.wait(lambda m: m.message_id == str(message_id))
    assert len(inbox.of(message_id)) == 1
    assert message.platform == "qq" and message.key == f"qq:{message_id}"
    assert message.kind is MessageKind.TEXT and message.text == "/enroll"
    assert message.room_id == qq_id(GROUP) and message.room_topic == "项目一组"
    assert message.sender_id == qq_id(OWNER) and message.sender_name == "群主老王"
    assert not message.is_self and message.sent_at > 0


async def test_image_by_url_and_by_get_image(
    connector: OneBotConnector, server: OneBotServer, inbox: Inbox
):
    for with_url, data in ((True, b"\xff\xd8 photo one"), (False, b"\xff\xd8 photo two")):
        message_id = await server.post_image(GROUP, MEMBER, data, with_url=with_url)
        message = await inbox.wait(lambda m, i=message_id: m.message_id == str(i))
        assert message.kind is MessageKind.IMAGE and ("url" in message.extra) is with_url
        assert await connector.fetch(message) == data
    assert "get_image" in server.actions


async def test_a_message_with_text_and_images_gives_one_item_each(
    connector: OneBotConnector, server: OneBotServer, inbox: Inbox
):
    segments = [
        {"type": "text", "data": {"text": "两份材料"}},
        server.image_segment(b"page one"),
        server.image_segment(b"page two", with_url=False),
    ]
    message_id = await server.post_message(GROUP, MEMBER, segments)
    await inbox.wait(lambda m: m.message_id == f"{message_id}#2")
    items = inbox.of(message_id)
    assert [m.kind for m in items] == [MessageKind.TEXT, MessageKind.IMAGE, MessageKind.IMAGE]
    assert [m.message_id for m in items] == [str(message_id), f"{message_id}#1", f"{message_id}#2"]
    assert [await connector.fetch(m) for m in items[1:]] == [b"page one", b"page two"]

    await server.recall(GROUP, MEMBER, message_id)
    recalled = await inbox.wait(lambda m: m.recalled_message_id == f"{message_id}#2")
    assert recalled.kind is MessageKind.RECALLED and recalled.room_id == qq_id(GROUP)
    assert {m.recalled_message_id for m in inbox.messages if m.kind is MessageKind.RECALLED} >= {
        str(message_id),
        f"{message_id}#1",
        f"{message_id}#2",
    }


async def test_string_format_messages_are_read(
    connector: OneBotConnector, server: OneBotServer, inbox: Inbox
):
    message_id = await server.post_message(
        GROUP, MEMBER, f"[CQ:at,qq={BOT_QQ}] 请看&#91;内部&#93;[CQ:image,file=x.image]"
    )
    text = await inbox.wait(lambda m: m.message_id == str(message_id))
    assert text.kind is MessageKind.TEXT and text.text == " 请看[内部]" and text.mentions_self
    image = await inbox.wait(lambda m: m.message_id == f"{message_id}#1")
    assert image.kind is MessageKind.IMAGE and image.extra["file"] == "x.image"


async def test_group_file_upload(connector: OneBotConnector, server: OneBotServer, inbox: Inbox):
    data = b"%PDF-1.7 a group file"
    file_id = await server.upload_file(GROUP, MEMBER, data, "内部通知.pdf")
    message = await inbox.wait(lambda m: m.message_id == f"file-{file_id}")
    assert message.kind is MessageKind.FILE and message.filename == "内部通知.pdf"
    assert message.sender_id == qq_id(MEMBER) and message.sender_name == "成员小张"
    assert await connector.fetch(message) == data
    assert "get_group_file_url" in server.actions and "get_group_member_info" in server.actions


async def test_fetch_errors(connector: OneBotConnector, server: OneBotServer, inbox: Inbox):
    message_id = await server.post_image(GROUP, MEMBER, b"x" * 2000, with_url=False)
    message = await inbox.wait(lambda m: m.message_id == str(message_id))
    gone = IncomingMessage(**{**message.__dict__, "extra": {"file": "missing.image"}})
    with pytest.raises(FetchError, match="图片不存在"):
        await connector.fetch(gone)
    small = OneBotConnector(server.ws_url, server.token, max_fetch_bytes=1000)
    await small.start(Inbox().handle)
    try:
        with pytest.raises(FetchError, match="larger than 1000"):
            await small.fetch(message)
    finally:
        await small.stop()
    text = await inbox.wait(lambda m: m.kind is MessageKind.TEXT)
    with pytest.raises(FetchError):
        await connector.fetch(text)


async def test_say_in_room_with_at_and_send_direct(
    connector: OneBotConnector, server: OneBotServer
):
    await connector.say_in_room(qq_id(GROUP), "请撤回", (qq_id(MEMBER),))
    sent = await server.wait_for_sent(lambda s: s.text.endswith("请撤回"), WAIT)
    assert sent.group_id == GROUP and sent.at == (MEMBER,) and sent.user_id is None
    await connector.send_direct(qq_id(ADMIN), "事件编号 ABC234")
    dm = await server.wait_for_sent(lambda s: s.user_id == ADMIN, WAIT)
    assert dm.text == "事件编号 ABC234" and dm.group_id is None


async def test_send_errors(connector: OneBotConnector):
    with pytest.raises(SendError, match="不存在"):
        await connector.say_in_room(qq_id(99999), "hello")
    with pytest.raises(SendError, match="not a QQ id"):
        await connector.send_direct("wxid_someone", "hello")


async def test_room_info_has_owner_admins_and_members(connector: OneBotConnector):
    info = await connector.room_info(qq_id(GROUP))
    assert info.topic == "项目一组" and info.owner_id == qq_id(OWNER)
    assert info.admin_ids == (qq_id(ADMIN),)
    assert set(info.member_ids) == {qq_id(u) for u in (OWNER, ADMIN, MEMBER, BOT_QQ)}
    with pytest.raises(ConnectorError):
        await connector.room_info(qq_id(99999))


async def test_own_messages_are_marked(
    connector: OneBotConnector, server: OneBotServer, inbox: Inbox
):
    server.add_group(20003, "机器人群", owner=BOT_QQ)
    message_id = await server.post_text(20003, BOT_QQ, "bot says")
    assert (await inbox.wait(lambda m: m.message_id == str(message_id))).is_self


async def test_a_failing_handler_and_bad_frames_do_not_stop_delivery(
    connector: OneBotConnector, server: OneBotServer, inbox: Inbox
):
    await server.post_text(GROUP, MEMBER, Inbox.FAIL)
    for ws in server._sockets:
        await ws.send_str("not json")
        await ws.send_json([1, 2])
        await ws.send_json({"post_type": "message", "message_type": "group"})
        await ws.send_json({"post_type": "notice", "notice_type": "group_upload", "file": 3})
    after = await server.post_text(GROUP, MEMBER, "after the bad frames")
    await inbox.wait(lambda m: m.message_id == str(after))


async def test_reconnects_after_a_drop_and_while_refused(
    connector: OneBotConnector, server: OneBotServer, inbox: Inbox
):
    before = server.connections
    server.refuse()
    await server.drop()
    with pytest.raises(SendError):
        await connector.send_direct(qq_id(ADMIN), "while down")
    await asyncio.sleep(0.5)  # several refused reconnects
    assert server.rejected >= 2 and not connector.connected
    server.refuse(False)
    await server.wait_for_connections(before + 1, WAIT)
    message_id = await server.post_text(GROUP, MEMBER, "after the reconnect")
    await inbox.wait(lambda m: m.message_id == str(message_id))
    await connector.send_direct(qq_id(ADMIN), "back")
    await server.wait_for_sent(lambda s: s.text == "back", WAIT)


async def test_a_wrong_token_is_a_clear_error(server: OneBotServer):
    wrong = OneBotConnector(server.ws_url, "wrong-token")
    with pytest.raises(ConnectorError, match="rejected the access token"):
        await wrong.start(Inbox().handle)
    assert not wrong._tasks


async def test_an_unreachable_server_is_a_clear_error():
    with pytest.raises(ConnectorError, match="cannot reach the OneBot server"):
        await OneBotConnector(f"ws://127.0.0.1:{free_port()}").start(Inbox().handle)


async def test_a_server_that_is_not_logged_in_is_a_clear_error():
    async def not_logged_in(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for frame in ws:
            echo = json.loads(frame.data)["echo"]
            await ws.send_json({"status": "failed", "retcode": 1, "echo": echo, "data": None})
        return ws

    app = web.Application()
    app.router.add_get("/", not_logged_in)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        with pytest.raises(ConnectorError, match="gave no login info"):
            await OneBotConnector(f"ws://127.0.0.1:{port}").start(Inbox().handle)
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("url", ["", "http://127.0.0.1:3001", "127.0.0.1:3001"])
async def test_a_bad_url_is_a_clear_error(url: str) -> None:
    with pytest.raises(ConnectorError, match="ONEBOT_WS_URL"):
        OneBotConnector(url)
