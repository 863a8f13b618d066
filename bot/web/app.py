"""The console's aiohttp application: wiring, security headers, the session and OpenAPI API.

Pages plug in through `PAGES` (modules with `setup(app)`, part of every console) or through
`create_app(..., pages=[...])` for parts that need objects only the caller has (the sandbox
connector of `leaksentry run`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
import redis
from aiohttp import web

from bot.settings import BotSettings
from bot.templates import load_templates
from bot.web import admin, dashboard, groups, health, i18n, incidents, registry_pages, uploads
from bot.web.audit import AuditLog
from bot.web.auth import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION,
    SESSION_COOKIE,
    Handler,
    add_routes,
    auth_middleware,
    csrf_middleware,
    current_session,
    is_api,
    is_https,
    public,
    safe_next,
)
from bot.web.ratelimit import Backoff, LoginLimiter, LoginLimits
from bot.web.sessions import SessionStore
from bot.web.state import CONSOLE, NAV, OPENAPI_PATHS, Console, PageSetup, blocking, document_api
from bot.web.users import UserStore
from detectors import ScanConfig

HERE = Path(__file__).parent
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600
PAGES: tuple[PageSetup, ...] = (
    dashboard.setup,
    incidents.setup,  # the stores it adds serve the dashboard and the groups page too
    registry_pages.setup,
    groups.setup,
    admin.setup,
    health.setup,
    uploads.setup,
)

# No inline script or style anywhere: a page that got some HTML injected still runs none of it.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def create_app(
    client: redis.Redis,
    scan_config: ScanConfig,
    bot_settings: BotSettings,
    *,
    pages: Sequence[PageSetup] = (),
) -> web.Application:
    """The console. `client` is the shared Redis; `pages` add routes beyond the built-in ones."""
    settings = bot_settings.console
    users = UserStore(client)
    templates = load_templates(bot_settings.source_dir or None)
    app = web.Application(
        middlewares=[
            i18n.language_middleware(settings.language, settings.browser_language),
            error_pages,
            auth_middleware,
            user_language,
            csrf_middleware,
        ],
        client_max_size=int(settings.max_upload_mb * 1024 * 1024),
    )
    app[CONSOLE] = Console(
        client=client,
        scan_config=scan_config,
        settings=bot_settings,
        users=users,
        sessions=SessionStore(
            client,
            users,
            idle_seconds=settings.session_idle_minutes * 60,
            max_seconds=settings.session_max_hours * 3600,
        ),
        audit=AuditLog(client, bot_settings.audit),
        login_limiter=LoginLimiter(
            client,
            LoginLimits(
                per_ip=Backoff(
                    settings.login_free_failures,
                    settings.login_first_delay_seconds,
                    settings.login_max_delay_per_ip_seconds,
                ),
                per_user=Backoff(
                    settings.login_free_failures,
                    settings.login_first_delay_seconds,
                    settings.login_max_delay_per_user_seconds,
                ),
                forget_seconds=settings.login_forget_minutes * 60,
                known_address_seconds=settings.login_known_address_days * 86400,
            ),
        ),
        templates=templates,
    )
    app[NAV] = []
    app[OPENAPI_PATHS] = {}
    environment = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        context_processors=[_page_context],
        filters={"when": templates.time},
    )
    i18n.load_catalogs()  # compiled now: a broken catalog stops the start, not a page
    i18n.install(environment)
    app.on_response_prepare.append(_security_headers)
    add_routes(app)
    app.router.add_static("/static", HERE / "static", name="static")
    app.router.add_get("/language", choose_language)
    app.router.add_get("/api/session", session_api)
    app.router.add_get("/api/openapi.json", openapi_document)
    document_api(
        app,
        "/api/session",
        "get",
        {
            "summary": "The signed-in user, role and the CSRF token for X-CSRF-Token",
            "responses": {"200": {"description": "the session"}},
        },
    )
    for setup in (*PAGES, *pages):
        setup(app)
    return app


async def start_console(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve `app` inside a running event loop (`leaksentry run`); `await runner.cleanup()`."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


@public
async def choose_language(request: web.Request) -> web.StreamResponse:
    """`/language?lang=en&next=/incidents`: the language for this browser (a cookie, so that
    the sign-in page has it too) and, when signed in, the user's own setting."""
    language = request.query.get("lang", "")
    if language not in i18n.LANGUAGES:
        raise web.HTTPBadRequest(text=i18n.N_("no such language"))
    session = request.get(SESSION)
    if session is not None:
        await blocking(request.app[CONSOLE].users.set_language, session.user, language)
    response = web.HTTPSeeOther(safe_next(request))
    response.set_cookie(
        i18n.LANGUAGE_COOKIE,
        language,
        path="/",
        max_age=LANGUAGE_COOKIE_SECONDS,
        samesite="Lax",
        secure=is_https(request),
    )
    raise response


async def session_api(request: web.Request) -> web.Response:
    session = current_session(request)
    return web.json_response(
        {"user": session.user, "role": session.role.value, "csrf_token": session.csrf_token}
    )


async def openapi_document(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "openapi": "3.1.0",
            "info": {"title": "leaksentry console API", "version": "1"},
            "components": {
                "securitySchemes": {
                    "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
                    "csrf": {"type": "apiKey", "in": "header", "name": CSRF_HEADER},
                }
            },
            "security": [{"session": []}],
            "paths": dict(sorted(request.app[OPENAPI_PATHS].items())),
        }
    )


@web.middleware
async def user_language(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The signed-in user's own language, over the browser's."""
    session = request.get(SESSION)
    if session is not None:
        i18n.use_language(await blocking(request.app[CONSOLE].users.language, session.user))
    return await handler(request)


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A page's 4xx and 5xx answers in the console's layout and language; the API's and the
    static files' stay as they are."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or is_api(request) or request.path.startswith("/static/"):
            raise
        if exc.content_type not in ("text/plain", "text/html"):
            raise
        return await _error_page(request, exc)


ERROR_TITLES = {
    400: i18n.N_("The request cannot be used"),
    401: i18n.N_("Please sign in"),
    403: i18n.N_("Not allowed"),
    404: i18n.N_("Not found"),
    405: i18n.N_("Not allowed"),
    413: i18n.N_("Upload too large"),
    429: i18n.N_("Too many requests"),
}
ERROR_FALLBACK = i18n.N_("Something went wrong")


async def _error_page(request: web.Request, exc: web.HTTPException) -> web.Response:
    default_text = f"{exc.status}: {exc.reason}"
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        detail = uploads.too_large_message(request)
    elif exc.text in (None, default_text):
        detail = ""
    else:
        detail = i18n.gettext(str(exc.text))
    title = ERROR_TITLES.get(exc.status, ERROR_FALLBACK)
    # The page's context is built here: the exception may come from before the context
    # processors ran (a role check, the CSRF check).
    context = {
        **await _page_context(request),
        "title": i18n.gettext(title),
        "message": detail,
        "back": "/",
        "code": exc.status,
    }
    response = aiohttp_jinja2.render_template("error.html", request, context, status=exc.status)
    for name in ("Retry-After", "Allow"):
        if name in exc.headers:
            response.headers[name] = exc.headers[name]
    return response


async def _page_context(request: web.Request) -> dict[str, Any]:
    session = request.get(SESSION)
    nav = [item for item in request.app[NAV] if session and session.role.allows(item.role)]
    return {
        "session": session,
        "csrf_field": CSRF_FIELD,
        "csrf_token": session.csrf_token if session else "",
        "nav": nav,
        "path": request.path,
        "path_qs": request.path_qs,
        "language": i18n.current_language(),
        "html_lang": i18n.HTML_LANG[i18n.current_language()],
    }


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)
    response.headers["Server"] = "leaksentry"  # no versions of Python or aiohttp to look up
    if is_https(request):
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    if not request.path.startswith("/static/"):
        # Pages hold evidence of leaks: no copy in a browser cache or a proxy.
        response.headers["Cache-Control"] = "no-store"
