"""Feishu groups end to end on real parts: the Feishu connector (lark-oapi) against the Feishu
stand-in (`tests/harness/feishu_server.py`: the open API, and encrypted, signed event callbacks
to the bot), a Redis process, a worker process scanning with real OCR, and the bot service in
this process.

Each test uses its own group, with admins and officers of its own where one test's DM could
otherwise fall into another test's batch window.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.connectors.feishu import FeishuConnector, feishu_id, feishu_native
from bot.templates import load_templates
from tests.e2e_stack import (
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
from tests.harness.feishu_server import BOT_OPEN_ID, FeishuServer, SentByBot
from tests.harness_client import free_port

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

MEMBER, MEMBER_NAME = "ou_member0000000000000000000001", "王小明"
MEMBER_ID = feishu_id(MEMBER)
OFFICER = feishu_id("ou_officer000000000000000000001")  # the organisation-wide officer


def feishu_group(number: int, topic: str, officer: str = OFFICER) -> ChatGroup:
    owner = feishu_id(f"ou_owner{number:023d}")
    return ChatGroup(feishu_id(f"oc_chat{number:024d}"), topic, owner, officer)


BY_CHAT = feishu_group(1, "项目一组")
BY_CLI = feishu_group(2, "项目二组", feishu_id("ou_officer000000000000000000002"))
OUTSIDE = feishu_group(3, "外部交流群")
RECALLED = feishu_group(4, "项目四组", feishu_id("ou_officer000000000000000000004"))
OUTAGE = feishu_group(5, "项目五组", feishu_id("ou_officer000000000000000000005"))
GROUPS = (BY_CHAT, BY_CLI, OUTSIDE, RECALLED, OUTAGE)


def _said(sent: SentByBot) -> Said:
    """What the Feishu stand-in saw the bot send, in `feishu:` ids."""
    return Said(
        room_id=feishu_id(sent.chat_id) if sent.chat_id else None,
        to_id=feishu_id(sent.open_id) if sent.open_id else None,
        text=sent.text,
        mention_ids=tuple(feishu_id(open_id) for open_id in sent.at),
    )


class Feishu:
    def __init__(self, server: FeishuServer, stack: ServiceStack) -> None:
        self.server, self.stack = server, stack
        self.view = StandInView(server, _said)

    async def post_image(self, group: ChatGroup, data: bytes) -> str:
        """The member posts `data`; the message key."""
        message_id = await self.server.post_image(feishu_native(group.room_id), MEMBER, data)
        return f"feishu:{message_id}"


@contextlib.asynccontextmanager
async def feishu_stack(folder: Path, events: str = "callback") -> AsyncIterator[Feishu]:
    """The Feishu stand-in with every test group, and the stack on a Feishu connector that
    takes events over the HTTP callback or the long connection."""
    async with FeishuServer(events=events) as server:
        server.add_user(MEMBER, MEMBER_NAME)
        server.add_user(feishu_native(OFFICER), "保密员")
        for group in GROUPS:
            owner = feishu_native(group.admin)
            server.add_user(owner, f"{group.topic}群主")
            server.add_user(feishu_native(group.officer), f"{group.topic}保密员")
            server.add_chat(
                feishu_native(group.room_id),
                group.topic,
                owner=owner,
                members=[MEMBER, BOT_OPEN_ID],
            )
        connector = FeishuConnector(
            server.app_id,
            server.app_secret,
            verification_token=server.verification_token,
            encrypt_key=server.encrypt_key,
            events=events,
            base_url=server.base_url,
            listen=f"127.0.0.1:{free_port()}",
        )
        server.callback_url = connector.callback_url
        settings = stack_settings(OFFICER)
        async with service_stack(folder, connector, workers=1, bot_settings=settings) as stack:
            yield Feishu(server, stack)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def feishu(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Feishu]:
    async with feishu_stack(tmp_path_factory.mktemp("e2e-feishu")) as running:
        yield running


async def test_owner_enrolls_in_chat_and_a_marked_photo_gets_a_reply_warning(
    feishu: Feishu,
) -> None:
    chat = feishu_native(BY_CHAT.room_id)
    await feishu.server.post_text(
        chat, feishu_native(BY_CHAT.admin), "/enroll", mentions=(BOT_OPEN_ID,)
    )
    await enrolled_in_chat(feishu.view, BY_CHAT)

    key = await feishu.post_image(BY_CHAT, marked_page_photo("关于做好年度保密检查工作的通知"))
    await alerted_once(feishu.stack, feishu.view, BY_CHAT, (MEMBER_ID, MEMBER_NAME), key)
    (warning,) = [s for s in feishu.server.sent if s.at]
    assert warning.reply_to == key.removeprefix("feishu:")  # a reply to the photo
    assert len(in_room(feishu.view, BY_CHAT)) == 2  # the enrollment reply and the warning


async def test_cli_enrolled_group_file_is_fetched_and_warned(feishu: Feishu) -> None:
    enroll_by_cli(feishu.stack, BY_CLI)
    scan = marked_page_photo("关于印发保密工作要点的通知")
    message_id = await feishu.server.post_file(
        feishu_native(BY_CLI.room_id), MEMBER, scan, "保密工作要点.jpg"
    )
    member = (MEMBER_ID, MEMBER_NAME)
    await alerted_once(
        feishu.stack, feishu.view, BY_CLI, member, f"feishu:{message_id}", item="文件"
    )


async def test_a_marked_photo_in_a_group_not_enrolled_stays_silent(feishu: Feishu) -> None:
    await feishu.stack.idle()
    stored = Stored.now(feishu.stack.client)
    resources_before = sum("/resources/" in call for call in feishu.server.calls)

    first = await feishu.post_image(OUTSIDE, marked_page_photo("关于做好年度保密检查工作的通知"))
    hint = await feishu.view.wait_until_said(lambda s: s.room_id == OUTSIDE.room_id)
    later = [
        await feishu.post_image(OUTSIDE, marked_page_photo("关于印发内部工作要点的通知")),
        "feishu:"
        + await feishu.server.post_text(
            feishu_native(OUTSIDE.room_id), MEMBER, "请大家看一下这份内部文件"
        ),
    ]
    await feishu.stack.idle()
    await asyncio.sleep(2 * feishu.stack.settings.outbox.min_interval_seconds)

    assert in_room(feishu.view, OUTSIDE) == [hint] and not hint.mention_ids
    assert hint.text == load_templates(feishu.stack.settings.source_dir).render(
        "enroll_help", group=OUTSIDE.topic
    )
    stored.assert_nothing_kept(feishu.stack, [first, *later])
    assert sum("/resources/" in call for call in feishu.server.calls) == resources_before


async def test_a_recall_is_recorded_and_the_recipients_told(feishu: Feishu) -> None:
    enroll_by_cli(feishu.stack, RECALLED)
    key = await feishu.post_image(RECALLED, marked_page_photo("关于加强涉密载体管理的通知"))
    await alerted_once(feishu.stack, feishu.view, RECALLED, (MEMBER_ID, MEMBER_NAME), key)

    await feishu.server.recall(feishu_native(RECALLED.room_id), key.removeprefix("feishu:"))
    await recall_told(feishu.stack, feishu.view, RECALLED, key, MEMBER_NAME)


async def test_an_api_outage_and_a_redelivered_event_lose_and_repeat_nothing(
    feishu: Feishu,
) -> None:
    enroll_by_cli(feishu.stack, OUTAGE)
    slow_photo = marked_page_photo("关于开展专项保密检查的通知", width=2480, body_lines=30)
    key = await feishu.post_image(OUTAGE, slow_photo)
    await pending_job(feishu.stack, key)  # being scanned: its alerts come later

    feishu.server.refuse()  # the open API is down when the alerts go out
    refused_from = len(feishu.server.calls)
    await until(
        lambda: any("/im/v1/messages" in c for c in feishu.server.calls[refused_from:]),
        "a send refused by the outage",
    )
    feishu.server.refuse(False)

    await alerted_once(feishu.stack, feishu.view, OUTAGE, (MEMBER_ID, MEMBER_NAME), key)
    # Feishu sends an event again when its answer was late: the same message is taken in once.
    message_id = key.removeprefix("feishu:")
    event = {
        "sender": {"sender_id": {"open_id": MEMBER}, "sender_type": "user"},
        "message": {
            "message_id": message_id,
            "create_time": "0",
            "chat_id": feishu_native(OUTAGE.room_id),
            "chat_type": "group",
            "message_type": "image",
            "content": '{"image_key": "img_v3_again"}',
        },
    }
    status, _ = await feishu.server.push("im.message.receive_v1", event)
    assert status == 200
    await feishu.stack.idle()
    incident = feishu.stack.incidents.by_message(key)
    assert incident is not None and len(incident.sightings) == 1
    assert len([s for s in in_room(feishu.view, OUTAGE) if s.mention_ids]) == 1


async def test_over_the_long_connection_a_marked_photo_is_warned_once(tmp_path: Path) -> None:
    async with feishu_stack(tmp_path, events="long_connection") as over_socket:
        enroll_by_cli(over_socket.stack, BY_CLI)
        key = await over_socket.post_image(BY_CLI, marked_page_photo("关于做好保密检查工作的通知"))
        member = (MEMBER_ID, MEMBER_NAME)
        await alerted_once(over_socket.stack, over_socket.view, BY_CLI, member, key)
        assert over_socket.server.connections == 1
