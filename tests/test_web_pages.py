"""The console's pages and JSON API of issue 5: incidents, evidence, registry, groups,
dashboard and sandbox. A real embedded Redis, real scans (OCR) for the evidence, the real app
on a local port; the sandbox with the real bot service on the sandbox chat."""

from __future__ import annotations

import io
import re
import time
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import redis
from PIL import Image

from bot import keys
from bot.blobs import Blobs
from bot.connectors.sandbox import DEMO_MEMBER, DEMO_OFFICER, DEMO_ROOM, SandboxConnector
from bot.groups import Groups
from bot.incidents import WARNING_SENT, Incidents, queue_warned
from bot.jobs import ScanJob
from bot.service import BotService
from bot.web.evidence import EVIDENCE_MAX_SIDE
from bot.web.incidents import PAGE_SIZE
from bot.web.sandbox import enroll_demo_group, sandbox_pages
from bot.web.users import UserStore
from detectors import ScanConfig, Scanner
from tests.conftest import scan_job
from tests.console import ADMIN, OFFICER, ClientFactory, console_settings, csrf_token, signed_in
from tests.console import client as client
from tests.console import make_client as make_client
from tests.console import redis_dir as redis_dir
from tests.console import users as users
from tests.corpus import files as fl
from tests.corpus.registry import document_pages
from tests.test_intake import fast_settings, settle
from tests.test_service import marked_page

SEED = 2026


@pytest.fixture(autouse=True)
def accounts(users: UserStore) -> UserStore:
    """Every test here starts with the admin and the officer."""
    return users


@pytest.fixture(scope="module")
def marked(config: ScanConfig) -> tuple[bytes, dict[str, Any]]:
    """A marked page as a PNG and the real scanner's report on it."""
    data = marked_page()
    report = Scanner(config).scan(data, "page.png").to_json()
    assert report["verdict"] in ("critical", "high") and any(f["bbox"] for f in report["findings"])
    return data, report


def job(data: bytes, message: str, room: str, topic: str, at: float, sender: str = "u1") -> ScanJob:
    return scan_job(
        data, message, room, topic, at, sender, platform="wechat", kind="image", filename="page.png"
    )


def record(client: redis.Redis, data: bytes, report: dict[str, Any], job_: ScanJob) -> str:
    Blobs(client, console_settings()).put(data)
    event = Incidents(client, console_settings()).record(client, job_, report)
    assert event is not None
    return event.incident_id


def synthetic_report(verdict: str, evidence: str = "机密★1年") -> dict[str, Any]:
    finding = {
        "detector": "classification_marking",
        "label": "机密",
        "confidence": 0.93,
        "page": 1,
        "bbox": [10, 10, 80, 30],
        "evidence": evidence,
        "member": None,
    }
    return {"source": "page.png", "verdict": verdict, "findings": [finding], "media_type": "png"}


def audit_actions(client: redis.Redis) -> list[tuple[str, str, str, str]]:
    return [
        (f[b"actor"].decode(), f[b"action"].decode(), f[b"target"].decode(), f[b"detail"].decode())
        for _, f in client.xrange(keys.CONSOLE_AUDIT)
    ]


# --- without a session --------------------------------------------------------------------------


async def test_every_new_route_needs_a_session(make_client: ClientFactory) -> None:
    sandbox = SandboxConnector()
    anonymous = await make_client(pages=(sandbox_pages(sandbox),))
    routes = [
        ("GET", "/incidents"),
        ("GET", "/incidents/ABCDEF"),
        ("POST", "/incidents/ABCDEF/status"),
        ("GET", "/incidents/ABCDEF/evidence/0.png"),
        ("GET", "/registry"),
        ("POST", "/registry"),
        ("POST", "/registry/remove"),
        ("GET", "/registry/thumbnail?doc=x"),
        ("GET", "/groups"),
        ("POST", "/groups"),
        ("POST", "/groups/unenroll"),
        ("GET", "/sandbox"),
        ("POST", "/sandbox/post"),
        ("POST", "/sandbox/direct"),
        ("GET", "/api/incidents"),
        ("GET", "/api/incidents/ABCDEF"),
        ("POST", "/api/incidents/ABCDEF/status"),
        ("GET", "/api/incident-stats"),
        ("GET", "/api/registry"),
        ("POST", "/api/registry"),
        ("DELETE", "/api/registry/x"),
        ("GET", "/api/groups"),
        ("POST", "/api/groups"),
        ("DELETE", "/api/groups/x"),
        ("GET", "/api/sandbox/messages"),
        ("POST", "/api/sandbox/messages"),
    ]
    for method, path in routes:
        response = await anonymous.request(method, path, allow_redirects=False)
        if path.startswith("/api/"):
            assert response.status == 401, (method, path)
        else:
            assert response.status == 302, (method, path)
            assert response.headers["Location"].startswith("/login"), (method, path)


# --- incidents ------------------------------------------------------------------------------------


async def test_incident_page_shows_evidence_spread_and_audits_views(
    make_client: ClientFactory, client: redis.Redis, marked: tuple[bytes, dict[str, Any]]
) -> None:
    data, report = marked
    now = time.time()
    incident_id = record(client, data, report, job(data, "m1", "room-a", "财务部工作群", now - 60))
    record(client, data, report, job(data, "m2", "room-b", "项目群", now - 30, sender="u2"))
    record(client, data, report, job(data, "m3", "room-a", "财务部工作群", now - 20))
    Incidents(client, console_settings()).record_recall("wechat:m2")
    with client.pipeline(transaction=True) as pipe:  # as the outbox's sender records it
        queue_warned(pipe, incident_id, "wechat:m1", WARNING_SENT, now - 58, 3600)
        pipe.execute()

    officer = await signed_in(make_client, OFFICER)
    page = await officer.get(f"/incidents/{incident_id.lower()}")
    assert page.status == 200
    html = await page.text()
    assert page.headers["Cache-Control"] == "no-store"
    for text in ("财务部工作群", "项目群", "first posted", "forwarded", "partly recalled"):
        assert text in html, text
    [warned, pending, repeat] = re.findall(r'<span class="warning-note">(.*?)</span>\n', html)
    assert warned.startswith("member warned ") and "pending" in pending and "again" in repeat
    evidence_texts = [f["evidence"] for f in report["findings"]]
    assert any(e and e in html for e in evidence_texts)
    [url] = re.findall(r'src="(/incidents/[A-Z0-9]+/evidence/0\.png)"', html)

    picture = await officer.get(url)
    assert picture.status == 200 and picture.content_type == "image/png"
    assert picture.headers["Cache-Control"] == "no-store"
    image = Image.open(io.BytesIO(await picture.read())).convert("RGB")
    assert max(image.size) <= EVIDENCE_MAX_SIDE
    # The first boxed finding's outline is drawn in its detector's colour, where it was found.
    boxed = next(f for f in report["findings"] if f["bbox"])
    x0, y0, _, y1 = boxed["bbox"]
    scale = min(1.0, EVIDENCE_MAX_SIDE / 1754)
    edge = [image.getpixel((round(x0 * scale) - 1, round((y0 + y1) / 2 * scale)))]
    assert edge[0][0] > 150 and edge[0][1] < 120 and edge[0][2] < 160, edge  # a reddish box line
    assert (await officer.get(url.replace("/0.png", "/9.png"))).status == 404

    actions = audit_actions(client)
    assert (OFFICER, "view", f"incident {incident_id}", "") in actions
    assert (OFFICER, "view_evidence", f"incident {incident_id}", "page 1") in actions
    assert (await officer.get("/incidents/NOSUCH")).status == 404


async def test_officer_marks_false_positive_with_a_note_only_with_csrf(
    make_client: ClientFactory, client: redis.Redis
) -> None:
    data = b"not really an image"
    incident_id = record(
        client, data, synthetic_report("high"), job(data, "m3", "room-a", "群", time.time())
    )
    officer = await signed_in(make_client, OFFICER)
    path = f"/incidents/{incident_id}/status"
    form = {"status": "false_positive", "note": "公开发布的文件"}
    assert (await officer.post(path, data=form, allow_redirects=False)).status == 403
    bad = await officer.post(
        path, data={**form, "status": "gone", "csrf_token": await csrf_token(officer)}
    )
    assert bad.status == 400 and "status: one of" in await bad.text()
    done = await officer.post(
        path, data={**form, "csrf_token": await csrf_token(officer)}, allow_redirects=False
    )
    assert done.status == 303 and done.headers["Location"] == f"/incidents/{incident_id}"
    incident = Incidents(client, console_settings()).get(incident_id)
    assert incident is not None and incident.status == "false_positive"
    assert incident.audit[-1].actor == OFFICER and incident.audit[-1].note == "公开发布的文件"
    assert (
        OFFICER,
        "incident_status",
        f"incident {incident_id}",
        "open -> false_positive: 公开发布的文件",
    ) in audit_actions(client)
    page = await (await officer.get(f"/incidents/{incident_id}")).text()
    assert "公开发布的文件" in page and "False positive" in page

    # The same through the API, with the token in the header.
    api = f"/api/incidents/{incident_id}/status"
    assert (await officer.post(api, json={"status": "confirmed"})).status == 403
    answer = await officer.post(
        api, json={"status": "confirmed"}, headers={"X-CSRF-Token": await csrf_token(officer)}
    )
    assert answer.status == 200 and (await answer.json())["status"] == "confirmed"
    wrong = await officer.post(
        api, json={"status": "nope"}, headers={"X-CSRF-Token": await csrf_token(officer)}
    )
    assert wrong.status == 400 and "status" in (await wrong.json())["error"]


async def test_incident_list_filters_newest_first_with_paging(
    make_client: ClientFactory, client: redis.Redis
) -> None:
    today = datetime.now().replace(hour=12, minute=0, second=0, microsecond=0)
    made: list[tuple[str, str, str, datetime]] = []
    for n in range(PAGE_SIZE + 3):
        verdict = "critical" if n % 3 == 0 else "medium"
        room = "room-a" if n % 2 == 0 else "room-b"
        at = today - timedelta(days=n // 10, minutes=n)
        data = f"item {n}".encode()
        report = synthetic_report(verdict)
        incident_id = record(
            client, data, report, job(data, f"l{n}", room, room.upper(), at.timestamp())
        )
        made.append((incident_id, verdict, room, at))
    Groups(client, console_settings()).enroll("room-a", topic="ROOM-A")

    officer = await signed_in(make_client, OFFICER)
    first = await (await officer.get("/api/incidents")).json()
    assert [i["id"] for i in first["incidents"]] == [m[0] for m in made[:PAGE_SIZE]]
    assert first["next_page"] == 2
    second = await (await officer.get("/api/incidents", params={"page": "2"})).json()
    assert [i["id"] for i in second["incidents"]] == [m[0] for m in made[PAGE_SIZE:]]
    assert second["next_page"] is None

    critical_a = await (
        await officer.get("/api/incidents", params={"verdict": "critical", "room": "room-a"})
    ).json()
    expected = [m[0] for m in made if m[1] == "critical" and m[2] == "room-a"]
    assert [i["id"] for i in critical_a["incidents"]] == expected

    day = (today - timedelta(days=1)).date().isoformat()
    one_day = await (
        await officer.get("/api/incidents", params={"since": day, "until": day})
    ).json()
    assert [i["id"] for i in one_day["incidents"]] == [
        m[0] for m in made if m[3].date().isoformat() == day
    ]

    page = await officer.get("/incidents", params={"verdict": "critical", "page": "1"})
    html = await page.text()
    assert html.count('class="incident-id"') == len([m for m in made if m[1] == "critical"])
    assert '<option value="room-a"' in html
    assert "Older" not in html
    for bad in ({"verdict": "huge"}, {"since": "yesterday"}, {"page": "0"}, {"status": "x"}):
        answer = await officer.get("/incidents", params=bad)
        assert answer.status == 400 and 'role="alert"' in await answer.text(), bad
        assert (await officer.get("/api/incidents", params=bad)).status == 400


async def test_dashboard_charts_incidents_per_day_and_top_groups(
    make_client: ClientFactory, client: redis.Redis
) -> None:
    noon = datetime.combine(date.today(), datetime.min.time()) + timedelta(hours=12)
    plan = [("critical", "room-a", 0), ("critical", "room-a", 0), ("medium", "room-b", 1)]
    for n, (verdict, room, days_ago) in enumerate(plan):
        data = f"dash {n}".encode()
        at = (noon - timedelta(days=days_ago)).timestamp()
        record(client, data, synthetic_report(verdict), job(data, f"d{n}", room, f"群{room}", at))
    old = b"too old"
    long_ago = (noon - timedelta(days=40)).timestamp()
    record(client, old, synthetic_report("high"), job(old, "d-old", "room-c", "旧群", long_ago))

    officer = await signed_in(make_client, OFFICER)
    stats = await (await officer.get("/api/incident-stats")).json()
    by_day = {d["day"]: d for d in stats["days"]}
    assert by_day[date.today().isoformat()]["critical"] == 2
    assert by_day[(date.today() - timedelta(days=1)).isoformat()]["medium"] == 1
    assert sum(d["high"] for d in stats["days"]) == 0  # 40 days ago is outside the chart
    assert [(g["room_id"], g["incidents"]) for g in stats["top_groups"]] == [
        ("room-a", 2),
        ("room-b", 1),
    ]
    html = await (await officer.get("/")).text()
    assert html.count('class="bar bar-critical"') == 1  # one stacked segment for today
    assert "2 Critical" in html and "群room-a" in html


# --- registry -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def notice_pdf() -> bytes:
    return fl.pdf_text(document_pages(SEED, 0, 0))


async def test_register_by_upload_list_thumbnail_and_remove(
    make_client: ClientFactory, client: redis.Redis, notice_pdf: bytes
) -> None:
    officer = await signed_in(make_client, OFFICER)
    form = {
        "csrf_token": await csrf_token(officer),
        "file": io.BytesIO(notice_pdf),
        "title": "关于加强管理的通知",
        "level": "机密",
    }
    response = await officer.post("/registry", data=form, allow_redirects=False)
    assert response.status == 303, await response.text()
    page = await officer.get(response.headers["Location"])
    html = await page.text()
    assert "关于加强管理的通知" in html and "机密" in html and ": registered" in html
    [doc_id] = [
        d["doc_id"] for d in (await (await officer.get("/api/registry")).json())["documents"]
    ]
    thumb = await officer.get("/registry/thumbnail", params={"doc": doc_id})
    image = Image.open(io.BytesIO(await thumb.read()))
    assert image.size[1] == 240 and image.size[0] > 100  # the A4 page, not the placeholder box
    raw = bytes(client.get(keys.CONSOLE_THUMBNAIL + doc_id) or b"")
    assert raw.startswith(b"LSE1") and b"PNG" not in raw[:16]  # sealed at rest
    assert ("bob", "registry_add") in [(a, b) for a, b, *_ in audit_actions(client)]

    # Officers may register, not remove.
    remove = {"doc_id": doc_id, "csrf_token": await csrf_token(officer)}
    assert (await officer.post("/registry/remove", data=remove)).status == 403
    admin = await signed_in(make_client, ADMIN)
    done = await admin.post(
        "/registry/remove",
        data={"doc_id": doc_id, "csrf_token": await csrf_token(admin)},
        allow_redirects=False,
    )
    assert done.status == 303
    assert (await (await admin.get("/api/registry")).json())["documents"] == []
    assert client.exists(keys.CONSOLE_THUMBNAIL + doc_id) == 0
    assert (ADMIN, "registry_remove", doc_id, "") in audit_actions(client)


async def test_bad_uploads_get_a_clear_error_on_the_page(
    make_client: ClientFactory, notice_pdf: bytes
) -> None:
    officer = await signed_in(make_client, OFFICER)
    cases = [
        (b"", "x.pdf", "x.pdf is empty"),
        (b"\x00\x01\x02 binary junk " * 20, "report.pdf", "unknown type"),
        ("就是一段文字".encode() * 10, "notes.txt", "text file, judged by its content"),
        (notice_pdf[:400], "broken.pdf", "cannot be read"),
    ]
    for data, name, message in cases:
        form = {"csrf_token": await csrf_token(officer), "file": (io.BytesIO(data))}
        form["file"].name = name  # type: ignore[attr-defined]
        response = await officer.post("/registry", data=form)
        assert response.status == 400, name
        assert message in await response.text(), (name, await response.text())

    small = await signed_in(make_client, OFFICER, settings=console_settings(max_upload_mb=0.01))
    too_big = await small.post(
        "/registry", data={"csrf_token": await csrf_token(small), "file": io.BytesIO(notice_pdf)}
    )
    assert too_big.status == 413
    assert "larger than the 0.01 MB limit" in await too_big.text()
    api = await small.post(
        "/api/registry",
        data={"file": io.BytesIO(notice_pdf)},
        headers={"X-CSRF-Token": await csrf_token(small)},
    )
    assert api.status == 413 and "0.01 MB" in (await api.json())["error"]


# --- groups ---------------------------------------------------------------------------------------


async def test_groups_enroll_and_unenroll_are_for_admins(
    make_client: ClientFactory, client: redis.Redis
) -> None:
    officer = await signed_in(make_client, OFFICER)
    form = {"room_id": "999@chatroom", "topic": "研发群", "admins": "wx_a\nwx_b", "officers": ""}
    token = await csrf_token(officer)
    assert (await officer.post("/groups", data={**form, "csrf_token": token})).status == 403
    assert (await officer.get("/groups")).status == 200
    assert 'action="/groups"' not in await (await officer.get("/groups")).text()

    admin = await signed_in(make_client, ADMIN)
    token = await csrf_token(admin)
    missing = await admin.post("/groups", data={**form, "room_id": " ", "csrf_token": token})
    assert missing.status == 400 and "room id is required" in await missing.text()
    done = await admin.post("/groups", data={**form, "csrf_token": token}, allow_redirects=False)
    assert done.status == 303
    group = Groups(client, console_settings()).get("999@chatroom")
    assert group is not None and group.admins == ("wx_a", "wx_b") and group.topic == "研发群"
    assert group.enrolled_by == f"console:{ADMIN}"
    listed = await (await officer.get("/api/groups")).json()
    assert [g["room_id"] for g in listed["groups"]] == ["999@chatroom"]
    html = await (await admin.get("/groups")).text()
    assert "研发群" in html and "wx_b" in html

    api = await admin.post(
        "/api/groups",
        json={"room_id": "777@chatroom", "officers": ["sec_1"]},
        headers={"X-CSRF-Token": token},
    )
    assert api.status == 201 and (await api.json())["officers"] == ["sec_1"]
    gone = await admin.delete("/api/groups/777@chatroom", headers={"X-CSRF-Token": token})
    assert gone.status == 200
    out = await admin.post(
        "/groups/unenroll",
        data={"room_id": "999@chatroom", "csrf_token": token},
        allow_redirects=False,
    )
    assert out.status == 303 and Groups(client, console_settings()).list() == []
    actions = [(a, b, c) for a, b, c, _ in audit_actions(client)]
    for entry in [
        (ADMIN, "group_enroll", "999@chatroom"),
        (ADMIN, "group_enroll", "777@chatroom"),
        (ADMIN, "group_unenroll", "777@chatroom"),
        (ADMIN, "group_unenroll", "999@chatroom"),
    ]:
        assert entry in actions


# --- sandbox --------------------------------------------------------------------------------------


@pytest.fixture
async def sandbox_service(
    client: redis.Redis,
) -> AsyncIterator[tuple[BotService, SandboxConnector]]:
    """The bot on the sandbox chat (no worker: the tests here need no scan)."""
    sandbox = SandboxConnector()
    settings = fast_settings()
    enroll_demo_group(client, settings)
    service = BotService(client, settings, sandbox)
    await service.start()
    yield service, sandbox
    await service.stop()


async def test_sandbox_posts_as_a_member_and_shows_the_bots_answers(
    make_client: ClientFactory,
    client: redis.Redis,
    sandbox_service: tuple[BotService, SandboxConnector],
) -> None:
    service, sandbox = sandbox_service
    group = Groups(client, service.settings).get(DEMO_ROOM)
    assert group is not None and group.officers == (DEMO_OFFICER,)
    officer = await signed_in(make_client, OFFICER, pages=(sandbox_pages(sandbox),))
    html = await (await officer.get("/sandbox")).text()
    assert "演示工作群" in html and "/static/sandbox.js" in html

    token = await csrf_token(officer)
    posted = await officer.post(
        "/sandbox/post",
        data={"csrf_token": token, "sender": DEMO_MEMBER, "text": "/help"},
        allow_redirects=False,
    )
    assert posted.status == 303
    await settle(service)
    chats = await (await officer.get("/api/sandbox/messages")).json()
    lines = chats["group"]["lines"]
    assert lines[0]["sender_id"] == DEMO_MEMBER and lines[0]["text"] == "/help"
    assert lines[-1]["from_bot"] and lines[-1]["text"] == service.templates.render("help")
    assert chats["direct"][0]["contact_id"] == DEMO_OFFICER

    image = await officer.post(
        "/sandbox/post",
        data={"csrf_token": token, "sender": DEMO_MEMBER, "file": io.BytesIO(marked_page())},
        allow_redirects=False,
    )
    assert image.status == 303
    assert sandbox.transcript()[-1].kind.value == "image"
    assert client.xlen(keys.JOBS_STREAM) == 1  # queued for the workers like a WeChat photo

    for bad, message in [
        ({"sender": DEMO_MEMBER}, "write a message or choose"),
        ({"sender": "stranger", "text": "hi"}, "one of the demo group"),
        ({"sender": DEMO_MEMBER, "file": io.BytesIO(b"\x00\xff" * 50)}, "unknown type"),
    ]:
        answer = await officer.post("/sandbox/post", data={"csrf_token": token, **bad})
        assert answer.status == 400 and message in await answer.text()
    assert (
        await officer.post("/sandbox/post", data={"sender": DEMO_MEMBER, "text": "x"})
    ).status == 403


async def test_openapi_describes_the_new_api(make_client: ClientFactory) -> None:
    officer = await signed_in(make_client, OFFICER, pages=(sandbox_pages(SandboxConnector()),))
    paths = (await (await officer.get("/api/openapi.json")).json())["paths"]
    for path, method in [
        ("/api/incidents", "get"),
        ("/api/incidents/{incident_id}", "get"),
        ("/api/incidents/{incident_id}/status", "post"),
        ("/api/incident-stats", "get"),
        ("/api/registry", "post"),
        ("/api/registry/{doc_id}", "delete"),
        ("/api/groups", "post"),
        ("/api/groups/{room_id}", "delete"),
        ("/api/sandbox/messages", "post"),
    ]:
        assert method in paths[path], path
