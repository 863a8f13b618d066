"""Admin pages: console users and the audit log (pages and JSON)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web

from bot.web.audit import ACTIONS, AuditEntry
from bot.web.auth import audit, current_session, requires
from bot.web.i18n import N_, name_of
from bot.web.state import add_nav, blocking, console, document_api
from bot.web.uploads import json_error
from bot.web.users import Role, UserError

AUDIT_PAGE_SIZE = 50
DATE_FORMAT = "%Y-%m-%d"
_ENTRY_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


@requires(Role.ADMIN)
async def users_page(request: web.Request) -> web.Response:
    return await _render_users(request)


@requires(Role.ADMIN)
async def add_user(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name = str(form.get("name", ""))
    role = str(form.get("role", ""))
    try:
        if role not in {r.value for r in Role}:
            raise UserError(N_("choose a role: officer or admin"))
        user = await blocking(
            console(request).users.add, name, Role(role), str(form.get("password", ""))
        )
    except UserError as exc:
        return await _render_users(request, error=str(exc), status=400)
    await audit(request, "user_add", user.name, detail=user.role.value)
    raise web.HTTPSeeOther("/users")


@requires(Role.ADMIN)
async def remove_user(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name == current_session(request).user:
        return await _render_users(
            request, error=N_("You cannot remove yourself; ask another admin."), status=400
        )
    if await blocking(console(request).users.remove, name):
        await audit(request, "user_remove", name)
    raise web.HTTPSeeOther("/users")


@requires(Role.ADMIN)
async def users_api(request: web.Request) -> web.Response:
    users = await blocking(console(request).users.list)
    return web.json_response(
        {
            "users": [
                {"name": u.name, "role": u.role.value, "created_at": u.created_at} for u in users
            ]
        }
    )


@dataclass(frozen=True)
class AuditFilters:
    actor: str = ""
    action: str = ""
    since: str = ""  # YYYY-MM-DD in the configured time zone, inclusive
    until: str = ""
    before: str = ""  # an entry id: the page starts below it

    def query(self, **changes: str) -> str:
        values = {**self.__dict__, **changes}
        return urlencode({k: v for k, v in values.items() if v})


def parse_audit_filters(query: Any) -> AuditFilters:
    found = AuditFilters(
        **{
            name: str(query.get(name, "")).strip()[:200]
            for name in AuditFilters.__dataclass_fields__
        }
    )
    if found.before and not _ENTRY_ID.match(found.before):
        raise ValueError(N_("before: an audit entry id such as 1718000000000-0"))
    if found.action and found.action not in ACTIONS:
        raise ValueError(N_("action: one of the listed actions"))
    for day in (found.since, found.until):
        if day:
            try:
                datetime.strptime(day, DATE_FORMAT)
            except ValueError:
                raise ValueError(N_("dates are written YYYY-MM-DD")) from None
    return found


@requires(Role.ADMIN)
async def audit_page(request: web.Request) -> web.Response:
    try:
        filters = parse_audit_filters(request.query)
    except ValueError as exc:
        context = {"entries": [], "older": "", "filters": AuditFilters(), "error": str(exc)}
        return _render_audit(request, context, status=400)
    entries = await _audit_entries(request, filters)
    more = entries[-1].id if len(entries) == AUDIT_PAGE_SIZE else ""
    return _render_audit(request, {"entries": entries, "older": more, "filters": filters})


@requires(Role.ADMIN)
async def audit_api(request: web.Request) -> web.Response:
    try:
        filters = parse_audit_filters(request.query)
    except ValueError as exc:
        raise json_error(400, str(exc)) from exc
    entries = await _audit_entries(request, filters)
    return web.json_response({"entries": [e.to_json() for e in entries]})


async def _audit_entries(request: web.Request, filters: AuditFilters) -> list[AuditEntry]:
    clock = console(request).templates
    since = clock.day_start(_day(filters.since)) if filters.since else None
    until = clock.day_start(_day(filters.until) + timedelta(days=1)) if filters.until else None
    await audit(request, "view", "audit-log")  # first, so that the page shows this view too
    return await blocking(
        console(request).audit.search,
        AUDIT_PAGE_SIZE,
        before=filters.before or None,
        actor=filters.actor,
        action=filters.action,
        since=since,
        until=None if until is None else until - 1e-3,
    )


def _render_audit(request: web.Request, context: dict[str, Any], status: int = 200) -> web.Response:
    context = {"actions": ACTIONS, "audit_detail": audit_detail, "error": "", **context}
    return aiohttp_jinja2.render_template("audit.html", request, context, status=status)


def audit_detail(entry: AuditEntry) -> str:
    """An entry's detail as officers read it: a decision's `open -> false_positive: note` as
    待处理 → 误报: note, a role or a status by its name."""
    if entry.action == "incident_status":
        change, _, note = entry.detail.partition(": ")
        old, arrow, new = change.partition(" -> ")
        if arrow:
            shown = f"{name_of('status', old)} → {name_of('status', new)}"
            return f"{shown}: {note}" if note else shown
    if entry.action == "user_add":
        return name_of("role", entry.detail)
    if entry.count > 1:  # a sampled entry: the events of its window
        return f"×{entry.count}"
    return entry.detail


def _day(text: str) -> date:
    return datetime.strptime(text, DATE_FORMAT).date()


async def _render_users(
    request: web.Request, *, error: str = "", status: int = 200
) -> web.Response:
    store = console(request).users
    users = await blocking(store.list)
    languages = [await blocking(store.language, user.name) for user in users]
    context = {
        "users": list(zip(users, languages, strict=True)),
        "roles": [r.value for r in Role],
        "error": error,
    }
    return aiohttp_jinja2.render_template("users.html", request, context, status=status)


def setup(app: web.Application) -> None:
    app.router.add_get("/users", users_page)
    app.router.add_post("/users", add_user)
    app.router.add_post("/users/{name}/remove", remove_user)
    app.router.add_get("/audit", audit_page)
    app.router.add_get("/api/users", users_api)
    app.router.add_get("/api/audit", audit_api)
    add_nav(app, N_("Audit log"), "/audit", Role.ADMIN)
    add_nav(app, N_("Users"), "/users", Role.ADMIN)
    document_api(
        app,
        "/api/users",
        "get",
        {"summary": "Console users (admin)", "responses": {"200": {"description": "users"}}},
    )
    document_api(
        app,
        "/api/audit",
        "get",
        {
            "summary": f"Audit log, newest first, {AUDIT_PAGE_SIZE} per page (admin)",
            "parameters": [
                {
                    "name": "before",
                    "in": "query",
                    "schema": {"type": "string"},
                    "description": "entry id: return entries older than it",
                }
            ],
            "responses": {"200": {"description": "entries"}},
        },
    )
