"""The registry of controlled documents in the console: upload a file to register it, the list
with a thumbnail of each document's first page, remove (admins only). Pages and JSON.

Uploads are capped and sniffed (bot/web/uploads.py); the registry reads the pages with the
scanner and refuses what it cannot read, with the reason shown on the page. The thumbnail is
the only picture of a document the console keeps (the registry keeps fingerprints, not files);
it is sealed like the evidence (`bot.sealing`), its key name bound in.
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from PIL import Image, ImageDraw

from bot import keys
from bot.registry import RegisteredDocument, Registry, RegistryError, check_doc_id
from bot.sealing import Sealer, SealError
from bot.web.auth import audit, requires
from bot.web.evidence import ARTIST, THUMBNAIL_SIZE, PageArtist, png
from bot.web.i18n import N_
from bot.web.state import (
    CHANGES_STATE,
    CONSOLE,
    add_nav,
    blocking,
    console,
    document_api,
    path_parameter,
)
from bot.web.uploads import DOCUMENT_KINDS, Upload, UploadError, json_error, read_upload
from bot.web.users import Role

REGISTRY = web.AppKey("registry", Registry)
SEALER = web.AppKey("thumbnail_sealer", Sealer)
MAX_TITLE_CHARS = 200
OUTCOME_LABELS = {
    "registered": "registered",
    "replaced": "registered, replacing the earlier file under this id",
    "updated": "already registered; title or level updated",
    "unchanged": "already registered: nothing changed",
}


def register_upload(
    registry: Registry,
    artist: PageArtist,
    sealer: Sealer,
    upload: Upload,
    fields: dict[str, str],
) -> RegisteredDocument:
    """Register an uploaded file and keep its thumbnail (blocking: OCR may run)."""
    doc_id = fields.get("doc_id", "").strip()
    document = registry.register(
        upload.data,
        upload.filename,
        doc_id=check_doc_id(doc_id) if doc_id else None,
        title=fields.get("title", "").strip()[:MAX_TITLE_CHARS] or None,
        level=fields.get("level", "").strip()[:MAX_TITLE_CHARS] or None,
        scanner=artist.registration_scanner(),
    )
    thumbnail = artist.thumbnail(upload.data, upload.filename)
    if thumbnail is not None:
        key = keys.CONSOLE_THUMBNAIL + document.doc_id
        registry.client.set(key, sealer.seal(thumbnail, key.encode()))
    return document


def stored_thumbnail(registry: Registry, sealer: Sealer, doc_id: str) -> bytes | None:
    """A document's thumbnail; None when there is none or it was sealed with another key."""
    key = keys.CONSOLE_THUMBNAIL + doc_id
    stored = registry.client.get(key)
    if not isinstance(stored, bytes):
        return None
    try:
        return sealer.open(stored, key.encode())
    except SealError:
        return None


def remove_document(registry: Registry, doc_id: str) -> bool:
    return registry.remove(doc_id)  # the thumbnail with every other trace


async def registry_page(request: web.Request) -> web.Response:
    registered = request.query.get("registered", "")
    outcome = OUTCOME_LABELS.get(request.query.get("outcome", ""), "")
    document = await blocking(request.app[REGISTRY].get, registered) if registered else None
    notice = f"「{document.title}」 ({document.doc_id}): {outcome}" if document and outcome else ""
    return await _render(request, notice=notice)


async def register(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        document = await _register(request, form)
    except (UploadError, RegistryError, ValueError) as exc:
        return await _render(request, error=str(exc), status=400)
    query = {"registered": document.doc_id, "outcome": document.outcome}
    raise web.HTTPSeeOther(request.app.router["registry"].url_for().with_query(query))


@requires(Role.ADMIN)
async def remove(request: web.Request) -> web.StreamResponse:
    doc_id = str((await request.post()).get("doc_id", ""))
    if not await _remove(request, doc_id):
        return await _render(request, error=f"no registered document {doc_id}", status=404)
    raise web.HTTPSeeOther("/registry")


async def thumbnail(request: web.Request) -> web.Response:
    doc_id = request.query.get("doc", "")
    stored = await blocking(stored_thumbnail, request.app[REGISTRY], request.app[SEALER], doc_id)
    body = stored if stored is not None else _NO_PREVIEW
    return web.Response(body=body, content_type="image/png")


async def registry_api(request: web.Request) -> web.Response:
    documents = await blocking(request.app[REGISTRY].list)
    return web.json_response({"documents": [d.to_json() for d in reversed(documents)]})


async def register_api(request: web.Request) -> web.Response:
    try:
        form = await request.post()
        document = await _register(request, form)
    except (UploadError, RegistryError, ValueError) as exc:
        raise json_error(400, str(exc)) from exc
    return web.json_response(document.to_json(), status=201)


@requires(Role.ADMIN)
async def remove_api(request: web.Request) -> web.Response:
    doc_id = request.match_info["doc_id"]
    if not await _remove(request, doc_id):
        raise json_error(404, f"no registered document {doc_id}")
    return web.json_response({"removed": doc_id})


async def _register(request: web.Request, form: Any) -> RegisteredDocument:
    upload = read_upload(request, form, "file", DOCUMENT_KINDS)
    fields = {k: str(form.get(k, "")) for k in ("doc_id", "title", "level")}
    artist = request.app[ARTIST]
    document = await artist.run(
        register_upload, request.app[REGISTRY], artist, request.app[SEALER], upload, fields
    )
    detail = f"{upload.filename}, {document.pages} page(s), {document.outcome}"
    await audit(request, "registry_add", document.doc_id, detail)
    return document


async def _remove(request: web.Request, doc_id: str) -> bool:
    removed = bool(doc_id) and await blocking(remove_document, request.app[REGISTRY], doc_id)
    if removed:
        await audit(request, "registry_remove", doc_id)
    return removed


async def _render(
    request: web.Request, *, error: str = "", notice: str = "", status: int = 200
) -> web.Response:
    documents = await blocking(request.app[REGISTRY].list)
    limit_mb = console(request).settings.console.max_upload_mb
    context = {
        "documents": list(reversed(documents)),  # newest first
        "error": error,
        "notice": notice,
        "limit_mb": f"{limit_mb:g}",
        "limit_bytes": int(limit_mb * 1024 * 1024),
    }
    return aiohttp_jinja2.render_template("registry.html", request, context, status=status)


def _placeholder() -> bytes:
    image = Image.new("RGB", THUMBNAIL_SIZE, (238, 240, 243))
    draw = ImageDraw.Draw(image)
    w, h = THUMBNAIL_SIZE
    draw.rectangle((w // 4, h // 5, 3 * w // 4, 4 * h // 5), outline=(180, 186, 196), width=3)
    for row in range(5):
        y = h // 5 + 20 + row * 18
        draw.line((w // 4 + 14, y, 3 * w // 4 - 14, y), fill=(200, 205, 212), width=3)
    return png(image)


_NO_PREVIEW = _placeholder()


def setup(app: web.Application) -> None:
    services = app[CONSOLE]
    app[REGISTRY] = Registry(services.client, services.scan_config)
    app[SEALER] = Sealer.from_environment()
    app.router.add_get("/registry", registry_page, name="registry")
    app.router.add_post("/registry", register)
    app.router.add_post("/registry/remove", remove)
    app.router.add_get("/registry/thumbnail", thumbnail)
    app.router.add_get("/api/registry", registry_api)
    app.router.add_post("/api/registry", register_api)
    app.router.add_delete("/api/registry/{doc_id:.+}", remove_api)
    add_nav(app, N_("Registry"), "/registry")
    document_api(
        app,
        "/api/registry",
        "get",
        {
            "summary": "Registered controlled documents, newest first",
            "responses": {"200": {"description": "documents"}},
        },
    )
    document_api(
        app,
        "/api/registry",
        "post",
        {
            "summary": "Register a document (PDF, image, Office, WPS, OFD) by upload",
            "security": CHANGES_STATE,
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {
                                "file": {"type": "string", "format": "binary"},
                                "doc_id": {"type": "string"},
                                "title": {"type": "string"},
                                "level": {"type": "string", "description": "e.g. 机密"},
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": {"description": "the registered document and the outcome"},
                "400": {"description": "why it was refused"},
                "413": {"description": "larger than console.max_upload_mb"},
            },
        },
    )
    document_api(
        app,
        "/api/registry/{doc_id}",
        "delete",
        {
            "summary": "Remove a registered document (admin)",
            "security": CHANGES_STATE,
            "parameters": [path_parameter("doc_id")],
            "responses": {"200": {"description": "removed"}, "404": {"description": "unknown"}},
        },
    )
