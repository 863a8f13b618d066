"""Finding work in the console: search, filters, CSV export, bulk decisions, the open count and
the groups on the dashboard, audit filters, and evidence pictures drawn before the first view."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import pytest
import redis

from bot.blobs import Blobs
from bot.incidents import Incidents
from bot.web.audit import AuditLog
from bot.web.evidence import EvidencePictures, EvidenceView
from bot.web.users import UserStore
from tests.console import ADMIN, OFFICER, ClientFactory, console_settings, csrf_token, signed_in
from tests.console import client as client
from tests.console import make_client as make_client
from tests.console import redis_dir as redis_dir
from tests.console import users as users
from tests.test_web_pages import job, synthetic_report


@pytest.fixture(autouse=True)
def accounts(users: UserStore) -> UserStore:
    return users


def add(
    client: redis.Redis,
    message: str,
    room: str,
    topic: str,
    report: dict[str, Any],
    sender: str = "u1",
    at: float | None = None,
) -> str:
    data = message.encode() * 8
    Blobs(client, console_settings()).put(data)
    event = Incidents(client, console_settings()).record(
        client, job(data, message, room, topic, at or time.time(), sender), report
    )
    assert event is not None
    return event.incident_id


def report(source: str, evidence: str, detector: str = "classification_marking") -> dict[str, Any]:
    found = synthetic_report("high", evidence)
    found["source"] = source
    found["findings"][0]["detector"] = detector
    return found


def ids_in(html: str, *candidates: str) -> set[str]:
    return {c for c in candidates if f'href="/incidents/{c}"' in html}


async def test_search_by_sender_id_file_name_and_evidence_text(
    make_client: ClientFactory, client: redis.Redis
) -> None:
    budget = add(client, "m1", "room-a", "财务群", report("预算调整.pdf", "机密★1年"), "wxid_zhang")
    roster = add(client, "m2", "room-b", "人事群", report("名单.xlsx", "干部任免"), "wxid_li")
    header = add(client, "m3", "room-b", "人事群", report("x.png", "发文字号", "document_header"))
    officer = await signed_in(make_client, OFFICER)

    async def search(query: str) -> set[str]:
        page = await officer.get("/incidents", params={"q": query})
        assert page.status == 200
        return ids_in(await page.text(), budget, roster, header)

    assert await search("预算") == {budget}  # a file name
    assert await search("任免") == {roster}  # evidence text
    assert await search("wxid_zhang") == {budget}  # a sender
    assert await search(roster.lower()) == {roster}  # an incident id
    assert await search("人事 nothing-like-this") == set()
    by_detector = await officer.get("/incidents", params={"detector": "document_header"})
    assert ids_in(await by_detector.text(), budget, roster, header) == {header}
    api = await (await officer.get("/api/incidents", params={"q": "名单"})).json()
    assert [i["id"] for i in api["incidents"]] == [roster]
    bad = await officer.get("/incidents", params={"detector": "nonsense"})
    assert bad.status == 400


async def test_csv_export_of_the_filtered_incidents_is_audited(
    make_client: ClientFactory, client: redis.Redis
) -> None:
    first = add(client, "m1", "room-a", "财务群", report("预算调整.pdf", "机密★1年"))
    add(client, "m2", "room-b", "人事群", report("名单.xlsx", "干部任免"))
    officer = await signed_in(make_client, OFFICER, language=None)  # zh_CN
    response = await officer.get("/incidents.csv", params={"room": "room-a"})
    assert response.status == 200 and response.content_type == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    body = await response.read()
    assert body.startswith("\ufeff".encode())  # Excel reads the Chinese only with a BOM
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:4] == ["事件编号", "发现时间", "风险等级", "状态"]
    assert len(rows) == 2 and rows[1][0] == first
    assert rows[1][2] == "高" and rows[1][3] == "待处理" and rows[1][8] == "预算调整.pdf"
    assert rows[1][1].endswith("UTC+8")
    [entry] = [e for e in AuditLog(client).newest(20) if e.action == "export"]
    assert entry.actor == OFFICER and "1 incident(s)" in entry.detail


async def test_bulk_decision_on_the_ticked_incidents(
    make_client: ClientFactory, client: redis.Redis
) -> None:
    one = add(client, "m1", "room-a", "财务群", report("a.pdf", "机密"))
    two = add(client, "m2", "room-a", "财务群", report("b.pdf", "机密"))
    three = add(client, "m3", "room-a", "财务群", report("c.pdf", "机密"))
    officer = await signed_in(make_client, OFFICER)
    response = await officer.post(
        "/incidents/bulk",
        data=[
            ("csrf_token", await csrf_token(officer)),
            ("status", "resolved"),
            ("note", "月度清理"),
            ("incident", one),
            ("incident", three.lower()),
            ("back", "/incidents?room=room-a"),
        ],
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"].startswith("/incidents?room=room-a&decided=2")
    store = Incidents(client, console_settings())
    assert [store.get(i).status for i in (one, two, three)] == ["resolved", "open", "resolved"]  # type: ignore[union-attr]
    notice = await (await officer.get(response.headers["Location"])).text()
    assert "2 incidents marked Resolved." in notice
    decided = [e for e in AuditLog(client).newest(20) if e.action == "incident_status"]
    assert len(decided) == 2 and all(e.detail == "open -> resolved: 月度清理" for e in decided)
    nothing = await officer.post(
        "/incidents/bulk",
        data={"csrf_token": await csrf_token(officer), "status": "resolved"},
    )
    assert nothing.status == 400 and "tick the incidents" in await nothing.text()


async def test_dashboard_counts_open_incidents_per_group(
    make_client: ClientFactory, client: redis.Redis
) -> None:
    add(client, "m1", "room-a", "财务群", report("a.pdf", "机密"))
    done = add(client, "m2", "room-a", "财务群", report("b.pdf", "机密"))
    add(client, "m3", "room-b", "人事群", report("c.pdf", "机密"))
    add(client, "m4", "room-b", "人事群", report("d.pdf", "机密"))
    Incidents(client, console_settings()).set_status(done, "resolved", "bob")
    officer = await signed_in(make_client, OFFICER)
    stats = await (await officer.get("/api/incident-stats")).json()
    assert stats["open"] == 3
    assert [(g["room_id"], g["open"], g["recent"]) for g in stats["groups"]] == [
        ("room-b", 2, 2),
        ("room-a", 1, 2),
    ]
    html = await (await officer.get("/")).text()
    assert '<span class="number" id="open-incidents">3</span>' in html
    assert "/incidents?room=room-b&amp;status=open" in html


async def test_audit_filters_by_actor_action_and_day(
    make_client: ClientFactory, client: redis.Redis
) -> None:
    log = AuditLog(client)
    log.record("carol", "registry_add", "doc-1")
    log.record("wechat:wxid_x", "incident_status", "incident ABC234", detail="open -> confirmed")
    admin = await signed_in(make_client, ADMIN)
    by_action = await (await admin.get("/audit", params={"action": "incident_status"})).text()
    assert "wechat:wxid_x" in by_action and "carol" not in by_action
    assert "Open → Confirmed" in by_action  # the decision in words, not identifiers
    by_actor = await (await admin.get("/audit", params={"actor": "CAR"})).text()
    assert "carol" in by_actor and "wxid_x" not in by_actor
    today = await admin.get(
        "/api/audit",
        params={"since": time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600))},
    )
    assert {e["actor"] for e in (await today.json())["entries"]} >= {"carol", "wechat:wxid_x"}
    long_ago = await (await admin.get("/api/audit", params={"until": "2001-01-01"})).json()
    assert long_ago["entries"] == []
    assert (await admin.get("/audit", params={"since": "yesterday"})).status == 400


async def test_evidence_drawn_when_the_incident_opened_is_served_as_it_is(
    make_client: ClientFactory, client: redis.Redis
) -> None:
    incident_id = add(client, "m1", "room-a", "财务群", report("a.png", "机密"))
    incident = Incidents(client, console_settings()).get(incident_id)
    assert incident is not None
    drawn = b"\x89PNG\r\n\x1a\n drawn by the worker"
    EvidencePictures(client, console_settings()).put(incident.sha256, EvidenceView(None, 1), drawn)
    officer = await signed_in(make_client, OFFICER)
    picture = await officer.get(f"/incidents/{incident_id}/evidence/0.png")
    assert picture.status == 200 and await picture.read() == drawn
    views = [e for e in AuditLog(client).newest(20) if e.action == "view_evidence"]
    assert len(views) == 1  # still audited
