"""The outbox against a real embedded Redis and the in-process sandbox chat: one warning per
burst, batched DMs, nothing queued or sent twice, nothing lost on a restart, failures kept."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from aiohttp import web
from test_mailer import SmtpInbox, running_smtpd

from bot import keys
from bot.connectors.base import SendError
from bot.connectors.sandbox import SandboxConnector
from bot.groups import Group
from bot.incidents import IncidentEvent
from bot.jobs import ScanJob
from bot.outbox import Outbox, Posted
from bot.settings import BotSettings, load_bot_settings
from bot.templates import Templates, load_templates
from bot.webhook import verify
from tests.conftest import exposed_metrics

ROOM = "room-a@chatroom"
TOPIC = "财务科工作群"
MEMBER = "wxid-member"
ADMIN = "wxid-admin"
OFFICER = "wxid-officer"
EVIDENCE = "机密★1年 关于调整干部任免的通知"
FILENAME = "干部任免名单.jpg"
BOT_BLOCK_MS = 50


@pytest.fixture
def templates() -> Templates:
    return load_templates()


def make_settings(**outbox: object) -> BotSettings:
    base = load_bot_settings()
    fast = {
        "messages_per_minute": 600,
        "min_interval_seconds": 0.02,
        "group_warning_interval_seconds": 60,
        "batch_window_seconds": 0.5,
        "max_attempts": 3,
        "retry_base_seconds": 0.05,
        "claim_idle_seconds": 30,
        **outbox,
    }
    return base.model_copy(
        update={
            "outbox": base.outbox.model_copy(update=fast),
            "pipeline": base.pipeline.model_copy(update={"block_ms": BOT_BLOCK_MS}),
            "officers": (OFFICER,),
        }
    )


def group(room_id: str = ROOM, topic: str = TOPIC, officers: tuple[str, ...] = ()) -> Group:
    # The officer is also one of the group's admins: alerted once, not twice.
    return Group(room_id, topic, (ADMIN, OFFICER), officers, "cli", 0.0)


def job(n: int, room_id: str = ROOM, sender: str = MEMBER) -> ScanJob:
    return ScanJob(
        job_id=f"sandbox:msg-{room_id}-{n}",
        platform="sandbox",
        message_id=f"msg-{room_id}-{n}",
        kind="image",
        room_id=room_id,
        room_topic=TOPIC,
        sender_id=sender,
        sender_name="小张",
        sha256=f"{n:064x}",
        filename=FILENAME,
        size=1000,
        received_at=time.time(),
    )


def event(n: int, room_id: str = ROOM, is_new: bool = True, **job_args: str) -> IncidentEvent:
    # Findings as a careless producer might hand them over: with the evidence text in them.
    findings = [
        {"detector": "classification_marking", "label": "机密", "page": 1, "confidence": 0.97,
         "evidence": EVIDENCE},
        {"detector": "document_header", "label": "doc_number", "page": 1, "confidence": 0.9,
         "evidence": "吉政办发〔2024〕15号"},
    ]  # fmt: skip
    return IncidentEvent(
        incident_id=f"INC{n:03d}",
        is_new=is_new,
        job=job(n, room_id, **job_args),
        verdict="critical",
        findings=findings,
        first_room_id=None if is_new else "room-first@chatroom",
        first_room_topic=None if is_new else "首发群",
    )


def queue(outbox: Outbox, client: redis.Redis, ev: IncidentEvent, grp: Group | None) -> list[str]:
    with client.pipeline(transaction=True) as pipe:
        ids = outbox.queue_for_incident(pipe, ev, grp)
        pipe.execute()
    return ids


def sandbox(*rooms: str) -> SandboxConnector:
    chat = SandboxConnector()
    for room_id in rooms or (ROOM,):
        chat.add_room(room_id, topic=TOPIC, owner_id=ADMIN, member_ids=(MEMBER, OFFICER))
    return chat


async def deliver_until(
    outbox: Outbox,
    chat: SandboxConnector,
    done: Callable[[], bool],
    timeout: float = 10.0,
    consumer: str = "test-sender",
) -> None:
    """Run a sender until `done()` holds, then stop it the orderly way."""

    async def ignore(_: object) -> None:
        return None

    await chat.start(ignore)
    stop = asyncio.Event()
    task = asyncio.create_task(outbox.run_sender(chat, stop, consumer=consumer))
    deadline = time.monotonic() + timeout
    try:
        while not done():
            assert time.monotonic() < deadline, "the sender did not finish in time"
            assert not task.done(), "the sender stopped on its own"
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def bot_texts(chat: SandboxConnector, contact: str) -> list[str]:
    return [line.text for line in chat.direct_messages(contact) if line.from_bot]


def all_bot_texts(chat: SandboxConnector, *rooms: str) -> list[str]:
    texts = [line.text for room in rooms or (ROOM,) for line in chat.transcript(room)]
    return texts + bot_texts(chat, ADMIN) + bot_texts(chat, OFFICER)


async def test_a_burst_of_twenty_gives_one_merged_warning_and_batched_dms(
    client: redis.Redis, templates: Templates
) -> None:
    # A wide window, so that a slow machine still holds all 19 before it closes.
    outbox = Outbox(client, make_settings(batch_window_seconds=2.0), templates, environ={})
    grp = group()
    # 20 workers finishing at once, before the sender starts: one message says it all.
    threads = [
        threading.Thread(target=queue, args=(outbox, client, event(n), grp)) for n in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    chat = sandbox()

    def every_incident_reported() -> bool:
        return all(
            all(f"INC{n:03d}" in "".join(bot_texts(chat, who)) for n in range(20))
            for who in (ADMIN, OFFICER)
        )

    await deliver_until(outbox, chat, every_incident_reported)

    warnings = [line for line in chat.transcript(ROOM) if line.from_bot]
    assert len(warnings) == 1
    assert warnings[0].mention_ids == (MEMBER,)  # one member, mentioned once
    assert "共20项" in warnings[0].text
    assert "撤回" in warnings[0].text and "2分钟" in warnings[0].text
    for who in (ADMIN, OFFICER):
        dms = bot_texts(chat, who)
        # The first alert at once, the other 19 in one batched DM when the window closes.
        assert len(dms) == 2, dms
        assert "事件编号 INC" in dms[0]
        assert "19 项" in dms[1] and TOPIC in dms[1]
    for text in all_bot_texts(chat):
        assert EVIDENCE not in text and "吉政办发" not in text and FILENAME not in text
    assert outbox.backlog() == 0
    # Counted per alert delivered, batched or not: 20 incidents to each of the two people.
    exposed = exposed_metrics(client)
    assert exposed['leaksentry_alerts_sent_total{channel="direct"}'] == 40
    assert exposed['leaksentry_alerts_sent_total{channel="room"}'] == 20  # per warning


async def test_a_redelivered_job_queues_and_sends_nothing_twice(
    client: redis.Redis, templates: Templates
) -> None:
    outbox = Outbox(client, make_settings(), templates, environ={})
    ev = event(1)
    first = queue(outbox, client, ev, group())
    again = queue(outbox, client, ev, group())
    assert first == again  # deterministic ids
    assert client.xlen(keys.OUTBOX_URGENT_STREAM) == 1
    assert client.xlen(keys.OUTBOX_STREAM) == 2  # admin and officer
    chat = sandbox()
    await deliver_until(outbox, chat, lambda: len(outbox.delivery_log()) == 3)
    await asyncio.sleep(0.2)  # a chance to send anything twice
    assert len([line for line in chat.transcript(ROOM) if line.from_bot]) == 1
    assert len(bot_texts(chat, ADMIN)) == 1 and len(bot_texts(chat, OFFICER)) == 1


async def test_warnings_are_merged_per_group_and_alerts_say_what_was_found(
    client: redis.Redis, templates: Templates
) -> None:
    outbox = Outbox(client, make_settings(batch_window_seconds=0), templates, environ={})
    rooms = ("room-a@chatroom", "room-b@chatroom")
    for n, room_id in enumerate(rooms):
        queue(outbox, client, event(n, room_id), group(room_id))
    chat = sandbox(*rooms)
    await deliver_until(outbox, chat, lambda: len(outbox.delivery_log()) == 6)
    for room_id in rooms:
        assert len([line for line in chat.transcript(room_id) if line.from_bot]) == 1
    # Without a batch window every alert is its own DM.
    assert len(bot_texts(chat, ADMIN)) == 2
    alert = bot_texts(chat, ADMIN)[0]
    assert "密级标志「机密」" in alert and "发文字号" in alert and "严重" in alert
    assert "误报 INC000" in alert and "确认 INC000" in alert
    assert "http://127.0.0.1:8080/incidents/INC000" in alert


async def test_spread_note_names_the_first_group(client: redis.Redis, templates: Templates) -> None:
    outbox = Outbox(client, make_settings(), templates, environ={})
    queue(outbox, client, event(7, is_new=False), group())
    chat = sandbox()
    await deliver_until(outbox, chat, lambda: len(outbox.delivery_log()) == 3)
    note = bot_texts(chat, OFFICER)[0]
    assert "扩散" in note and "首发群" in note and "INC007" in note
    assert EVIDENCE not in note


async def test_sender_restart_loses_nothing_and_sends_nothing_twice(
    client: redis.Redis, templates: Templates
) -> None:
    settings = make_settings(batch_window_seconds=0, min_interval_seconds=0.1)
    rooms = tuple(f"room-{n}@chatroom" for n in range(4))
    outbox = Outbox(client, settings, templates, environ={})
    for n, room_id in enumerate(rooms):
        queue(outbox, client, event(n, room_id), group(room_id))
    total = len(rooms) * 3  # a warning, the admin, the officer
    chat = sandbox(*rooms)
    # First life: stopped after a few sends, with entries read and not yet delivered.
    await deliver_until(outbox, chat, lambda: len(outbox.delivery_log()) >= 3)
    sent_first = len(outbox.delivery_log())
    assert sent_first < total
    # Second life, a new process: same consumer name, a new Outbox.
    restarted = Outbox(client, settings, templates, environ={})
    await deliver_until(restarted, chat, lambda: len(restarted.delivery_log()) == total)
    await asyncio.sleep(0.3)
    texts = all_bot_texts(chat, *rooms)
    assert len(texts) == total
    log = restarted.delivery_log()
    assert len({r.entry_id for r in log}) == total
    assert restarted.backlog() == 0


class HangingChat(SandboxConnector):
    """A platform whose first room send never returns (the process is killed meanwhile)."""

    def __init__(self) -> None:
        super().__init__()
        self.hung = asyncio.Event()

    async def say_in_room(self, room_id: str, text: str, mention_ids: tuple[str, ...] = ()) -> None:
        self.hung.set()
        await asyncio.Event().wait()


async def test_a_killed_sender_leaves_its_entry_to_the_next_start(
    client: redis.Redis, templates: Templates
) -> None:
    settings = make_settings()
    outbox = Outbox(client, settings, templates, environ={})
    queue(outbox, client, event(1), group())
    hanging = HangingChat()
    hanging.add_room(ROOM, topic=TOPIC, owner_id=ADMIN, member_ids=(MEMBER, OFFICER))

    async def ignore(_: object) -> None:
        return None

    await hanging.start(ignore)
    task = asyncio.create_task(outbox.run_sender(hanging, asyncio.Event(), consumer="bot-1"))
    await asyncio.wait_for(hanging.hung.wait(), 10)
    task.cancel()  # killed mid-send: the warning is read, locked, not acknowledged
    with pytest.raises(asyncio.CancelledError):
        await task
    chat = sandbox()
    restarted = Outbox(client, settings, templates, environ={})
    await deliver_until(
        restarted, chat, lambda: len(restarted.delivery_log()) == 3, consumer="bot-1"
    )
    assert len([line for line in chat.transcript(ROOM) if line.from_bot]) == 1


async def test_a_silent_senders_entries_are_taken_over(
    client: redis.Redis, templates: Templates
) -> None:
    settings = make_settings(claim_idle_seconds=0.3)
    outbox = Outbox(client, settings, templates, environ={})
    queue(outbox, client, event(1), group())
    # Another sender read everything and went silent for good.
    client.xgroup_create(keys.OUTBOX_URGENT_STREAM, keys.OUTBOX_GROUP, id="0", mkstream=True)
    client.xgroup_create(keys.OUTBOX_STREAM, keys.OUTBOX_GROUP, id="0", mkstream=True)
    for stream in (keys.OUTBOX_URGENT_STREAM, keys.OUTBOX_STREAM):
        client.xreadgroup(keys.OUTBOX_GROUP, "dead-sender", {stream: ">"})
    chat = sandbox()
    await deliver_until(outbox, chat, lambda: len(outbox.delivery_log()) == 3, consumer="bot-2")
    assert len([line for line in chat.transcript(ROOM) if line.from_bot]) == 1


class FlakyChat(SandboxConnector):
    """Fails the first `failures` sends, as a platform does while it reconnects."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.attempts = 0

    async def send_direct(self, contact_id: str, text: str) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise SendError("not logged in")
        await super().send_direct(contact_id, text)


async def test_failed_sends_are_retried_with_backoff(
    client: redis.Redis, templates: Templates
) -> None:
    outbox = Outbox(client, make_settings(max_attempts=3), templates, environ={})
    queue(outbox, client, event(1), Group(ROOM, TOPIC, (ADMIN,), (ADMIN,), "cli", 0.0))
    chat = FlakyChat(failures=2)
    chat.add_room(ROOM, topic=TOPIC, owner_id=ADMIN, member_ids=(MEMBER,))
    started = time.monotonic()
    await deliver_until(outbox, chat, lambda: len(outbox.delivery_log()) == 2)
    assert chat.attempts == 3
    assert time.monotonic() - started >= 0.05 + 0.1  # two backoffs
    assert len(bot_texts(chat, ADMIN)) == 1
    assert outbox.failed_deliveries() == []


async def test_a_delivery_that_keeps_failing_is_kept_not_dropped(
    client: redis.Redis, templates: Templates
) -> None:
    outbox = Outbox(client, make_settings(max_attempts=3), templates, environ={})
    stranger = Group(ROOM, TOPIC, ("wxid-nobody-knows",), (), "cli", 0.0)
    ev = event(1)
    queue(outbox, client, ev, stranger)
    chat = sandbox()
    await deliver_until(outbox, chat, lambda: len(outbox.failed_deliveries()) == 1)
    failed = outbox.failed_deliveries()[0]
    assert failed.attempts == 3
    assert "no sandbox contact" in failed.error
    assert failed.entry is not None and failed.entry.recipient == "wxid-nobody-knows"
    assert failed.entry.incident_id == "INC001"
    assert client.xlen(keys.OUTBOX_STREAM) == 0  # acknowledged, moved to the failed list


async def test_dead_letter_notice_names_no_content(
    client: redis.Redis, templates: Templates
) -> None:
    outbox = Outbox(client, make_settings(), templates, environ={})
    with client.pipeline(transaction=True) as pipe:
        outbox.queue_dead_letter_notice(
            pipe, Posted.of_job(job(3)), f"corrupt: {FILENAME} is truncated", group()
        )
        pipe.execute()
    chat = sandbox()
    await deliver_until(outbox, chat, lambda: len(bot_texts(chat, OFFICER)) == 1)
    notice = bot_texts(chat, OFFICER)[0]
    assert TOPIC in notice and "小张" in notice and "文件已损坏" in notice
    assert FILENAME not in notice and "truncated" not in notice
    assert bot_texts(chat, ADMIN) == []  # officers only, when the group has them


async def test_command_replies_are_sent_once(client: redis.Redis, templates: Templates) -> None:
    outbox = Outbox(client, make_settings(), templates, environ={})
    reply = templates.render("reply_unknown_incident", incident_id="ZZZZZZ")
    help_text = templates.render("help")
    for _ in range(2):  # the platform delivered the command twice
        outbox.queue_text(client, "sandbox:cmd-1", reply, contact_id=ADMIN)
        outbox.queue_text(client, "sandbox:cmd-2", help_text, room_id=ROOM, mention_ids=(MEMBER,))
    chat = sandbox()
    await deliver_until(outbox, chat, lambda: len(outbox.delivery_log()) == 2)
    assert bot_texts(chat, ADMIN) == [reply]
    said = [line for line in chat.transcript(ROOM) if line.from_bot]
    assert [line.text for line in said] == [help_text] and said[0].mention_ids == (MEMBER,)
    with pytest.raises(ValueError):
        outbox.queue_text(client, "k", "x")


async def test_the_warning_is_timed_from_the_message(
    client: redis.Redis, templates: Templates
) -> None:
    outbox = Outbox(client, make_settings(), templates, environ={})
    ev = event(1)
    queue(outbox, client, ev, group())
    chat = sandbox()
    await deliver_until(outbox, chat, lambda: len(outbox.delivery_log()) == 3)
    records = outbox.delivery_log()
    warning = next(r for r in records if r.kind == "warning")
    assert warning.received_at == ev.job.received_at
    assert warning.received_at <= warning.queued_at <= warning.sent_at <= time.time()
    # The warning is read first, before the DMs of the same incident.
    assert warning.sent_at == min(r.sent_at for r in records)
    exposed = exposed_metrics(client)
    assert exposed['leaksentry_alerts_sent_total{channel="room"}'] == 1
    assert exposed['leaksentry_alerts_sent_total{channel="direct"}'] == 2
    assert exposed["leaksentry_warning_latency_seconds_count"] == 1  # the warning, not the DMs
    latency = exposed["leaksentry_warning_latency_seconds_sum"]
    assert latency == pytest.approx(warning.sent_at - warning.received_at, abs=1e-6)


async def test_webhook_and_email_deliveries(
    client: redis.Redis, templates: Templates, smtpd: SmtpInbox
) -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    environ = {
        "LEAKSENTRY_WEBHOOK_URL": f"http://127.0.0.1:{port}/hook",
        "LEAKSENTRY_WEBHOOK_SECRET": "s3cret",
        "LEAKSENTRY_SMTP_URL": f"smtp://127.0.0.1:{smtpd.port}",
        "LEAKSENTRY_ALERT_EMAILS": "security@example.org",
    }
    try:
        outbox = Outbox(client, make_settings(), templates, environ=environ)
        ev = event(5)
        queue(outbox, client, ev, group())
        queue(outbox, client, ev, group())  # redelivered: still one call, one mail
        chat = sandbox()
        await deliver_until(outbox, chat, lambda: len(outbox.delivery_log()) == 5)
        await asyncio.sleep(0.2)
    finally:
        await runner.cleanup()
    assert len(received) == 1 and len(smtpd.messages) == 1
    assert {
        channel: exposed_metrics(client)[f'leaksentry_alerts_sent_total{{channel="{channel}"}}']
        for channel in ("room", "direct", "webhook", "email")
    } == {"room": 1, "direct": 2, "webhook": 1, "email": 1}
    headers, body = received[0]
    assert verify(b"s3cret", body, headers["X-Leaksentry-Signature"])
    payload = json.loads(body)
    assert payload["incident_id"] == "INC005" and payload["event"] == "incident.new"
    assert payload["group"] == {"room_id": ROOM, "topic": TOPIC}
    assert payload["delivery_id"] == headers["X-Leaksentry-Delivery"]
    assert [f["label"] for f in payload["findings"]] == ["机密", "doc_number"]
    mail = smtpd.parsed().get_content()
    for raw in (body.decode(), mail):
        assert EVIDENCE not in raw and "吉政办发" not in raw and FILENAME not in raw


@pytest.fixture
def smtpd() -> Iterator[SmtpInbox]:
    with running_smtpd() as inbox:
        yield inbox


async def test_a_hostile_name_or_topic_forges_no_line_of_an_alert_or_mail(
    client: redis.Redis, templates: Templates, smtpd: SmtpInbox
) -> None:
    environ = {
        "LEAKSENTRY_SMTP_URL": f"smtp://127.0.0.1:{smtpd.port}",
        "LEAKSENTRY_ALERT_EMAILS": "security@example.org",
    }
    outbox = Outbox(client, make_settings(), templates, environ=environ)
    ev = event(9)
    hostile = dataclasses.replace(
        ev, job=dataclasses.replace(ev.job, sender_name="张三\n风险等级：无风险\n详情：http://evil")
    )
    grp = Group(ROOM, "\u202e组作工\u202c财务科", (ADMIN, OFFICER), (), "cli", 0.0)
    queue(outbox, client, hostile, grp)
    chat = sandbox()
    await deliver_until(outbox, chat, lambda: len(outbox.delivery_log()) == 4)
    [alert] = bot_texts(chat, OFFICER)
    mail = smtpd.parsed()
    for text in (alert, mail.get_content()):
        lines = text.splitlines()
        assert [line for line in lines if line.startswith("风险等级：")] == ["风险等级：严重"]
        assert [line for line in lines if line.startswith("详情：")] == [
            "详情：http://127.0.0.1:8080/incidents/INC009"
        ]
        assert "发送人：张三 风险等级：无风险 详情：http://evil" in lines
        assert "群聊：组作工财务科" in lines and "\u202e" not in text
    assert "\u202e" not in mail["Subject"] and "\n" not in mail["Subject"]
