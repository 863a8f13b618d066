"""QQ groups end to end on real parts: the QQ connector (`OneBotConnector`) over a WebSocket to
the OneBot v11 stand-in (`tests/harness/onebot_server.py`), a Redis process, a worker process
scanning with real OCR, and the bot service in this process.

Each test uses its own group, with admins and officers of its own where one test's DM could
otherwise fall into another test's batch window.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bot import keys
from bot.connectors.onebot import OneBotConnector, qq_id, qq_number
from bot.templates import load_templates
from tests.e2e_stack import (
    UUID_FILE_BOX_MIN,
    WAIT,
    ChatGroup,
    Said,
    ServiceStack,
    StandInView,
    Stored,
    alerted_once,
    enroll_by_cli,
    enrolled_in_chat,
    in_room,
    marked_page_photo,
    pending_job,
    recall_told,
    service_stack,
    stack_settings,
    until,
)
from tests.harness.onebot_server import BOT_QQ, OneBotServer, SentByBot

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

MEMBER, MEMBER_NAME = 10003, "王小明"
MEMBER_ID = qq_id(MEMBER)
OFFICER = qq_id(10009)  # the organisation-wide officer


def qq_group(number: int, topic: str, owner: int, officer: str = OFFICER) -> ChatGroup:
    return ChatGroup(qq_id(number), topic, qq_id(owner), officer)


BY_CHAT = qq_group(30001, "项目一组", 11001)
BY_CLI = qq_group(30002, "项目二组", 11002, qq_id(12002))
OUTSIDE = qq_group(30003, "外部交流群", 11003)
RECALLED = qq_group(30004, "项目四组", 11004, qq_id(12004))
DROPPED = qq_group(30005, "项目五组", 11005, qq_id(12005))
GROUPS = (BY_CHAT, BY_CLI, OUTSIDE, RECALLED, DROPPED)


def _said(sent: SentByBot) -> Said:
    """What the OneBot stand-in saw the bot send, in `qq:` ids."""
    return Said(
        room_id=qq_id(sent.group_id) if sent.group_id else None,
        to_id=qq_id(sent.user_id) if sent.user_id else None,
        text=sent.text.strip(),
        mention_ids=tuple(qq_id(user) for user in sent.at),
    )


class QQ:
    def __init__(self, server: OneBotServer, stack: ServiceStack, connector: OneBotConnector):
        self.server, self.stack, self.connector = server, stack, connector
        self.view = StandInView(server, _said)

    async def post_image(self, group: ChatGroup, data: bytes) -> str:
        """The member posts `data`; the message key."""
        return f"qq:{await self.server.post_image(qq_number(group.room_id), MEMBER, data)}"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def qq(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[QQ]:
    folder = tmp_path_factory.mktemp("e2e-qq")
    async with OneBotServer() as server:
        server.add_user(MEMBER, MEMBER_NAME)
        server.add_user(qq_number(OFFICER), "保密员")
        for group in GROUPS:
            server.add_user(qq_number(group.admin), f"{group.topic}群主")
            server.add_user(qq_number(group.officer), f"{group.topic}保密员")
            owner = qq_number(group.admin)
            server.add_group(qq_number(group.room_id), group.topic, owner=owner, members=[MEMBER])
        connector = OneBotConnector(server.ws_url, server.token, reconnect_delays=(0.5, 1.0))
        settings = stack_settings(OFFICER)
        async with service_stack(folder, connector, workers=1, bot_settings=settings) as stack:
            yield QQ(server, stack, connector)


@pytest.fixture(scope="module")
def photo() -> bytes:
    data = marked_page_photo("关于做好年度保密检查工作的通知")
    assert len(data) > UUID_FILE_BOX_MIN
    return data


async def test_owner_enrolls_in_chat_and_a_marked_photo_is_warned_once(
    qq: QQ, photo: bytes
) -> None:
    await qq.server.post_text(qq_number(BY_CHAT.room_id), qq_number(BY_CHAT.admin), "/enroll")
    await enrolled_in_chat(qq.view, BY_CHAT)

    key = await qq.post_image(BY_CHAT, photo)
    await alerted_once(qq.stack, qq.view, BY_CHAT, (MEMBER_ID, MEMBER_NAME), key)
    assert len(in_room(qq.view, BY_CHAT)) == 2  # the enrollment reply and the warning


async def test_a_member_may_not_enroll(qq: QQ) -> None:
    await qq.server.post_text(qq_number(OUTSIDE.room_id), MEMBER, "/enroll")
    refused = await qq.view.wait_until_said(
        lambda s: s.room_id == OUTSIDE.room_id and s.mention_ids == (MEMBER_ID,)
    )
    templates = load_templates(qq.stack.settings.source_dir)
    assert refused.text == templates.render("reply_not_allowed")
    assert not qq.stack.client.sismember(keys.GROUPS_ENROLLED, OUTSIDE.room_id)


async def test_cli_enrolled_group_file_without_url_is_fetched_and_warned(qq: QQ) -> None:
    enroll_by_cli(qq.stack, BY_CLI)
    scan = marked_page_photo("关于印发保密工作要点的通知")
    group_number = qq_number(BY_CLI.room_id)
    file_id = await qq.server.upload_file(group_number, MEMBER, scan, "保密工作要点.jpg")
    member = (MEMBER_ID, MEMBER_NAME)
    await alerted_once(qq.stack, qq.view, BY_CLI, member, f"qq:file-{file_id}", item="文件")
    assert "get_group_file_url" in qq.server.actions


async def test_the_same_photo_in_a_group_not_enrolled_stays_silent(qq: QQ, photo: bytes) -> None:
    await qq.stack.idle()
    stored = Stored.now(qq.stack.client)
    said_before = in_room(qq.view, OUTSIDE)  # the refused /enroll of the test before
    group_number = qq_number(OUTSIDE.room_id)

    first = await qq.post_image(OUTSIDE, photo)
    hint = await qq.view.wait_until_said(
        lambda s: s.room_id == OUTSIDE.room_id and s not in said_before
    )
    later = [
        await qq.post_image(OUTSIDE, marked_page_photo("关于印发内部工作要点的通知")),
        f"qq:{await qq.server.post_text(group_number, MEMBER, '请大家看一下这份内部文件')}",
    ]
    await qq.stack.idle()
    await asyncio.sleep(2 * qq.stack.settings.outbox.min_interval_seconds)

    # Said once, how to enroll; then silence. Nothing fetched, scanned or stored.
    assert in_room(qq.view, OUTSIDE) == [*said_before, hint] and not hint.mention_ids
    assert hint.text == load_templates(qq.stack.settings.source_dir).render(
        "enroll_help", group=OUTSIDE.topic
    )
    stored.assert_nothing_kept(qq.stack, [first, *later])
    assert "get_image" not in qq.server.actions  # not even fetched


async def test_a_recall_is_recorded_and_the_recipients_told(qq: QQ) -> None:
    enroll_by_cli(qq.stack, RECALLED)
    key = await qq.post_image(RECALLED, marked_page_photo("关于加强涉密载体管理的通知"))
    await alerted_once(qq.stack, qq.view, RECALLED, (MEMBER_ID, MEMBER_NAME), key)

    await qq.server.recall(qq_number(RECALLED.room_id), MEMBER, int(key.removeprefix("qq:")))
    await recall_told(qq.stack, qq.view, RECALLED, key, MEMBER_NAME)


async def test_a_dropped_connection_reconnects_and_nothing_is_lost(qq: QQ) -> None:
    enroll_by_cli(qq.stack, DROPPED)
    slow_photo = marked_page_photo("关于开展专项保密检查的通知", width=2480, body_lines=30)
    connections = qq.server.connections
    key = await qq.post_image(DROPPED, slow_photo)
    await pending_job(qq.stack, key)  # being scanned: its alerts come later

    qq.server.refuse()
    await qq.server.drop()
    await until(lambda: qq.server.rejected >= 1, "a refused reconnect")
    qq.server.refuse(False)
    await qq.server.wait_for_connections(connections + 1, WAIT)

    await alerted_once(qq.stack, qq.view, DROPPED, (MEMBER_ID, MEMBER_NAME), key)
    assert qq.connector.connected and qq.connector.self_id == qq_id(BOT_QQ)
    # What is posted after the reconnect is taken in.
    await qq.server.post_text(qq_number(DROPPED.room_id), qq_number(DROPPED.admin), "/status")
    await qq.view.wait_until_said(
        lambda s: s.room_id == DROPPED.room_id and "待处理事件：1 件" in s.text
    )
