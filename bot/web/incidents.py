"""Incidents: the list (filters, newest first, paging), one incident with its evidence, and the
officer's decision on it. Pages and JSON.

Every view of an incident or of its evidence is in the audit log, and so is every status change
(with the note); the incident keeps its own history of decisions too (bot/incidents.py).
Evidence pictures are drawn from the stored bytes on request and served only to a session,
never cached (the app sets `Cache-Control: no-store` on everything but /static).
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web

from bot.blobs import Blobs
from bot.decisions import Decider, Decisions
from bot.groups import Groups
from bot.incidents import STATUSES, Incident, Incidents, UnknownIncident, normalize_id
from bot.outbox import Outbox
from bot.sealing import SealError
from bot.templates import Templates
from bot.web.auth import audit, client_ip, current_session, safe_next
from bot.web.evidence import (
    ARTIST,
    PICTURES,
    EvidencePictures,
    EvidenceView,
    PageArtist,
    evidence_views,
    numbered_findings,
)
from bot.web.i18n import N_, gettext, name_of, ngettext
from bot.web.registry_pages import REGISTRY
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
from detectors.registry import DETECTOR_NAMES
from detectors.registry import KNOWN_DOCUMENT as KNOWN

PAGE_SIZE = 25
MAX_NOTE_CHARS = 2000
VERDICTS = tuple(v.label for v in sorted(Verdict, reverse=True) if v is not Verdict.CLEAN)
DATE_FORMAT = "%Y-%m-%d"
MAX_QUERY_CHARS = 200
MAX_SEARCHED = 5000
"""A search, a detector filter or an export reads at most this many incidents of the others."""
MAX_BULK = 100
CSV_COLUMNS = (
    "id",
    "opened",
    "verdict",
    "status",
    "group",
    "group_id",
    "sender",
    "sender_id",
    "file",
    "found",
    "groups",
    "recall",
    "decided_by",
    "decided_at",
)

INCIDENTS = web.AppKey("incidents", Incidents)
GROUPS = web.AppKey("groups", Groups)
BLOBS = web.AppKey("blobs", Blobs)
DECISIONS = web.AppKey("decisions", Decisions)


class FilterError(ValueError):
    """A filter value that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Filters:
    room: str = ""
    verdict: str = ""
    status: str = ""
    since: str = ""  # YYYY-MM-DD in the configured time zone, inclusive
    until: str = ""  # YYYY-MM-DD in the configured time zone, inclusive
    page: int = 1
    q: str = ""  # words that the sender, the id, a file name or an evidence text contains
    detector: str = ""

    @property
    def searching(self) -> bool:
        return bool(self.q or self.detector)

    def matches(self, incident: Incident) -> bool:
        """The filters the indexes cannot answer: the search words and the detector."""
        if self.detector and self.detector not in {f.get("detector") for f in incident.findings}:
            return False
        haystack = _searchable(incident)
        return all(word in haystack for word in self.q.lower().split())

    def query(self, **changes: object) -> str:
        """This filter as a query string, with `changes` applied (say, another page)."""
        values = {**self.__dict__, **changes}
        return urlencode({k: v for k, v in values.items() if v and not (k == "page" and v == 1)})

    def bounds(self, clock: Templates) -> tuple[float | None, float | None]:
        """The first and last moment of the days `since` and `until` in the configured zone."""
        since = clock.day_start(_day(self.since)) if self.since else None
        if not self.until:
            return since, None
        return since, clock.day_start(_day(self.until) + timedelta(days=1)) - 1e-3


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
    q = " ".join(str(query.get("q", "")).split())[:MAX_QUERY_CHARS]
    detector = str(query.get("detector", "")).strip()
    if detector and detector not in DETECTOR_NAMES:
        raise FilterError(N_("found: one of the listed detectors"))
    return Filters(room, verdict, status, since, until, page, q, detector)


async def find_incidents(request: web.Request, filters: Filters) -> tuple[list[Incident], bool]:
    """One page of incidents and whether there is a next one."""
    offset = (filters.page - 1) * PAGE_SIZE
    found = await all_matching(request, filters, offset + PAGE_SIZE + 1)
    page = found[offset:]
    return page[:PAGE_SIZE], len(page) > PAGE_SIZE


async def all_matching(request: web.Request, filters: Filters, limit: int) -> list[Incident]:
    """Up to `limit` incidents, newest first, that match `filters` (pages aside). The indexes
    answer group, verdict, status and dates; a search reads at most `MAX_SEARCHED` of those."""
    since, until = filters.bounds(request.app[CONSOLE].templates)
    found = await blocking(
        request.app[INCIDENTS].list,
        room=filters.room or None,
        verdict=filters.verdict or None,
        status=filters.status or None,
        since=since,
        until=until,
        limit=MAX_SEARCHED if filters.searching else limit,
    )
    if filters.searching:
        found = [incident for incident in found if filters.matches(incident)]
    return found[:limit]


def _searchable(incident: Incident) -> str:
    """What a search looks in: id, senders, file names, evidence texts, registered titles."""
    parts = [incident.incident_id, incident.sender_id, incident.sender_name]
    parts.append(str(incident.report.get("source") or ""))
    for sighting in incident.sightings:
        parts += [sighting.sender_id, sighting.sender_name, sighting.filename or ""]
    parts += [str(f.get("evidence") or "") for f in incident.findings]
    parts += [str(f.get("label") or "") for f in incident.findings]
    return "\n".join(parts).lower()


# --- pages -------------------------------------------------------------------------------------


async def incidents_page(request: web.Request) -> web.Response:
    try:
        filters = parse_filters(request.query)
    except FilterError as exc:
        return await _render_list(request, Filters(), error=str(exc), status=400)
    return await _render_list(request, filters, notice=_bulk_notice(request.query))


async def export_csv(request: web.Request) -> web.StreamResponse:
    """The filtered incidents as CSV (UTF-8 with a BOM, which Excel needs to read Chinese),
    newest first, for the monthly report; audited."""
    try:
        filters = parse_filters(request.query)
    except FilterError as exc:
        return await _render_list(request, Filters(), error=str(exc), status=400)
    found = await all_matching(request, filters, MAX_SEARCHED)
    await audit(request, "export", "incidents", f"{len(found)} incident(s) {filters.query()}")
    clock = request.app[CONSOLE].templates
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([translate_column(c) for c in CSV_COLUMNS])
    for incident in found:
        writer.writerow(csv_row(incident, clock))
    stamp = clock.local(time.time()).strftime("%Y%m%d-%H%M")
    return web.Response(
        body=("\ufeff" + out.getvalue()).encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="incidents-{stamp}.csv"'},
    )


def translate_column(column: str) -> str:
    return name_of("column", column)


def csv_row(incident: Incident, clock: Templates) -> list[str]:
    """One incident as the export writes it, names in the reader's language."""
    decided = next((a for a in reversed(incident.audit) if a.action == "status"), None)
    detectors = dict.fromkeys(str(f.get("detector")) for f in incident.findings)
    return [
        incident.incident_id,
        clock.time(incident.opened_at),
        name_of("verdict", incident.verdict),
        name_of("status", incident.status),
        incident.room_topic,
        incident.room_id,
        incident.sender_name,
        incident.sender_id,
        str(incident.report.get("source") or ""),
        "、".join(name_of("detector", d) for d in detectors),
        str(len(incident.room_ids)),
        name_of("recall", incident.recall_status),
        decided.actor if decided else "",
        clock.time(decided.at) if decided else "",
    ]


async def bulk_decide(request: web.Request) -> web.StreamResponse:
    """The same decision on the incidents ticked in the list."""
    form = await request.post()
    back = safe_next(request, str(form.get("back", "")))
    ids = [normalize_id(str(v)) for v in form.getall("incident", [])][:MAX_BULK]
    try:
        status, note = _decision(str(form.get("status", "")), str(form.get("note", "")))
        if not ids:
            raise ValueError(N_("tick the incidents to decide first"))
    except ValueError as exc:
        return await _render_list(request, Filters(), error=str(exc), status=400)
    decided = 0
    for incident_id in dict.fromkeys(i for i in ids if i):
        incident = await blocking(request.app[INCIDENTS].get, incident_id)
        if incident is None:
            continue
        try:
            await _set_status(request, incident, status, note)
        except web.HTTPNotFound:  # expired meanwhile
            continue
        decided += 1
    separator = "&" if "?" in back else "?"
    raise web.HTTPSeeOther(f"{back}{separator}decided={decided}&as={status}")


def _bulk_notice(query: Any) -> str:
    decided, status = str(query.get("decided", "")), str(query.get("as", ""))
    if not decided.isdigit() or status not in STATUSES:
        return ""
    return ngettext(
        "%(num)s incident marked %(status)s.",
        "%(num)s incidents marked %(status)s.",
        int(decided),
    ) % {"num": int(decided), "status": name_of("status", status)}


async def _render_list(
    request: web.Request, filters: Filters, *, error: str = "", notice: str = "", status: int = 200
) -> web.Response:
    groups = await blocking(request.app[GROUPS].list)
    incidents, more = ([], False) if error else await find_incidents(request, filters)
    context: dict[str, Any] = {
        "groups": groups,
        "verdicts": VERDICTS,
        "statuses": STATUSES,
        "detectors": DETECTOR_NAMES,
        "filters": filters,
        "incidents": incidents,
        "more": more,
        "error": error,
        "notice": notice,
        "max_note": MAX_NOTE_CHARS,
    }
    return aiohttp_jinja2.render_template("incidents.html", request, context, status=status)


async def incident_page(request: web.Request) -> web.Response:
    incident = await _incident(request)
    await audit(request, "view", f"incident {incident.incident_id}")
    return await _render_incident(request, incident)


async def change_status(request: web.Request) -> web.StreamResponse:
    incident = await _incident(request)
    form = await request.post()
    try:
        status, note = _decision(str(form.get("status", "")), str(form.get("note", "")))
    except ValueError as exc:
        return await _render_incident(request, incident, error=str(exc), status=400)
    await _set_status(request, incident, status, note)
    raise web.HTTPSeeOther(f"/incidents/{incident.incident_id}")


async def evidence_picture(request: web.Request) -> web.Response:
    incident = await _incident(request)
    views = evidence_views(incident.report)
    try:
        view = views[int(request.match_info["index"])]
    except (ValueError, IndexError):
        raise web.HTTPNotFound(text=N_("no such evidence picture")) from None
    pictures: EvidencePictures = request.app[PICTURES]
    if not pictures.enabled:
        raise web.HTTPNotFound(text=N_("findings only: this console keeps no evidence pictures"))
    await audit(request, "view_evidence", f"incident {incident.incident_id}", view.caption)
    drawn = await blocking(pictures.get, incident.sha256, view)
    if drawn is not None:  # drawn by the worker when the incident opened
        return web.Response(body=drawn, content_type="image/png")
    try:
        data = await blocking(request.app[BLOBS].get, incident.sha256)
    except SealError:
        raise web.HTTPNotFound(text=N_("the evidence is sealed with another key")) from None
    if data is None:
        raise web.HTTPNotFound(text=N_("the evidence has expired (retention)"))
    artist: PageArtist = request.app[ARTIST]
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
        raise web.HTTPNotFound(text=N_("this page has no picture"))
    await blocking(pictures.put, incident.sha256, view, picture)
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
    return web.json_response(detail_json(incident, _shown_views(request, incident)))


async def status_api(request: web.Request) -> web.Response:
    incident = await _incident(request)
    try:
        body = await request.json()
        status, note = _decision(str(body.get("status", "")), str(body.get("note", "")))
    except (ValueError, AttributeError) as exc:
        raise json_error(400, str(exc) or "a JSON object {status, note}") from exc
    changed = await _set_status(request, incident, status, note)
    return web.json_response(detail_json(changed, _shown_views(request, changed)))


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


def detail_json(incident: Incident, views: list[EvidenceView]) -> dict[str, Any]:
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
        message = N_("no such incident (the id is wrong, or it expired)")
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
    """Decide, audit, and tell the alert's recipients (bot/decisions.py)."""
    decider = Decider.console_user(current_session(request).user, client_ip(request))
    try:
        return await blocking(request.app[DECISIONS].decide, incident, status, decider, note)
    except UnknownIncident:
        raise web.HTTPNotFound(text=N_("the incident expired meanwhile")) from None


async def _render_incident(
    request: web.Request, incident: Incident, *, error: str = "", status: int = 200
) -> web.Response:
    documents = await _known_documents(request, incident)
    views = _shown_views(request, incident)
    context = {
        "incident": incident,
        "pictures": [(_evidence_url(incident, i), v) for i, v in enumerate(views)],
        "findings": numbered_findings(incident.report),
        "documents": documents,
        "caption": caption,
        "statuses": STATUSES,
        "error": error,
        "max_note": MAX_NOTE_CHARS,
    }
    return aiohttp_jinja2.render_template("incident.html", request, context, status=status)


async def _known_documents(request: web.Request, incident: Incident) -> dict[str, Any]:
    """The registered documents its known-document findings name (the title and a link)."""
    doc_ids = {str(f.get("label")) for f in incident.findings if f.get("detector") == KNOWN}
    registry = request.app[REGISTRY]
    found = {doc_id: await blocking(registry.get, doc_id) for doc_id in sorted(doc_ids)}
    return {doc_id: doc for doc_id, doc in found.items() if doc is not None}


def caption(view: EvidenceView) -> str:
    """Where an evidence picture is from, in the reader's language."""
    if view.member:
        return gettext("%(member)s, page %(page)s") % {"member": view.member, "page": view.page}
    return gettext("page %(page)s") % {"page": view.page}


def _shown_views(request: web.Request, incident: Incident) -> list[EvidenceView]:
    """The incident's pictures the console shows: none where it keeps findings only."""
    return evidence_views(incident.report) if request.app[PICTURES].enabled else []


def _evidence_url(incident: Incident, index: int) -> str:
    return f"/incidents/{incident.incident_id}/evidence/{index}.png"


def _day(text: str) -> date:
    return datetime.strptime(text, DATE_FORMAT).date()


def setup(app: web.Application) -> None:
    services = app[CONSOLE]
    app[INCIDENTS] = Incidents(services.client, services.settings)
    app[GROUPS] = Groups(services.client, services.settings)
    app[BLOBS] = Blobs(services.client, services.settings)
    app[ARTIST] = PageArtist(services.scan_config)
    app[PICTURES] = EvidencePictures(services.client, services.settings)
    app[DECISIONS] = Decisions(
        services.client,
        services.settings,
        app[INCIDENTS],
        app[GROUPS],
        Outbox(services.client, services.settings, services.templates),
        services.templates,
        services.audit,
    )
    app.router.add_get("/incidents", incidents_page)
    app.router.add_get("/incidents.csv", export_csv)
    app.router.add_post("/incidents/bulk", bulk_decide)
    app.router.add_get("/incidents/{incident_id}", incident_page)
    app.router.add_post("/incidents/{incident_id}/status", change_status)
    app.router.add_get("/incidents/{incident_id}/evidence/{index:\\d+}.png", evidence_picture)
    app.router.add_get("/api/incidents", incidents_api)
    app.router.add_get("/api/incidents/{incident_id}", incident_api)
    app.router.add_post("/api/incidents/{incident_id}/status", status_api)
    add_nav(app, N_("Incidents"), "/incidents")
    _document(app)


def _document(app: web.Application) -> None:
    filters = [
        query_parameter("room", "room id of an enrolled group"),
        query_parameter("verdict", "one of " + ", ".join(VERDICTS)),
        query_parameter("status", "one of " + ", ".join(STATUSES)),
        query_parameter("since", "first day, YYYY-MM-DD (in the configured time zone)"),
        query_parameter("until", "last day, YYYY-MM-DD"),
        query_parameter("page", f"page number from 1, {PAGE_SIZE} per page", "integer"),
        query_parameter("q", "words in the sender, the id, a file name or an evidence text"),
        query_parameter("detector", "only incidents with a finding of this detector"),
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
