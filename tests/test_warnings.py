"""Every leaker is warned: one warning per member per document, the warnings of one group merged
into one message that @-mentions everyone concerned, at most once per group interval, and what
became of each warning recorded on the incident's sighting.

Real parts: reports from real scans of small marked texts, the incident store and the outbox on
a real embedded Redis, the in-process sandbox chat. Intervals are shortened by settings."""

from __future__ import annotations

import asyncio
import re
import threading
from collections import Counter
from typing import Any

import pytest
import redis
from test_outbox import ADMIN, OFFICER, bot_texts, deliver_until, make_settings

from bot.connectors.sandbox import SandboxConnector
from bot.groups import Group
from bot.incidents import IncidentEvent, Incidents
from bot.jobs import ScanJob
from bot.outbox import Outbox
from bot.settings import BotSettings
from bot.templates import Templates, load_templates
from detectors import ScanConfig, Scanner
from tests.conftest import scan_job

ROOM = "room-w@chatroom"
TOPIC = "综合科工作群"
OTHER_ROOM = "room-x@chatroom"
MEMBERS = tuple(f"wxid-member-{n:02d}" for n in range(12))
INCIDENT_ID = re.compile(r"[A-HJ-NP-Z2-9]{6}")


def marked(n: int) -> bytes:
    """A different marked document for each `n`."""
    return f"机密★1年\n关于第{n}批内部资料清理工作的通知".encode()


@pytest.fixture(scope="module")
def scanner(config: ScanConfig) -> Scanner:
    return Scanner(config)


@pytest.fixture(scope="module")
def templates() -> Templates:
    return load_templates()


def group(room_id: str = ROOM) -> Group:
    return Group(room_id, TOPIC, (ADMIN, OFFICER), (), "cli", 0.0)


def sandbox() -> SandboxConnector:
    chat = SandboxConnector()
    for room_id in (ROOM, OTHER_ROOM):
        chat.add_room(room_id, topic=TOPIC, owner_id=ADMIN, member_ids=(*MEMBERS, OFFICER))
    return chat


class Stack:
    """The incident store and the outbox, written together as a worker does after a scan."""

    def __init__(self, client: redis.Redis, settings: BotSettings, templates: Templates) -> None:
        self.client = client
        self.incidents = Incidents(client, settings)
        self.outbox = Outbox(client, settings, templates, environ={})

    def record(self, job: ScanJob, report: dict[str, Any]) -> IncidentEvent:
        with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    event = self.incidents.record(pipe, job, report)
                    assert event is not None
                    self.outbox.queue_for_incident(pipe, event, group(job.room_id))
                    pipe.execute()
                    return event
                except redis.WatchError:
                    continue


def post(n: int, member: str, document: int, room: str = ROOM) -> ScanJob:
    data = marked(document)
    return scan_job(data, f"msg-{n}", room, topic=TOPIC, sender_id=member)


def scan(scanner: Scanner, document: int) -> dict[str, Any]:
    report = scanner.scan(marked(document), "message.txt").to_json()
    assert report["verdict"] == "critical"
    return report


def warnings_in(chat: SandboxConnector, room: str = ROOM) -> list[Any]:
    return [line for line in chat.transcript(room) if line.from_bot]


def warned_members(chat: SandboxConnector, room: str = ROOM) -> list[str]:
    return [m for line in warnings_in(chat, room) for m in line.mention_ids]


async def test_two_members_posting_two_documents_within_the_interval_are_both_warned(
    client: redis.Redis, templates: Templates, scanner: Scanner
) -> None:
    # In production the interval is 30 s and the posts 12 s apart; here 1 s and 0.3 s.
    settings = make_settings(group_warning_interval_seconds=1.0, batch_window_seconds=0)
    stack = Stack(client, settings, templates)
    chat = sandbox()
    first = stack.record(post(1, MEMBERS[0], 1), scan(scanner, 1))

    async def ignore(_: object) -> None:
        return None

    await chat.start(ignore)
    stop = asyncio.Event()
    sender = asyncio.create_task(stack.outbox.run_sender(chat, stop, consumer="s"))
    try:
        for _ in range(500):
            if warned_members(chat):
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        second = stack.record(post(2, MEMBERS[1], 2), scan(scanner, 2))
        for _ in range(1000):
            if len(warned_members(chat)) == 2 and stack.outbox.backlog() == 0:
                break
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.wait_for(sender, 10)

    assert first.incident_id != second.incident_id
    messages = warnings_in(chat)
    # Two messages, the second one the group's interval after the first.
    assert [line.mention_ids for line in messages] == [(MEMBERS[0],), (MEMBERS[1],)]
    sent = sorted(r.sent_at for r in stack.outbox.delivery_log() if r.kind == "warning")
    assert sent[1] - sent[0] >= 1.0 - 0.05
    for event, member in ((first, MEMBERS[0]), (second, MEMBERS[1])):
        incident = stack.incidents.get(event.incident_id)
        assert incident is not None
        [sighting] = incident.sightings
        assert sighting.sender_id == member
        assert sighting.warning == "sent" and sighting.warned_at is not None
        assert sighting.at <= sighting.warned_at


async def test_twelve_members_in_a_burst_are_all_mentioned_and_every_incident_told_once(
    client: redis.Redis, templates: Templates, scanner: Scanner
) -> None:
    settings = make_settings(group_warning_interval_seconds=1.0, batch_window_seconds=1.0)
    stack = Stack(client, settings, templates)
    reports = [scan(scanner, n) for n in range(12)]
    chat = sandbox()
    events: list[IncidentEvent] = []

    async def burst() -> None:
        # 12 workers finishing within a moment of each other while the sender runs.
        await asyncio.sleep(0.05)
        threads = [
            threading.Thread(
                target=lambda n=n: events.append(stack.record(post(n, MEMBERS[n], n), reports[n]))
            )
            for n in range(12)
        ]
        for thread in threads:
            thread.start()
            await asyncio.sleep(0.02)
        for thread in threads:
            thread.join()

    task = asyncio.create_task(burst())

    def done() -> bool:
        return task.done() and len(events) == 12 and stack.outbox.backlog() == 0

    await deliver_until(stack.outbox, chat, done, timeout=20)
    await task

    mentioned = warned_members(chat)
    assert sorted(mentioned) == sorted(MEMBERS)  # every member, each once
    messages = warnings_in(chat)
    assert len(messages) <= 3, [m.mention_ids for m in messages]  # merged, not one each
    merged = [m for m in messages if len(m.mention_ids) > 1]
    assert merged and all("以上被@的成员" in m.text for m in merged)
    ids = {e.incident_id for e in events}
    assert len(ids) == 12
    for who in (ADMIN, OFFICER):
        assert set(INCIDENT_ID.findall("\n".join(bot_texts(chat, who)))) == ids, who
    # None twice: one delivered alert per incident and person, one warning per incident.
    delivered = stack.outbox.delivery_log()
    alerts = Counter(r.incident_id for r in delivered if r.kind == "alert")
    assert alerts == dict.fromkeys(ids, 2)
    assert Counter(r.incident_id for r in delivered if r.kind == "warning") == dict.fromkeys(ids, 1)
    for event in events:
        incident = stack.incidents.get(event.incident_id)
        assert incident is not None and incident.sightings[0].warning == "sent"


async def test_a_big_burst_is_split_by_the_mention_cap(
    client: redis.Redis, templates: Templates, scanner: Scanner
) -> None:
    settings = make_settings(group_warning_interval_seconds=30, warning_max_mentions=5)
    stack = Stack(client, settings, templates)
    for n in range(12):
        stack.record(post(n, MEMBERS[n], n), scan(scanner, n))
    chat = sandbox()
    # The cut-off rest is due at once, not after the 30 s interval.
    await deliver_until(stack.outbox, chat, lambda: stack.outbox.backlog() == 0, timeout=20)
    assert [len(m.mention_ids) for m in warnings_in(chat)] == [5, 5, 2]
    assert sorted(warned_members(chat)) == sorted(MEMBERS)


async def test_the_same_member_posting_the_same_document_twice_is_warned_once(
    client: redis.Redis, templates: Templates, scanner: Scanner
) -> None:
    settings = make_settings(group_warning_interval_seconds=0.2)
    stack = Stack(client, settings, templates)
    report = scan(scanner, 1)
    first = stack.record(post(1, MEMBERS[0], 1), report)
    again = stack.record(post(2, MEMBERS[0], 1), report)
    other_member = stack.record(post(3, MEMBERS[1], 1), report)
    other_group = stack.record(post(4, MEMBERS[0], 1, OTHER_ROOM), report)
    assert first.warn_member and not again.warn_member
    assert other_member.warn_member and other_group.warn_member
    assert len({first.incident_id, again.incident_id, other_member.incident_id}) == 1

    chat = sandbox()
    await deliver_until(stack.outbox, chat, lambda: stack.outbox.backlog() == 0)
    assert sorted(warned_members(chat)) == sorted([MEMBERS[0], MEMBERS[1]])
    assert warned_members(chat, OTHER_ROOM) == [MEMBERS[0]]
    incident = stack.incidents.get(first.incident_id)
    assert incident is not None
    states = {s.message_key: s.warning for s in incident.sightings}
    assert states == {
        "test:msg-1": "sent",
        "test:msg-2": "repeat",
        "test:msg-3": "sent",
        "test:msg-4": "sent",
    }
    # The officers still hear of every sighting (alert or spread note), the repeat included.
    told = [r for r in stack.outbox.delivery_log() if r.kind in ("alert", "spread")]
    assert len(told) == 4 * 2  # the admin and the officer


async def test_a_warning_that_cannot_be_sent_is_recorded_as_failed(
    client: redis.Redis, templates: Templates, scanner: Scanner
) -> None:
    settings = make_settings(max_attempts=2)
    stack = Stack(client, settings, templates)
    event = stack.record(post(1, MEMBERS[0], 1, "room-gone@chatroom"), scan(scanner, 1))
    chat = sandbox()  # the bot is no longer in that room
    await deliver_until(
        stack.outbox,
        chat,
        lambda: any(
            f.entry and f.entry.kind == "warning" for f in stack.outbox.failed_deliveries()
        ),
    )
    incident = stack.incidents.get(event.incident_id)
    assert incident is not None
    assert incident.sightings[0].warning == "failed"
    assert incident.sightings[0].warned_at is not None
