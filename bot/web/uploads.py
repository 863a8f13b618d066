"""Files uploaded to the console (registry documents, sandbox posts): capped, sniffed, refused
with a clear reason.

The body cap is the app's `client_max_size` (`console.max_upload_mb`); a larger upload is
answered here with a readable page (or JSON on the API) instead of aiohttp's bare 413. What a
file is comes from its content, with the scanner's own sniffing, never from its name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from aiohttp import web
from multidict import MultiDictProxy

from bot.web.auth import Handler, is_api
from bot.web.i18n import N_, gettext
from bot.web.state import console
from detectors.extract import media_kind
from detectors.extract.dispatch import LABELS
from detectors.extract.sniff import IMAGE_KINDS

DOCUMENT_KINDS = frozenset(
    {*IMAGE_KINDS, "pdf", "docx", "xlsx", "pptx", "doc", "wps", "xls", "ppt", "ofd"}
)
"""What can be registered as a controlled document: pages to fingerprint."""
SCANNABLE_KINDS = frozenset({*DOCUMENT_KINDS, "zip", "7z", "rar", "text"})
"""What the scanner reads: everything a group member could post and get scanned."""


class UploadError(ValueError):
    """An upload that is refused; the message says why, for the person who sent it."""


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str
    kind: str
    """The scanner's media kind (jpeg, pdf, docx, ...)."""

    @property
    def label(self) -> str:
        return LABELS.get(self.kind, self.kind)

    @property
    def is_image(self) -> bool:
        return self.kind in IMAGE_KINDS


def upload_limit_bytes(request: web.Request) -> int:
    """The largest file accepted: the request body cap, and never more than the scanner reads."""
    app = console(request)
    body_cap = int(app.settings.console.max_upload_mb * 1024 * 1024)
    return min(body_cap, app.scan_config.scan.limits.max_file_bytes)


def read_upload(
    request: web.Request, form: MultiDictProxy, field: str, accepted: frozenset[str]
) -> Upload:
    """The file in form field `field`, checked against the cap and the kinds `accepted`."""
    item = form.get(field)
    if not isinstance(item, web.FileField):
        raise UploadError(N_("choose a file to upload"))
    data = item.file.read()
    filename = (item.filename or "upload").replace("\\", "/").rsplit("/", 1)[-1][:200] or "upload"
    limit = upload_limit_bytes(request)
    if not data:
        raise UploadError(f"{filename} is empty")
    if len(data) > limit:
        raise UploadError(f"{filename} is larger than the {_megabytes(limit)} upload limit")
    kind = media_kind(data, filename)
    if kind not in accepted:
        found = LABELS.get(kind, "a file of unknown type")
        wanted = ", ".join(sorted({LABELS.get(k, k) for k in accepted}))
        raise UploadError(f"{filename} is {found}, judged by its content; accepted: {wanted}")
    return Upload(data, filename, kind)


def too_large_message(request: web.Request) -> str:
    return gettext("The upload is larger than the %(limit)s limit. Choose a smaller file.") % {
        "limit": _megabytes(upload_limit_bytes(request))
    }


@web.middleware
async def too_large_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp refuses an over-cap body with a bare 413 wherever the body is read first (the
    CSRF check reads forms); turn it into a page that says what to do, or JSON on the API."""
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        if not is_api(request):
            raise  # pages: the console's error page says it (bot/web/app.py)
        return web.json_response({"error": too_large_message(request)}, status=413)


def json_error(status: int, message: str) -> web.HTTPException:
    """An API error answer: `{"error": message}`."""
    kinds: dict[int, type[web.HTTPException]] = {
        400: web.HTTPBadRequest,
        404: web.HTTPNotFound,
        503: web.HTTPServiceUnavailable,
    }
    body = json.dumps({"error": message}, ensure_ascii=False)
    return kinds[status](text=body, content_type="application/json")


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.3g} MB"


def setup(app: web.Application) -> None:
    # Outside all but the language middleware, so that it also catches the 413 raised while
    # the CSRF check reads the form, and says it in the request's language.
    app.middlewares.insert(1, too_large_middleware)
