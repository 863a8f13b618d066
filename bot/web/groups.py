"""Enrolled groups: who gets their alerts (admins, officers); enroll and unenroll (admins only).
Pages and JSON. Every change is in the audit log."""

from __future__ import annotations

import re
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from bot.groups import Group, Groups
from bot.web.auth import audit, current_session, requires
from bot.web.i18n import N_
from bot.web.incidents import GROUPS
from bot.web.state import CHANGES_STATE, add_nav, blocking, console, document_api, path_parameter
from bot.web.uploads import json_error
from bot.web.users import Role

MAX_ID_CHARS = 256
_SEPARATORS = re.compile(r"[\s,;，；]+")


class GroupInputError(ValueError):
    """An enrollment form that cannot be used; the message says why."""


def contact_ids(text: str) -> tuple[str, ...]:
    """Contact ids typed one per line, or separated by commas or spaces."""
    ids = tuple(i for i in _SEPARATORS.split(text) if i)
    if any(len(i) > MAX_ID_CHARS for i in ids):
        raise GroupInputError(f"a contact id has at most {MAX_ID_CHARS} characters")
    return ids


def enrollment(values: dict[str, Any]) -> dict[str, Any]:
    """Arguments for `Groups.enroll` from a form or a JSON body."""
    room_id = str(values.get("room_id", "")).strip()
    if not room_id:
        raise GroupInputError("the group's room id is required (for example 12345@chatroom)")
    if len(room_id) > MAX_ID_CHARS:
        raise GroupInputError(f"a room id has at most {MAX_ID_CHARS} characters")

    def ids(name: str) -> tuple[str, ...]:
        value = values.get(name, "")
        if isinstance(value, list):
            value = "\n".join(str(v) for v in value)
        return contact_ids(str(value))

    return {
        "room_id": room_id,
        "topic": str(values.get("topic", "")).strip()[:MAX_ID_CHARS],
        "admins": ids("admins"),
        "officers": ids("officers"),
    }


def group_json(group: Group, groups: Groups) -> dict[str, Any]:
    return {
        "room_id": group.room_id,
        "topic": group.topic,
        "admins": list(group.admins),
        "officers": list(groups.officers_of(group)),
        "officers_are_group_specific": bool(group.officers),
        "enrolled_by": group.enrolled_by,
        "enrolled_at": group.enrolled_at,
    }


async def groups_page(request: web.Request) -> web.Response:
    return await _render(request)


@requires(Role.ADMIN)
async def enroll(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        group = await _enroll(request, dict(form))
    except GroupInputError as exc:
        return await _render(request, error=str(exc), form=dict(form), status=400)
    raise web.HTTPSeeOther(f"/groups#{group.room_id}")


@requires(Role.ADMIN)
async def unenroll(request: web.Request) -> web.StreamResponse:
    room_id = str((await request.post()).get("room_id", ""))
    if not await _unenroll(request, room_id):
        return await _render(request, error=f"{room_id} is not enrolled", status=404)
    raise web.HTTPSeeOther("/groups")


async def groups_api(request: web.Request) -> web.Response:
    store = request.app[GROUPS]
    groups = await blocking(store.list)
    return web.json_response({"groups": [group_json(g, store) for g in groups]})


@requires(Role.ADMIN)
async def enroll_api(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        if not isinstance(body, dict):
            raise GroupInputError("a JSON object {room_id, topic, admins, officers}")
        group = await _enroll(request, body)
    except (GroupInputError, ValueError) as exc:
        raise json_error(400, str(exc)) from exc
    return web.json_response(group_json(group, request.app[GROUPS]), status=201)


@requires(Role.ADMIN)
async def unenroll_api(request: web.Request) -> web.Response:
    room_id = request.match_info["room_id"]
    if not await _unenroll(request, room_id):
        raise json_error(404, f"{room_id} is not enrolled")
    return web.json_response({"unenrolled": room_id})


async def _enroll(request: web.Request, values: dict[str, Any]) -> Group:
    arguments = enrollment(values)
    user = current_session(request).user
    group = await blocking(request.app[GROUPS].enroll, **arguments, enrolled_by=f"console:{user}")
    detail = f"admins={','.join(group.admins)} officers={','.join(group.officers)}"
    await audit(request, "group_enroll", group.room_id, detail)
    return group


async def _unenroll(request: web.Request, room_id: str) -> bool:
    removed = await blocking(request.app[GROUPS].unenroll, room_id) if room_id else False
    if removed:
        await audit(request, "group_unenroll", room_id)
    return removed


async def _render(
    request: web.Request,
    *,
    error: str = "",
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> web.Response:
    store = request.app[GROUPS]
    groups = await blocking(store.list)
    context = {
        "groups": [(g, store.officers_of(g)) for g in groups],
        "org_officers": console(request).settings.officers,
        "error": error,
        "form": form or {},
    }
    return aiohttp_jinja2.render_template("groups.html", request, context, status=status)


def setup(app: web.Application) -> None:
    app.router.add_get("/groups", groups_page)
    app.router.add_post("/groups", enroll)
    app.router.add_post("/groups/unenroll", unenroll)
    app.router.add_get("/api/groups", groups_api)
    app.router.add_post("/api/groups", enroll_api)
    app.router.add_delete("/api/groups/{room_id:.+}", unenroll_api)
    add_nav(app, N_("Groups"), "/groups")
    document_api(
        app,
        "/api/groups",
        "get",
        {
            "summary": "Enrolled groups with their admins and officers",
            "responses": {"200": {"description": "groups"}},
        },
    )
    document_api(
        app,
        "/api/groups",
        "post",
        {
            "summary": "Enroll a group (admin); admins and officers are contact ids",
            "security": CHANGES_STATE,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["room_id"],
                            "properties": {
                                "room_id": {"type": "string"},
                                "topic": {"type": "string"},
                                "admins": {"type": "array", "items": {"type": "string"}},
                                "officers": {"type": "array", "items": {"type": "string"}},
                            },
                        }
                    }
                },
            },
            "responses": {"201": {"description": "the group"}, "400": {"description": "why"}},
        },
    )
    document_api(
        app,
        "/api/groups/{room_id}",
        "delete",
        {
            "summary": "Unenroll a group (admin): it is no longer scanned",
            "security": CHANGES_STATE,
            "parameters": [path_parameter("room_id")],
            "responses": {"200": {"description": "done"}, "404": {"description": "not enrolled"}},
        },
    )
