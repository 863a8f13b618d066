"""The Feishu connector with the real lark-oapi SDK against the Feishu stand-in
(`tests/harness/feishu_server.py`): encrypted, signed event callbacks in; the open API (token,
message resources, send and reply, chat and members) out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.commands import GroupCommand, parse_group_command
from bot.connectors.base import ConnectorError, FetchError, IncomingMessage, MessageKind, SendError
from bot.connectors.feishu import FeishuConnector, feishu_id, feishu_native
from tests.connector_inbox import WAIT, Inbox
from tests.harness.feishu_server import BOT_OPEN_ID, FeishuServer
from tests.harness_client import free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")

CHAT = "oc_project0000000000000000000001"
OWNER, MANAGER, MEMBER = "ou_owner000001", "ou_manager0001", "ou_member00001"


def connector_for(feishu: FeishuServer, **changes: str) -> FeishuConnector:
    settings = {
        "app_id": feishu.app_id,
        "app_secret": feishu.app_secret,
        "verification_token": feishu.verification_token,
        "encrypt_key": feishu.encrypt_key,
        "base_url": feishu.base_url,
        "listen": f"127.0.0.1:{free_port()}",
        **changes,
    }
    app_id, app_secret = settings.pop("app_id"), settings.pop("app_secret")
    return FeishuConnector(app_id, app_secret, **settings)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def feishu() -> AsyncIterator[FeishuServer]:
    async with FeishuServer() as server:
        server.add_user(OWNER, "群主老王")
        server.add_user(MANAGER, "管理员小李")
        server.add_user(MEMBER, "成员小张")
        server.add_chat(
            CHAT, "项目一组", owner=OWNER, managers=(MANAGER,), members=[MEMBER, BOT_OPEN_ID]
        )
        yield server


@pytest.fixture(scope="module")
def inbox() -> Inbox:
    return Inbox()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def connector(feishu: FeishuServer, inbox: Inbox) -> AsyncIterator[FeishuConnector]:
    running = connector_for(feishu)
    await running.start(inbox.handle)
    feishu.callback_url = running.callback_url
    yield running
    await running.stop()


async def test_ids() -> None:
    assert feishu_id("oc_abc") == "feishu:oc_abc" and feishu_native("feishu:ou_x-1") == "ou_x-1"
    for wrong in ("oc_abc", "feishu:", "feishu:a/b", "qq:123"):
        with pytest.raises(ValueError):
            feishu_native(wrong)


async def test_starts_with_a_tenant_token_and_the_bots_open_id(
    connector: FeishuConnector, feishu: FeishuServer
):
    assert connector.self_id == feishu_id(BOT_OPEN_ID)
    assert feishu.tokens_issued == 1 and "GET /open-apis/bot/v3/info" in feishu.calls


async def test_url_verification_is_answered(connector: FeishuConnector, feishu: FeishuServer):
    challenge = {
        "challenge": "c-123",
        "token": feishu.verification_token,
        "type": "url_verification",
    }
    status, body = await feishu.post_callback(challenge)
    assert status == 200 and json.loads(body) == {"challenge": "c-123"}


async def test_a_command_with_a_mention_of_the_bot(
    connector: FeishuConnector, feishu: FeishuServer, inbox: Inbox
):
    message_id = await feishu.post_text(CHAT, OWNER, "/enroll", mentions=(BOT_OPEN_ID,))
    message = await inbox.wait(lambda m: m.message_id == message_id)
    assert message.platform == "feishu" and message.kind is MessageKind.TEXT
    assert message.text == "@保密提醒助手 /enroll" and message.mentions_self
    assert parse_group_command(message.text) is GroupCommand.ENROLL
    assert message.room_id == feishu_id(CHAT) and message.room_topic == "项目一组"
    assert message.sender_id == feishu_id(OWNER) and message.sender_name == "群主老王"
    assert message.sent_at > 0 and not message.is_self


async def test_image_and_file_are_fetched_by_message_id_and_key(
    connector: FeishuConnector, feishu: FeishuServer, inbox: Inbox
):
    image_id = await feishu.post_image(CHAT, MEMBER, b"\xff\xd8 a photo")
    file_id = await feishu.post_file(CHAT, MEMBER, b"PK\x03\x04 a document", "内部通知.docx")
    image = await inbox.wait(lambda m: m.message_id == image_id)
    file = await inbox.wait(lambda m: m.message_id == file_id)
    assert image.kind is MessageKind.IMAGE and file.kind is MessageKind.FILE
    assert file.filename == "内部通知.docx" and file.sender_name == "成员小张"
    assert await connector.fetch(image) == b"\xff\xd8 a photo"
    assert await connector.fetch(file) == b"PK\x03\x04 a document"
    wrong_key = IncomingMessage(**{**image.__dict__, "extra": {"file_key": "img_v3_gone"}})
    with pytest.raises(FetchError, match="234003"):
        await connector.fetch(wrong_key)


async def test_a_post_gives_its_text_and_each_image(
    connector: FeishuConnector, feishu: FeishuServer, inbox: Inbox
):
    content = {
        "title": "会议材料",
        "content": [
            [{"tag": "text", "text": "请查收"}, {"tag": "img", "image_key": "img_v3_a"}],
            [{"tag": "img", "image_key": "img_v3_b"}],
        ],
    }
    message_id = await feishu.post_message(CHAT, MEMBER, "post", content)
    await inbox.wait(lambda m: m.message_id == f"{message_id}#2")
    items = inbox.of(message_id)
    assert [m.kind for m in items] == [MessageKind.TEXT, MessageKind.IMAGE, MessageKind.IMAGE]
    assert items[0].text == "会议材料\n请查收"
    assert [m.extra["file_key"] for m in items[1:]] == ["img_v3_a", "img_v3_b"]

    await feishu.recall(CHAT, message_id)
    await inbox.wait(lambda m: m.recalled_message_id == f"{message_id}#2")
    recalled = {m.recalled_message_id for m in inbox.messages if m.kind is MessageKind.RECALLED}
    assert {message_id, f"{message_id}#1", f"{message_id}#2"} <= recalled


async def test_forged_and_replayed_events(
    connector: FeishuConnector, feishu: FeishuServer, inbox: Inbox
):
    event = {
        "sender": {"sender_id": {"open_id": MEMBER}, "sender_type": "user"},
        "message": {
            "message_id": "om_forged",
            "chat_id": CHAT,
            "chat_type": "group",
            "message_type": "text",
            "content": json.dumps({"text": "forged"}),
        },
    }
    wrong_token, _ = await feishu.push("im.message.receive_v1", event, token="wrong")
    wrong_key, _ = await feishu.push("im.message.receive_v1", event, encrypt_key="not-the-key")
    plain = {"schema": "2.0", "header": {"event_type": "im.message.receive_v1"}, "event": event}
    unsigned, _ = await feishu.post_callback(plain, sign=False)
    assert (wrong_token, wrong_key, unsigned) == (500, 500, 500)
    # The same event twice (Feishu sends it again when the answer is late) is two deliveries
    # of one message id: the intake takes it in once.
    real = {**event, "message": {**event["message"], "message_id": "om_twice"}}
    for _ in range(2):
        status, _ = await feishu.push("im.message.receive_v1", real, event_id="ev-1")
        assert status == 200
    await inbox.wait(lambda m: m.message_id == "om_twice")
    assert not any(m.message_id == "om_forged" for m in inbox.messages)


async def test_warning_replies_to_the_members_item_and_mentions_them(
    connector: FeishuConnector, feishu: FeishuServer, inbox: Inbox
):
    image_id = await feishu.post_image(CHAT, MEMBER, b"\xff\xd8 warned")
    await inbox.wait(lambda m: m.message_id == image_id)
    await connector.say_in_room(feishu_id(CHAT), "请撤回", (feishu_id(MEMBER),))
    warning = await feishu.wait_for_sent(lambda s: s.text.endswith("请撤回"), WAIT)
    assert warning.reply_to == image_id and warning.chat_id == CHAT
    assert warning.at == (MEMBER,) and f'<at user_id="{MEMBER}">成员小张</at>' in warning.text
    connector.reply_window_seconds = 0.0  # the photo is now too old to be what was flagged
    try:
        await connector.say_in_room(feishu_id(CHAT), "请撤回刚才的消息", (feishu_id(MEMBER),))
    finally:
        connector.reply_window_seconds = 600.0
    alone = await feishu.wait_for_sent(lambda s: s.text.endswith("请撤回刚才的消息"), WAIT)
    assert alone.reply_to is None and alone.at == (MEMBER,) and alone.chat_id == CHAT
    await connector.say_in_room(feishu_id(CHAT), "本群已开启保密检测")
    plain = await feishu.wait_for_sent(lambda s: s.text == "本群已开启保密检测", WAIT)
    assert plain.reply_to is None and plain.at == ()


async def test_dm_to_an_open_id_and_send_errors(connector: FeishuConnector, feishu: FeishuServer):
    await connector.send_direct(feishu_id(MANAGER), "事件编号 ABC234")
    dm = await feishu.wait_for_sent(lambda s: s.open_id == MANAGER, WAIT)
    assert dm.text == "事件编号 ABC234" and dm.chat_id is None
    with pytest.raises(SendError, match="230001"):
        await connector.send_direct(feishu_id("ou_nobody"), "hello")
    with pytest.raises(SendError, match="not a Feishu id"):
        await connector.send_direct("qq:10001", "hello")


async def test_room_info_follows_the_member_pages(connector: FeishuConnector):
    info = await connector.room_info(feishu_id(CHAT))
    assert info.topic == "项目一组" and info.owner_id == feishu_id(OWNER)
    assert info.admin_ids == (feishu_id(MANAGER),)
    assert info.member_ids == tuple(feishu_id(m) for m in (OWNER, MANAGER, MEMBER, BOT_OPEN_ID))
    with pytest.raises(ConnectorError, match="232011"):
        await connector.room_info(feishu_id("oc_unknown"))


async def test_an_expired_token_is_renewed(connector: FeishuConnector, feishu: FeishuServer):
    issued = feishu.tokens_issued
    feishu.expire_token()
    await connector.send_direct(feishu_id(OWNER), "after the renewal")
    await feishu.wait_for_sent(lambda s: s.text == "after the renewal", WAIT)
    assert feishu.tokens_issued == issued + 1


async def test_an_outage_fails_sends_until_it_ends(
    connector: FeishuConnector, feishu: FeishuServer
):
    feishu.refuse()
    try:
        with pytest.raises(SendError):
            await connector.send_direct(feishu_id(OWNER), "during the outage")
    finally:
        feishu.refuse(False)
    await connector.send_direct(feishu_id(OWNER), "after the outage")
    await feishu.wait_for_sent(lambda s: s.text == "after the outage", WAIT)


async def test_a_failing_handler_and_bad_content_do_not_stop_delivery(
    connector: FeishuConnector, feishu: FeishuServer, inbox: Inbox
):
    await feishu.post_text(CHAT, MEMBER, Inbox.FAIL)
    await feishu.post_message(CHAT, MEMBER, "text", {"text": 3})
    await feishu.post_message(CHAT, MEMBER, "sticker", {"file_key": "sticker"})
    bad = await feishu.post_message(CHAT, MEMBER, "image", {})
    after = await feishu.post_text(CHAT, MEMBER, "after the bad ones")
    await inbox.wait(lambda m: m.message_id == after)
    with pytest.raises(FetchError):
        await connector.fetch(await inbox.wait(lambda m: m.message_id == bad))


async def test_wrong_credentials_are_a_clear_error(feishu: FeishuServer):
    with pytest.raises(ConnectorError, match="refused the app's credentials"):
        await connector_for(feishu, app_secret="wrong").start(Inbox().handle)


async def test_an_unreachable_api_is_a_clear_error(feishu: FeishuServer):
    unreachable = connector_for(feishu, base_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ConnectorError, match="cannot reach the Feishu open API"):
        await unreachable.start(Inbox().handle)


async def test_a_busy_callback_port_is_a_clear_error(
    connector: FeishuConnector, feishu: FeishuServer
):
    busy = connector_for(feishu, listen=f"{connector.host}:{connector.port}")
    with pytest.raises(ConnectorError, match="cannot serve the Feishu event callback"):
        await busy.start(Inbox().handle)


async def test_the_long_connection_delivers_reconnects_and_closes(tmp_path: Path) -> None:
    async with FeishuServer(events="long_connection") as server:
        server.add_user(MEMBER, "成员小张")
        server.add_chat(CHAT, "项目一组", owner=OWNER, members=[MEMBER, BOT_OPEN_ID])
        inbox = Inbox()
        connector = connector_for(
            server, events="long_connection", verification_token="", encrypt_key=""
        )
        await connector.start(inbox.handle)
        try:
            assert server.connections == 1
            image_id = await server.post_image(CHAT, MEMBER, b"\xff\xd8 over the socket")
            image = await inbox.wait(lambda m: m.message_id == image_id)
            assert image.kind is MessageKind.IMAGE and image.sender_name == "成员小张"
            assert await connector.fetch(image) == b"\xff\xd8 over the socket"

            await server.drop()
            await server.wait_for_connections(2, WAIT)
            text_id = await server.post_text(CHAT, MEMBER, "after the reconnect")
            await inbox.wait(lambda m: m.message_id == text_id)
        finally:
            await connector.stop()
        for _ in range(100):  # the client closed its socket
            if not server._sockets:
                break
            await asyncio.sleep(0.05)
        assert not server._sockets


async def test_the_long_connection_needs_only_the_app_credentials(feishu: FeishuServer) -> None:
    connector_for(feishu, events="long_connection", verification_token="", encrypt_key="")
    with pytest.raises(ConnectorError, match="FEISHU_EVENTS is callback or long_connection"):
        connector_for(feishu, events="webhook")


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"encrypt_key": ""}, "FEISHU_ENCRYPT_KEY"),
        ({"verification_token": " "}, "FEISHU_VERIFICATION_TOKEN"),
        ({"listen": "8090"}, "FEISHU_CALLBACK_LISTEN"),
        ({"base_url": "https://open.feishu.cn/path"}, "FEISHU_BASE_URL"),
    ],
)
async def test_bad_settings_are_clear_errors(
    feishu: FeishuServer, changes: dict[str, str], error: str
) -> None:
    with pytest.raises(ConnectorError, match=error):
        connector_for(feishu, **changes)
