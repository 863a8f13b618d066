"""Admin pages: console users and the audit log (pages and JSON)."""

from __future__ import annotations

import re

import aiohttp_jinja2
from aiohttp import web

from bot.web.auth import audit, current_session, requires
from bot.web.state import add_nav, blocking, console, document_api
from bot.web.users import Role, UserError

AUDIT_PAGE_SIZE = 50
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
            raise UserError("choose a role: officer or admin")
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
            request, error="You cannot remove yourself; ask another admin.", status=400
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


@requires(Role.ADMIN)
async def audit_page(request: web.Request) -> web.Response:
    entries = await _audit_entries(request)
    more = entries[-1].id if len(entries) == AUDIT_PAGE_SIZE else ""
    return aiohttp_jinja2.render_template(
        "audit.html", request, {"entries": entries, "older": more}
    )


@requires(Role.ADMIN)
async def audit_api(request: web.Request) -> web.Response:
    entries = await _audit_entries(request)
    return web.json_response({"entries": [e.to_json() for e in entries]})


async def _audit_entries(request: web.Request) -> list:
    before = request.query.get("before", "")
    if before and not _ENTRY_ID.match(before):
        raise web.HTTPBadRequest(text="before: an audit entry id such as 1718000000000-0")
    await audit(request, "view", "audit-log")  # first, so that the page shows this view too
    return await blocking(console(request).audit.newest, AUDIT_PAGE_SIZE, before or None)


async def _render_users(
    request: web.Request, *, error: str = "", status: int = 200
) -> web.Response:
    users = await blocking(console(request).users.list)
    context = {"users": users, "roles": [r.value for r in Role], "error": error}
    return aiohttp_jinja2.render_template("users.html", request, context, status=status)


def setup(app: web.Application) -> None:
    app.router.add_get("/users", users_page)
    app.router.add_post("/users", add_user)
    app.router.add_post("/users/{name}/remove", remove_user)
    app.router.add_get("/audit", audit_page)
    app.router.add_get("/api/users", users_api)
    app.router.add_get("/api/audit", audit_api)
    add_nav(app, "Audit log", "/audit", Role.ADMIN)
    add_nav(app, "Users", "/users", Role.ADMIN)
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
