"""Incidents: the list (filters, newest first, paging), one incident with its evidence, and the
officer's decision on it. Pages and JSON.

Every view of an incident or of its evidence is in the audit log, and so is every status change
(with the note); the incident keeps its own history of decisions too (bot/incidents.py).
Evidence pictures are drawn from the stored bytes on request and served only to a session,
never cached (the app sets `Cache-Control: no-store` on everything but /static).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web

from bot.blobs import Blobs
from bot.groups import Groups
from bot.incidents import STATUSES, Incident, Incidents, UnknownIncident, normalize_id
from bot.web.auth import audit, current_session
from bot.web.evidence import ARTIST, PageArtist, evidence_views, numbered_findings
from bot.web.state import (
    CHANGES_STATE,
    CONSOLE,
    add_nav,
    blocking,
    document_api,
    path_parameter,
    query_parameter,
)
from bot.web.uploads import json_error
from detectors import Verdict

PAGE_SIZE = 25
MAX_NOTE_CHARS = 2000
VERDICTS = tuple(v.label for v in sorted(Verdict, reverse=True) if v is not Verdict.CLEAN)
STATUS_LABELS = {
    "open": "Open",
    "confirmed": "Confirmed",
    "false_positive": "False positive",
    "resolved": "Resolved",
}
RECALL_LABELS = {"none": "not recalled", "partial": "partly recalled", "all": "recalled"}
DATE_FORMAT = "%Y-%m-%d"

INCIDENTS = web.AppKey("incidents", Incidents)
GROUPS = web.AppKey("groups", Groups)
BLOBS = web.AppKey("blobs", Blobs)


class FilterError(ValueError):
    """A filter value that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Filters:
    room: str = ""
    verdict: str = ""
    status: str = ""
    since: str = ""  # YYYY-MM-DD, local time, inclusive
    until: str = ""  # YYYY-MM-DD, local time, inclusive
    page: int = 1

    def query(self, **changes: object) -> str:
        """This filter as a query string, with `changes` applied (say, another page)."""
        values = {**self.__dict__, **changes}
        return urlencode({k: v for k, v in values.items() if v and not (k == "page" and v == 1)})

    def bounds(self) -> tuple[float | None, float | None]:
        return _day_start(self.since), _day_end(self.until)


def parse_filters(query: Any) -> Filters:
    verdict = str(query.get("verdict", "")).strip()
    status = str(query.get("status", "")).strip()
    if verdict and verdict not in VERDICTS:
        raise FilterError(f"verdict: one of {', '.join(VERDICTS)}")
    if status and status not in STATUSES:
        raise FilterError(f"status: one of {', '.join(STATUSES)}")
    since, until = (str(query.get(k, "")).strip() for k in ("since", "until"))
    for name, value in (("since", since), ("until", until)):
        if value:
            try:
                datetime.strptime(value, DATE_FORMAT)
            except ValueError:
                raise FilterError(f"{name}: a date as YYYY-MM-DD") from None
    try:
        page = int(query.get("page", "1") or 1)
    except ValueError:
        raise FilterError("page: a number from 1") from None
    if not 1 <= page <= 100_000:
        raise FilterError("page: a number from 1")
    room = str(query.get("room", "")).strip()[:256]
    return Filters(room, verdict, status, since, until, page)


async def find_incidents(request: web.Request, filters: Filters) -> tuple[list[Incident], bool]:
    """One page of incidents and whether there is a next one."""
    since, until = filters.bounds()
    found = await blocking(
        request.app[INCIDENTS].list,
        room=filters.room or None,
        verdict=filters.verdict or None,
        status=filters.status or None,
        since=since,
        until=until,
        offset=(filters.page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE + 1,
    )
    return found[:PAGE_SIZE], len(found) > PAGE_SIZE


# --- pages -------------------------------------------------------------------------------------


async def incidents_page(request: web.Request) -> web.Response:
    groups = await blocking(request.app[GROUPS].list)
    context: dict[str, Any] = {
        "groups": groups,
        "verdicts": VERDICTS,
        "statuses": STATUS_LABELS,
        "recall_labels": RECALL_LABELS,
        "incidents": [],
        "more": False,
        "error": "",
    }
    try:
        filters = parse_filters(request.query)
    except FilterError as exc:
        context.update(filters=Filters(), error=str(exc))
        return aiohttp_jinja2.render_template("incidents.html", request, context, status=400)
    incidents, more = await find_incidents(request, filters)
    context.update(filters=filters, incidents=incidents, more=more)
    return aiohttp_jinja2.render_template("incidents.html", request, context)


async def incident_page(request: web.Request) -> web.Response:
    incident = await _incident(request)
    await audit(request, "view", f"incident {incident.incident_id}")
    return _render_incident(request, incident)


async def change_status(request: web.Request) -> web.StreamResponse:
    incident = await _incident(request)
    form = await request.post()
    try:
        status, note = _decision(str(form.get("status", "")), str(form.get("note", "")))
    except ValueError as exc:
        return _render_incident(request, incident, error=str(exc), status=400)
    await _set_status(request, incident, status, note)
    raise web.HTTPSeeOther(f"/incidents/{incident.incident_id}")


async def evidence_picture(request: web.Request) -> web.Response:
    incident = await _incident(request)
    views = evidence_views(incident.report)
    try:
        view = views[int(request.match_info["index"])]
    except (ValueError, IndexError):
        raise web.HTTPNotFound(text="no such evidence picture") from None
    data = await blocking(request.app[BLOBS].get, incident.sha256)
    if data is None:
        raise web.HTTPNotFound(text="the evidence has expired (retention)")
    artist: PageArtist = request.app[ARTIST]
    await audit(request, "view_evidence", f"incident {incident.incident_id}", view.caption)
    try:
        picture = await artist.run(
            artist.evidence,
            incident.sha256,
            data,
            str(incident.report.get("source") or "evidence"),
            view,
            incident.findings,
        )
    except Exception as exc:  # the scanner read it once; a failure now must still answer
        raise web.HTTPServiceUnavailable(text=f"the evidence cannot be drawn: {exc}") from exc
    if picture is None:
        raise web.HTTPNotFound(text="this page has no picture")
    return web.Response(body=picture, content_type="image/png")


# --- JSON --------------------------------------------------------------------------------------


async def incidents_api(request: web.Request) -> web.Response:
    try:
        filters = parse_filters(request.query)
    except FilterError as exc:
        raise json_error(400, str(exc)) from exc
    incidents, more = await find_incidents(request, filters)
    return web.json_response(
        {
            "incidents": [summary_json(i) for i in incidents],
            "page": filters.page,
            "next_page": filters.page + 1 if more else None,
        }
    )


async def incident_api(request: web.Request) -> web.Response:
    incident = await _incident(request)
    await audit(request, "view", f"incident {incident.incident_id}")
    return web.json_response(detail_json(incident))


async def status_api(request: web.Request) -> web.Response:
    incident = await _incident(request)
    try:
        body = await request.json()
        status, note = _decision(str(body.get("status", "")), str(body.get("note", "")))
    except (ValueError, AttributeError) as exc:
        raise json_error(400, str(exc) or "a JSON object {status, note}") from exc
    changed = await _set_status(request, incident, status, note)
    return web.json_response(detail_json(changed))


def summary_json(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.incident_id,
        "status": incident.status,
        "verdict": incident.verdict,
        "opened_at": incident.opened_at,
        "updated_at": incident.updated_at,
        "room_id": incident.room_id,
        "room_topic": incident.room_topic,
        "sender_id": incident.sender_id,
        "sender_name": incident.sender_name,
        "detectors": sorted({str(f.get("detector")) for f in incident.findings}),
        "sightings": len(incident.sightings),
        "groups": len(incident.room_ids),
        "recall_status": incident.recall_status,
    }


def detail_json(incident: Incident) -> dict[str, Any]:
    views = evidence_views(incident.report)
    return {
        **summary_json(incident),
        "sha256": incident.sha256,
        "filename": incident.report.get("source"),
        "media_type": incident.report.get("media_type"),
        "findings": incident.findings,
        "evidence_pictures": [
            {"url": _evidence_url(incident, i), "caption": v.caption} for i, v in enumerate(views)
        ],
        "spread": [
            {
                "message_key": s.message_key,
                "room_id": s.room_id,
                "room_topic": s.room_topic,
                "sender_id": s.sender_id,
                "sender_name": s.sender_name,
                "at": s.at,
                "kind": s.kind,
                "filename": s.filename,
                "recalled_at": s.recalled_at,
                "warning": s.warning,
                "warned_at": s.warned_at,
            }
            for s in incident.sightings
        ],
        "history": [
            {"at": a.at, "actor": a.actor, "action": a.action, "old": a.old, "new": a.new}
            | {"note": a.note}
            for a in incident.audit
        ],
    }


# --- inside ------------------------------------------------------------------------------------


async def _incident(request: web.Request) -> Incident:
    incident_id = normalize_id(request.match_info["incident_id"])
    found = None if incident_id is None else await blocking(request.app[INCIDENTS].get, incident_id)
    if found is None:
        message = "no such incident (the id is wrong, or it expired)"
        if request.path.startswith("/api/"):
            raise json_error(404, message)
        raise web.HTTPNotFound(text=message)
    return found


def _decision(status: str, note: str) -> tuple[str, str]:
    if status not in STATUSES:
        raise ValueError(f"status: one of {', '.join(STATUSES)}")
    note = note.strip()
    if len(note) > MAX_NOTE_CHARS:
        raise ValueError(f"the note has at most {MAX_NOTE_CHARS} characters")
    return status, note


async def _set_status(request: web.Request, incident: Incident, status: str, note: str) -> Incident:
    user = current_session(request).user
    try:
        changed = await blocking(
            request.app[INCIDENTS].set_status, incident.incident_id, status, user, note
        )
    except UnknownIncident:
        raise web.HTTPNotFound(text="the incident expired meanwhile") from None
    if changed.status != incident.status or note:
        detail = f"{incident.status} -> {status}" + (f": {note}" if note else "")
        await audit(request, "incident_status", f"incident {incident.incident_id}", detail)
    return changed


def _render_incident(
    request: web.Request, incident: Incident, *, error: str = "", status: int = 200
) -> web.Response:
    views = evidence_views(incident.report)
    context = {
        "incident": incident,
        "pictures": [(_evidence_url(incident, i), v) for i, v in enumerate(views)],
        "findings": numbered_findings(incident.report),
        "statuses": STATUS_LABELS,
        "recall_labels": RECALL_LABELS,
        "error": error,
        "max_note": MAX_NOTE_CHARS,
    }
    return aiohttp_jinja2.render_template("incident.html", request, context, status=status)


def _evidence_url(incident: Incident, index: int) -> str:
    return f"/incidents/{incident.incident_id}/evidence/{index}.png"


def _day_start(day: str) -> float | None:
    return datetime.strptime(day, DATE_FORMAT).timestamp() if day else None


def _day_end(day: str) -> float | None:
    if not day:
        return None
    return (datetime.strptime(day, DATE_FORMAT) + timedelta(days=1)).timestamp() - 1e-3


def setup(app: web.Application) -> None:
    services = app[CONSOLE]
    app[INCIDENTS] = Incidents(services.client, services.settings)
    app[GROUPS] = Groups(services.client, services.settings)
    app[BLOBS] = Blobs(services.client, services.settings)
    app[ARTIST] = PageArtist(services.scan_config)
    app.router.add_get("/incidents", incidents_page)
    app.router.add_get("/incidents/{incident_id}", incident_page)
    app.router.add_post("/incidents/{incident_id}/status", change_status)
    app.router.add_get("/incidents/{incident_id}/evidence/{index:\\d+}.png", evidence_picture)
    app.router.add_get("/api/incidents", incidents_api)
    app.router.add_get("/api/incidents/{incident_id}", incident_api)
    app.router.add_post("/api/incidents/{incident_id}/status", status_api)
    add_nav(app, "Incidents", "/incidents")
    _document(app)


def _document(app: web.Application) -> None:
    filters = [
        query_parameter("room", "room id of an enrolled group"),
        query_parameter("verdict", "one of " + ", ".join(VERDICTS)),
        query_parameter("status", "one of " + ", ".join(STATUSES)),
        query_parameter("since", "first day, YYYY-MM-DD (server's local time)"),
        query_parameter("until", "last day, YYYY-MM-DD"),
        query_parameter("page", f"page number from 1, {PAGE_SIZE} per page", "integer"),
    ]
    incident_id = path_parameter("incident_id")
    document_api(
        app,
        "/api/incidents",
        "get",
        {
            "summary": "Incidents, newest first, filtered",
            "parameters": filters,
            "responses": {"200": {"description": "a page of incidents"}, "400": _bad_input()},
        },
    )
    document_api(
        app,
        "/api/incidents/{incident_id}",
        "get",
        {
            "summary": "One incident: findings with evidence text, spread, recall, history "
            "(audited as a view)",
            "parameters": [incident_id],
            "responses": {"200": {"description": "the incident"}, "404": _bad_input()},
        },
    )
    document_api(
        app,
        "/api/incidents/{incident_id}/status",
        "post",
        {
            "summary": "Decide on an incident (officer): open, confirmed, false_positive, resolved",
            "security": CHANGES_STATE,
            "parameters": [incident_id],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["status"],
                            "properties": {
                                "status": {"type": "string", "enum": list(STATUSES)},
                                "note": {"type": "string", "maxLength": MAX_NOTE_CHARS},
                            },
                        }
                    }
                },
            },
            "responses": {"200": {"description": "the incident after the change"}},
        },
    )


def _bad_input() -> dict[str, str]:
    return {"description": '{"error": "..."}'}
