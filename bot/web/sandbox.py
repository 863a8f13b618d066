"""Try leaksentry without WeChat: the sandbox chat's demo group, in the console.

Someone posts text, an image or a file as a member of the demo group; it goes through the same
pipeline as a WeChat message (intake, queue, workers, incidents, outbox and its rate limiter),
and the page shows the member warning arriving in the group and the alerts arriving in the
officer's and the admins' direct chats (a small script polls /api/sandbox/messages).
Only `leaksentry run` without a puppet-service token has it: it needs the connector object.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from bot.connectors.base import MessageKind
from bot.connectors.sandbox import (
    DEMO_ADMIN,
    DEMO_MEMBER,
    DEMO_OFFICER,
    DEMO_OWNER,
    DEMO_ROOM,
    DEMO_TOPIC,
    ChatLine,
    SandboxConnector,
)
from bot.groups import Groups
from bot.settings import BotSettings
from bot.templates import Templates
from bot.web.auth import audit
from bot.web.i18n import N_
from bot.web.incidents import GROUPS
from bot.web.state import CHANGES_STATE, CONSOLE, PageSetup, add_nav, blocking, document_api
from bot.web.uploads import (
    SCANNABLE_KINDS,
    UploadError,
    json_error,
    read_upload,
    upload_limit_bytes,
)

SANDBOX = web.AppKey("sandbox", SandboxConnector)
MAX_TEXT_CHARS = 4000
PEOPLE = {
    DEMO_MEMBER: "member",
    DEMO_ADMIN: "group admin",
    DEMO_OWNER: "group owner",
    DEMO_OFFICER: "security officer",
}
"""Who can post in the demo group, and whose direct chat with the bot the page shows."""
RECIPIENTS = (DEMO_OFFICER, DEMO_OWNER, DEMO_ADMIN)
ENROLLED_BY = "sandbox"


def enroll_demo_group(client: Any, settings: BotSettings) -> None:
    """Enroll the demo group (once: a later unenroll from the console sticks until restart),
    with the demo officer as its security officer so that alerts stay in the sandbox."""
    groups = Groups(client, settings)
    if not groups.is_enrolled(DEMO_ROOM):
        groups.enroll(
            DEMO_ROOM,
            topic=DEMO_TOPIC,
            admins=(DEMO_OWNER, DEMO_ADMIN),
            officers=(DEMO_OFFICER,),
            enrolled_by=ENROLLED_BY,
        )


def line_json(sandbox: SandboxConnector, line: ChatLine, clock: Templates) -> dict[str, Any]:
    return {
        "sender_id": line.sender_id,
        "sender_name": line.sender_name,
        "text": line.text,
        "kind": line.kind.value,
        "mentions": [sandbox.name_of(m) for m in line.mention_ids],
        "from_bot": line.from_bot,
        "at": line.at,
        "when": clock.time(line.at),  # the configured zone, as in the alerts
    }


def messages_json(sandbox: SandboxConnector, clock: Templates) -> dict[str, Any]:
    return {
        "group": {
            "room_id": DEMO_ROOM,
            "topic": DEMO_TOPIC,
            "lines": [line_json(sandbox, line, clock) for line in sandbox.transcript(DEMO_ROOM)],
        },
        "direct": [
            {
                "contact_id": contact,
                "name": sandbox.name_of(contact),
                "role": PEOPLE[contact],
                "lines": [
                    line_json(sandbox, line, clock) for line in sandbox.direct_messages(contact)
                ],
            }
            for contact in RECIPIENTS
        ],
    }


async def sandbox_page(request: web.Request) -> web.Response:
    return await _render(request)


async def post_in_group(request: web.Request) -> web.StreamResponse:
    return await _submit(request, _post)


async def write_to_bot(request: web.Request) -> web.StreamResponse:
    return await _submit(request, _direct)


async def _submit(
    request: web.Request, action: Callable[[web.Request, Any], Awaitable[None]]
) -> web.StreamResponse:
    """The page's forms: act on the form, then back to the page, or the page with the reason."""
    form = await request.post()
    try:
        await action(request, form)
    except UploadError as exc:
        return await _render(request, error=str(exc), status=400)
    raise web.HTTPSeeOther("/sandbox")


async def messages_api(request: web.Request) -> web.Response:
    return web.json_response(messages_json(request.app[SANDBOX], request.app[CONSOLE].templates))


async def post_api(request: web.Request) -> web.Response:
    try:
        await _post(request, await request.post())
    except UploadError as exc:
        raise json_error(400, str(exc)) from exc
    return web.json_response(
        messages_json(request.app[SANDBOX], request.app[CONSOLE].templates), status=201
    )


async def _post(request: web.Request, form: Any) -> None:
    sandbox = request.app[SANDBOX]
    sender = _person(str(form.get("sender", DEMO_MEMBER)))
    text = str(form.get("text", "")).strip()
    if len(text) > MAX_TEXT_CHARS:
        raise UploadError(f"a message has at most {MAX_TEXT_CHARS} characters")
    has_file = isinstance(form.get("file"), web.FileField) and form["file"].filename
    if not text and not has_file:
        raise UploadError(N_("write a message or choose an image or a file"))
    if has_file:
        upload = read_upload(request, form, "file", SCANNABLE_KINDS)
        kind = MessageKind.IMAGE if upload.is_image else MessageKind.FILE
        await sandbox.post(sender, kind, data=upload.data, filename=upload.filename)
        await audit(request, "sandbox_post", DEMO_ROOM, f"{upload.label}: {upload.filename}")
    if text:
        await sandbox.post(sender, MessageKind.TEXT, text=text)
        await audit(request, "sandbox_post", DEMO_ROOM, "text")


async def _direct(request: web.Request, form: Any) -> None:
    sender = _person(str(form.get("sender", DEMO_OFFICER)))
    text = str(form.get("text", "")).strip()
    if not text or len(text) > MAX_TEXT_CHARS:
        raise UploadError(f"write a message of 1 to {MAX_TEXT_CHARS} characters")
    await request.app[SANDBOX].direct(sender, text)
    await audit(request, "sandbox_direct", sender, text[:80])


def _person(contact_id: str) -> str:
    if contact_id not in PEOPLE:
        raise UploadError(N_("post as one of the demo group's people"))
    return contact_id


async def _render(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    sandbox = request.app[SANDBOX]
    enrolled = await blocking(request.app[GROUPS].is_enrolled, DEMO_ROOM)
    context = {
        "messages": messages_json(sandbox, request.app[CONSOLE].templates),
        "people": [(c, sandbox.name_of(c), role) for c, role in PEOPLE.items()],
        "member": DEMO_MEMBER,
        "officer": DEMO_OFFICER,
        "enrolled": enrolled,
        "error": error,
        "limit_bytes": upload_limit_bytes(request),
    }
    return aiohttp_jinja2.render_template("sandbox.html", request, context, status=status)


def sandbox_pages(connector: SandboxConnector) -> PageSetup:
    """The sandbox page for a console running beside the bot on `connector`."""

    def setup(app: web.Application) -> None:
        app[SANDBOX] = connector
        app.router.add_get("/sandbox", sandbox_page)
        app.router.add_post("/sandbox/post", post_in_group)
        app.router.add_post("/sandbox/direct", write_to_bot)
        app.router.add_get("/api/sandbox/messages", messages_api)
        app.router.add_post("/api/sandbox/messages", post_api)
        add_nav(app, N_("Sandbox"), "/sandbox")
        document_api(
            app,
            "/api/sandbox/messages",
            "get",
            {
                "summary": "The sandbox demo group and the bot's direct chats with its "
                "officer and admins (only with `leaksentry run` without WeChat)",
                "responses": {"200": {"description": "the chats"}},
            },
        )
        document_api(
            app,
            "/api/sandbox/messages",
            "post",
            {
                "summary": "Post in the demo group as one of its people: text and/or a file",
                "security": CHANGES_STATE,
                "requestBody": {
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "sender": {"type": "string", "enum": list(PEOPLE)},
                                    "text": {"type": "string"},
                                    "file": {"type": "string", "format": "binary"},
                                },
                            }
                        }
                    }
                },
                "responses": {"201": {"description": "the chats after posting"}},
            },
        )

    return setup
