"""Who may see what: sessions on requests, role checks, sign-in and sign-out.

Every route needs a signed-in officer unless its handler says otherwise: `@public` (the sign-in
form, /healthz) or `@requires(Role.ADMIN)`. A route the router does not know needs a session
too, so that a stranger cannot probe which paths exist. Without a session a page answers 302
to /login and an API path 401 JSON; with too small a role, 403.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import unicodedata
from collections.abc import Awaitable, Callable
from urllib.parse import unquote, urlencode

import aiohttp_jinja2
from aiohttp import web

from bot.web.i18n import N_, gettext, ngettext
from bot.web.sessions import Session
from bot.web.state import blocking, console
from bot.web.users import Role

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SESSION_COOKIE = "ls_session"
LOGIN_COOKIE = "ls_login"  # the sign-in form's CSRF token (double submit: no session yet)
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION = web.RequestKey("session", Session)
_LOGIN_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # what secrets.token_urlsafe(32) gives

_ACCESS = "_console_access"  # handler attribute: None for public, else the Role needed


def public(handler: Handler) -> Handler:
    """Anyone may call this route; it must check CSRF itself if it changes state."""
    setattr(handler, _ACCESS, None)
    return handler


def requires(role: Role) -> Callable[[Handler], Handler]:
    """Only users whose role allows `role` may call this route."""

    def mark(handler: Handler) -> Handler:
        setattr(handler, _ACCESS, role)
        return handler

    return mark


def current_session(request: web.Request) -> Session:
    """The signed-in user's session (always there in a non-public handler)."""
    return request[SESSION]


def require_role(request: web.Request, role: Role) -> Session:
    """For a check inside a handler (say, POST needs admin where GET needs officer)."""
    session = request.get(SESSION)
    if session is None:
        raise _unauthenticated(request)
    if not session.role.allows(role):
        raise _forbidden(request)
    return session


def is_api(request: web.Request) -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def is_https(request: web.Request) -> bool:
    """TLS to us, or to a trusted proxy in front of us."""
    if request.secure:
        return True
    if not console(request).settings.console.trusted_proxy:
        return False
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return proto == "https"


def client_ip(request: web.Request) -> str:
    """The peer address, or behind a trusted proxy the address it saw (the last one it added)."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    if console(request).settings.console.trusted_proxy and forwarded.strip():
        return forwarded.split(",")[-1].strip()[:64]
    return request.remote or ""


def actor(request: web.Request) -> str:
    session = request.get(SESSION)
    return session.user if session else ""


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    access = _access(request)
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if cookie:  # public routes too: the sign-in page and /metrics look at it
        session = await blocking(console(request).sessions.load, cookie)
        if session is not None:
            request[SESSION] = session
    if access is not None:
        require_role(request, access)
    return await handler(request)


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every state-changing request of a session carries that session's CSRF token."""
    session = request.get(SESSION)
    safe = request.method in ("GET", "HEAD", "OPTIONS")
    if safe or session is None or _access(request) is None:
        return await handler(request)
    given = request.headers.get(CSRF_HEADER, "")
    if not given and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        given = str((await request.post()).get(CSRF_FIELD, ""))
    if not _same(given, session.csrf_token):
        raise _error(request, 403, N_("missing or wrong CSRF token; reload the page and try again"))
    return await handler(request)


def set_session_cookie(request: web.Request, response: web.StreamResponse, value: str) -> None:
    # No Max-Age: the browser forgets it when closed; the server ends it earlier when idle.
    response.set_cookie(
        SESSION_COOKIE, value, path="/", httponly=True, samesite="Lax", secure=is_https(request)
    )


async def login_form(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    """The sign-in page, with the form token in a Strict cookie and in the form.

    The token of an earlier sign-in page is kept: a second tab, or the browser's own request for
    /favicon.ico that lands here, must not spoil the form already on screen.
    """
    kept = request.cookies.get(LOGIN_COOKIE, "")
    token = kept if _LOGIN_TOKEN.match(kept) else secrets.token_urlsafe(32)
    context = {"error": error, "login_token": token, "next": safe_next(request)}
    response = aiohttp_jinja2.render_template("login.html", request, context, status=status)
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        path="/login",
        max_age=3600,
        httponly=True,
        samesite="Strict",
        secure=is_https(request),
    )
    return response


@public
async def login_page(request: web.Request) -> web.StreamResponse:
    if SESSION in request:
        raise web.HTTPFound(safe_next(request))
    return await login_form(request)


@public
async def login_submit(request: web.Request) -> web.StreamResponse:
    app = console(request)
    form = await request.post()
    if not _same(str(form.get(CSRF_FIELD, "")), request.cookies.get(LOGIN_COOKIE, "")):
        return await login_form(
            request, error=gettext("The form expired. Please sign in again."), status=403
        )
    name = str(form.get("username", ""))[:256]
    password = str(form.get("password", ""))
    ip = client_ip(request)
    wait = await blocking(app.login_limiter.blocked_for, name, ip)
    if wait > 0:
        await blocking(app.audit.record_sampled, name, "login_blocked", "console", ip=ip)
        message = ngettext(
            "Too many failed sign-ins for this user or from this address. "
            "Try again in %(num)s second.",
            "Too many failed sign-ins for this user or from this address. "
            "Try again in %(num)s seconds.",
            wait,
        ) % {"num": wait}
        response = await login_form(request, error=message, status=429)
        response.headers["Retry-After"] = str(wait)
        return response
    async with app.password_checks:
        user = await blocking(app.users.authenticate, name, password)
    if user is None:
        await blocking(app.login_limiter.record_failure, name, ip)
        await blocking(app.audit.record_sampled, name, "login_failed", "console", ip=ip)
        return await login_form(request, error=gettext("Wrong user name or password."), status=401)
    await blocking(app.login_limiter.record_success, user.name, ip)
    # A new id at every sign-in: an id planted before sign-in is worth nothing after it.
    old = request.cookies.get(SESSION_COOKIE, "")
    if old:
        await blocking(app.sessions.end, old)
    cookie, _ = await blocking(app.sessions.create, user.name, user.uid, user.role, ip)
    await blocking(app.audit.record, user.name, "login", "console", ip=ip)
    response = web.HTTPSeeOther(safe_next(request, str(form.get("next", ""))))
    set_session_cookie(request, response, cookie)
    response.del_cookie(LOGIN_COOKIE, path="/login")
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    app = console(request)
    session = current_session(request)
    await blocking(app.sessions.end, request.cookies.get(SESSION_COOKIE, ""))
    await blocking(app.audit.record, session.user, "logout", "console", ip=client_ip(request))
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


def safe_next(request: web.Request, given: str | None = None) -> str:
    """Where to go after sign-in: a path on this site only, else the console's home."""
    target = request.query.get("next", "") if given is None else given
    return target if is_local_path(target) else "/"


def is_local_path(target: str) -> bool:
    """A path that starts with one `/` and stays on this site, also as a browser reads it.

    Browsers drop tabs and newlines from URLs and treat `\\` like `/`, so `/\\host` and
    `/%09/host` (as `/\t/host`) would become `//host`, another site; the decoded form is checked
    too, for a target that is decoded once more on its way.
    """
    decoded = unquote(target)
    return all(
        candidate.startswith("/")
        and not candidate.startswith("//")
        and "\\" not in candidate
        and not any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in candidate)
        for candidate in (target, decoded)
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout)


def _access(request: web.Request) -> Role | None:
    """The role a route needs; None when it is public."""
    match = request.match_info
    if match.http_exception is None and isinstance(match.route.resource, web.StaticResource):
        return None
    access: Role | None = getattr(match.handler, _ACCESS, Role.OFFICER)
    return access


def _unauthenticated(request: web.Request) -> web.HTTPException:
    if is_api(request):
        return _error(request, 401, "sign in first")
    query = urlencode({"next": request.path_qs}) if request.method == "GET" else ""
    return web.HTTPFound("/login" + (f"?{query}" if query else ""))


def _forbidden(request: web.Request) -> web.HTTPException:
    return _error(request, 403, N_("your role does not allow this"))


def _error(request: web.Request, status: int, message: str) -> web.HTTPException:
    kind = {401: web.HTTPUnauthorized, 403: web.HTTPForbidden}[status]
    if is_api(request):
        return kind(text=json.dumps({"error": message}), content_type="application/json")
    return kind(text=message)


def _same(given: str, expected: str) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


async def audit(request: web.Request, action: str, target: str, detail: str = "") -> None:
    """Record in the audit log what the signed-in user did (`view` for sensitive pages)."""
    await blocking(
        console(request).audit.record,
        actor(request),
        action,
        target,
        ip=client_ip(request),
        detail=detail,
    )
