"""Closing the loop: a decision by DM or in the console is audited alike, and everyone who got
the alert is told who decided what; on a false positive the member hears it in the group."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis

from bot.connectors.base import MessageKind
from bot.connectors.sandbox import (
    DEMO_ADMIN,
    DEMO_MEMBER,
    DEMO_OFFICER,
    DEMO_OWNER,
    SandboxConnector,
)
from bot.incidents import CONFIRMED, FALSE_POSITIVE
from bot.service import BotService
from bot.settings import BotSettings
from bot.web.audit import AuditLog
from tests.console import ADMIN, ClientFactory, csrf_token, signed_in
from tests.console import client as client
from tests.console import make_client as make_client
from tests.console import redis_dir as redis_dir
from tests.console import users as users
from tests.test_intake import dms, enroll, fast_settings, jobs, png, said, settle

RECIPIENTS = (DEMO_OWNER, DEMO_ADMIN, DEMO_OFFICER)


def chat_settings(tell_member: bool = True) -> BotSettings:
    settings = fast_settings()
    decisions = settings.decisions.model_copy(update={"tell_member": tell_member})
    return settings.model_copy(update={"decisions": decisions})


@pytest.fixture
async def chat(client: redis.Redis) -> AsyncIterator[tuple[BotService, SandboxConnector]]:
    sandbox = SandboxConnector()
    service = BotService(client, chat_settings(), sandbox)
    await service.start()
    yield service, sandbox
    await service.stop()


async def an_incident(service: BotService, sandbox: SandboxConnector, client: redis.Redis) -> str:
    await enroll(service, sandbox)
    await sandbox.post(DEMO_MEMBER, MessageKind.IMAGE, data=png())
    (job,) = jobs(client)
    event = service.incidents.record(client, job, {"verdict": "high", "findings": []})
    assert event is not None
    return event.incident_id


def notices(sandbox: SandboxConnector, contact: str) -> list[str]:
    return [line.text for line in dms(sandbox, contact) if "【事件处理通知】" in line.text]


def member_notices(sandbox: SandboxConnector) -> list[tuple[str, tuple[str, ...]]]:
    return [(line.text, line.mention_ids) for line in said(sandbox) if "为误报" in line.text]


async def test_a_dm_false_positive_tells_the_others_and_the_member_and_is_audited(
    chat: tuple[BotService, SandboxConnector], client: redis.Redis
) -> None:
    service, sandbox = chat
    incident_id = await an_incident(service, sandbox, client)

    await sandbox.direct(DEMO_OFFICER, f"误报 {incident_id} 是培训材料")
    await sandbox.direct(DEMO_OFFICER, f"误报 {incident_id}")  # the same again: nothing new
    await settle(service)

    officer_name = sandbox.name_of(DEMO_OFFICER)
    for contact in (DEMO_OWNER, DEMO_ADMIN):
        [notice] = notices(sandbox, contact)
        assert incident_id in notice and officer_name in notice and "「误报」" in notice
        assert "UTC+8" in notice
    assert notices(sandbox, DEMO_OFFICER) == []  # the decider got the reply instead
    [(text, mentions)] = member_notices(sandbox)
    assert incident_id in text and "图片" in text and mentions == (DEMO_MEMBER,)

    [entry] = [e for e in AuditLog(client).newest(50) if e.action == "incident_status"]
    assert entry.actor == f"wechat:{DEMO_OFFICER}"
    assert (entry.target, entry.detail) == (
        f"incident {incident_id}",
        "open -> false_positive: 是培训材料",
    )


async def test_a_console_decision_tells_everyone_who_got_the_alert(
    chat: tuple[BotService, SandboxConnector],
    client: redis.Redis,
    make_client: ClientFactory,
    users: object,
) -> None:
    service, sandbox = chat
    incident_id = await an_incident(service, sandbox, client)
    http = await signed_in(make_client, ADMIN, settings=chat_settings(tell_member=False))

    for status in (CONFIRMED, FALSE_POSITIVE):
        response = await http.post(
            f"/incidents/{incident_id}/status",
            data={"csrf_token": await csrf_token(http), "status": status, "note": ""},
            allow_redirects=False,
        )
        assert response.status == 303
    await settle(service)

    for contact in RECIPIENTS:
        confirmed, false_positive = notices(sandbox, contact)
        assert ADMIN in confirmed and "「已确认泄密」" in confirmed
        assert ADMIN in false_positive and "「误报」" in false_positive
    assert member_notices(sandbox) == []  # decisions.tell_member: false
    decided = [e for e in AuditLog(client).newest(50) if e.action == "incident_status"]
    assert [(e.actor, e.detail) for e in decided] == [
        (ADMIN, "confirmed -> false_positive"),
        (ADMIN, "open -> confirmed"),
    ]
