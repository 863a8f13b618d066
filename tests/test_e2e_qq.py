"""QQ groups end to end on real parts: the QQ connector (`OneBotConnector`) over a WebSocket to
the OneBot v11 stand-in (`tests/harness/onebot_server.py`), a Redis process, a worker process
scanning with real OCR, and the bot service in this process.

Each test uses its own group, with admins and officers of its own where one test's DM could
otherwise fall into another test's batch window.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

from bot import keys
from bot.connectors.onebot import OneBotConnector, qq_id
from bot.metrics import ALERTS_SENT
from bot.queue import job_key
from bot.templates import load_templates
from tests.e2e_stack import ServiceStack, service_stack
from tests.harness.onebot_server import BOT_QQ, OneBotServer, SentByBot
from tests.test_e2e_wechat import (
    PAGE_TEXT,
    UUID_FILE_BOX_MIN,
    WAIT,
    key_names,
    marked_page_photo,
    pending_job,
    until,
)

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

MEMBER, MEMBER_NAME = 10003, "王小明"
OFFICER = 10009  # the organisation-wide officer


@dataclass(frozen=True)
class Group:
    number: int
    name: str
    owner: int
    officer: int = OFFICER

    @property
    def room_id(self) -> str:
        return qq_id(self.number)


BY_CHAT = Group(30001, "项目一组", 11001)
BY_CLI = Group(30002, "项目二组", 11002, 12002)
OUTSIDE = Group(30003, "外部交流群", 11003)
RECALLED = Group(30004, "项目四组", 11004, 12004)
DROPPED = Group(30005, "项目五组", 11005, 12005)
GROUPS = (BY_CHAT, BY_CLI, OUTSIDE, RECALLED, DROPPED)


@dataclass
class QQStack:
    server: OneBotServer
    stack: ServiceStack
    connector: OneBotConnector

    def in_group(self, group: Group) -> list[SentByBot]:
        return [s for s in self.server.sent if s.group_id == group.number]

    def dms_to(self, user: int) -> list[SentByBot]:
        return [s for s in self.server.sent if s.user_id == user]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def qq(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[QQStack]:
    folder = tmp_path_factory.mktemp("e2e-qq")
    async with OneBotServer() as server:
        server.add_user(MEMBER, MEMBER_NAME)
        server.add_user(OFFICER, "保密员")
        for group in GROUPS:
            server.add_user(group.owner, f"{group.name}群主")
            server.add_user(group.officer, f"{group.name}保密员")
            server.add_group(group.number, group.name, owner=group.owner, members=[MEMBER])
        connector = OneBotConnector(server.ws_url, server.token, reconnect_delays=(0.5, 1.0))
        settings = {
            "officers": [qq_id(OFFICER)],
            "pipeline": {"claim_idle_seconds": 3, "block_ms": 200, "max_attempts": 3},
        }
        async with service_stack(folder, connector, workers=1, bot_settings=settings) as stack:
            yield QQStack(server, stack, connector)


@pytest.fixture(scope="module")
def photo() -> bytes:
    data = marked_page_photo("关于做好年度保密检查工作的通知")
    assert len(data) > UUID_FILE_BOX_MIN
    return data


def assert_no_page_content(messages: list[SentByBot]) -> None:
    for sent in messages:
        for words in PAGE_TEXT:
            assert words not in sent.text, (words, sent.text)


async def alerted_once(qq: QQStack, group: Group, message_key: str, item: str = "图片") -> None:
    """The item's @-warning in the group and one DM to its owner and officer each, each exactly
    once, when everything has been sent."""
    server = qq.server
    warning = await server.wait_for_sent(lambda s: s.group_id == group.number and bool(s.at), WAIT)
    for user in (group.owner, group.officer):
        await server.wait_for_sent(lambda s, u=user: s.user_id == u, WAIT)
    await qq.stack.idle()
    incident = qq.stack.incidents.by_message(message_key)
    assert incident is not None
    assert [s.message_key for s in incident.sightings] == [message_key]
    assert qq.stack.client.get(job_key(message_key)) == b"done"

    assert [s for s in qq.in_group(group) if s.at] == [warning]
    template = load_templates(qq.stack.settings.source_dir).render(
        "member_warning", member=MEMBER_NAME, item=item, group=group.name
    )
    assert warning.at == (MEMBER,) and warning.text.strip() == template
    for user in (group.owner, group.officer):
        (dm,) = qq.dms_to(user)
        assert f"事件编号 {incident.incident_id}" in dm.text
        assert f"群聊：{group.name}" in dm.text and f"发送人：{MEMBER_NAME}" in dm.text
    assert not qq.dms_to(MEMBER)
    assert_no_page_content([warning, *qq.dms_to(group.owner), *qq.dms_to(group.officer)])


def enroll_by_cli(qq: QQStack, group: Group) -> None:
    out = qq.stack.cli("groups", "enroll", group.room_id, "--officer", qq_id(group.officer))
    assert f"enrolled {group.room_id}; officers: {qq_id(group.officer)}" in out


async def test_owner_enrolls_in_chat_and_a_marked_photo_is_warned_once(
    qq: QQStack, photo: bytes
) -> None:
    await qq.server.post_text(BY_CHAT.number, BY_CHAT.owner, "/enroll")
    reply = await qq.server.wait_for_sent(lambda s: s.group_id == BY_CHAT.number, WAIT)
    assert f"本群「{BY_CHAT.name}」已开启保密检测" in reply.text
    assert "1 位管理员和 1 位保密员" in reply.text

    message_id = await qq.server.post_image(BY_CHAT.number, MEMBER, photo)
    await alerted_once(qq, BY_CHAT, f"qq:{message_id}")
    assert len(qq.in_group(BY_CHAT)) == 2  # the enrollment reply and the warning


async def test_a_member_may_not_enroll(qq: QQStack) -> None:
    await qq.server.post_text(OUTSIDE.number, MEMBER, "/enroll")
    refused = await qq.server.wait_for_sent(
        lambda s: s.group_id == OUTSIDE.number and s.at == (MEMBER,), WAIT
    )
    assert refused.text.strip() == load_templates(qq.stack.settings.source_dir).render(
        "reply_not_allowed"
    )
    assert not qq.stack.client.sismember(keys.GROUPS_ENROLLED, OUTSIDE.room_id)


async def test_cli_enrolled_group_file_without_url_is_fetched_and_warned(qq: QQStack) -> None:
    enroll_by_cli(qq, BY_CLI)
    scan = marked_page_photo("关于印发保密工作要点的通知")
    file_id = await qq.server.upload_file(BY_CLI.number, MEMBER, scan, "保密工作要点.jpg")
    await alerted_once(qq, BY_CLI, f"qq:file-{file_id}", item="文件")
    assert "get_group_file_url" in qq.server.actions


async def test_the_same_photo_in_a_group_not_enrolled_stays_silent(
    qq: QQStack, photo: bytes
) -> None:
    await qq.stack.idle()
    client = qq.stack.client
    before = key_names(client)
    said_before = qq.in_group(OUTSIDE)  # the refused /enroll of the test before
    counters = (client.hgetall(keys.INTAKE_COUNTS), client.hgetall(keys.JOB_STATS))

    first = await qq.server.post_image(OUTSIDE.number, MEMBER, photo)
    hint = await qq.server.wait_for_sent(
        lambda s: s.group_id == OUTSIDE.number and s not in said_before, WAIT
    )
    later = [
        await qq.server.post_image(OUTSIDE.number, MEMBER, marked_page_photo("内部工作要点")),
        await qq.server.post_text(OUTSIDE.number, MEMBER, "请大家看一下这份内部文件"),
    ]
    await qq.stack.idle()
    await asyncio.sleep(2 * qq.stack.settings.outbox.min_interval_seconds)

    # Said once, how to enroll; then silence. Nothing fetched, scanned or stored.
    assert qq.in_group(OUTSIDE) == [*said_before, hint] and not hint.at
    assert hint.text == load_templates(qq.stack.settings.source_dir).render(
        "enroll_help", group=OUTSIDE.name
    )
    assert (client.hgetall(keys.INTAKE_COUNTS), client.hgetall(keys.JOB_STATS)) == counters
    new_keys = key_names(client) - before
    outbox_keys = (keys.OUTBOX_QUEUED, keys.OUTBOX_SENT, keys.OUTBOX_RATE, keys.OUTBOX_LOG)
    allowed = {keys.GROUPS_TOLD, keys.METRICS + ALERTS_SENT}
    assert all(k in allowed or k.startswith(outbox_keys) for k in new_keys), new_keys
    for message_id in (first, *later):
        assert not any(str(message_id) in key for key in new_keys)
        assert qq.stack.incidents.by_message(f"qq:{message_id}") is None
    assert "get_image" not in qq.server.actions  # not even fetched


async def test_a_recall_is_recorded_and_the_recipients_told(qq: QQStack) -> None:
    enroll_by_cli(qq, RECALLED)
    photo = marked_page_photo("关于加强涉密载体管理的通知")
    message_id = await qq.server.post_image(RECALLED.number, MEMBER, photo)
    key = f"qq:{message_id}"
    await alerted_once(qq, RECALLED, key)

    await qq.server.recall(RECALLED.number, MEMBER, message_id)
    for user in (RECALLED.owner, RECALLED.officer):
        await qq.server.wait_for_sent(lambda s, u=user: s.user_id == u and "撤回" in s.text, WAIT)
    incident = qq.stack.incidents.by_message(key)
    assert incident is not None and incident.recall_status == "all"
    notice = next(s for s in qq.dms_to(RECALLED.officer) if "撤回" in s.text)
    assert f"事件 {incident.incident_id}" in notice.text and MEMBER_NAME in notice.text


async def test_a_dropped_connection_reconnects_and_nothing_is_lost(qq: QQStack) -> None:
    enroll_by_cli(qq, DROPPED)
    slow_photo = marked_page_photo("关于开展专项保密检查的通知", width=2480, body_lines=30)
    connections = qq.server.connections
    message_id = await qq.server.post_image(DROPPED.number, MEMBER, slow_photo)
    await pending_job(qq.stack, f"qq:{message_id}")  # being scanned: its alerts come later

    qq.server.refuse()
    await qq.server.drop()
    await until(lambda: qq.server.rejected >= 1, "a refused reconnect")
    qq.server.refuse(False)
    await qq.server.wait_for_connections(connections + 1, WAIT)

    await alerted_once(qq, DROPPED, f"qq:{message_id}")
    assert qq.connector.connected and qq.connector.self_id == qq_id(BOT_QQ)
    # And what is posted after the reconnect is taken in.
    later = await qq.server.post_text(DROPPED.number, DROPPED.owner, "/status")
    status = await qq.server.wait_for_sent(
        lambda s: s.group_id == DROPPED.number and "待处理事件" in s.text, WAIT
    )
    assert status.message_id > later
