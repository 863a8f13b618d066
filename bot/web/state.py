"""What every console handler reaches through `request.app[CONSOLE]`, and the page plug-in API.

A page module adds itself with a `setup(app)` function: it adds its routes, its entry in the
navigation (`add_nav`) and its API paths to the OpenAPI document (`document_api`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import redis
from aiohttp import web

from bot.settings import BotSettings
from bot.templates import Templates
from bot.web.audit import AuditLog
from bot.web.ratelimit import LoginLimiter
from bot.web.sessions import SessionStore
from bot.web.users import Role, UserStore
from detectors import ScanConfig

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class Console:
    """The console's services; one per app."""

    client: redis.Redis
    scan_config: ScanConfig
    settings: BotSettings
    users: UserStore
    sessions: SessionStore
    audit: AuditLog
    login_limiter: LoginLimiter
    templates: Templates
    """The chat's texts and clock: the console shows times in the same zone as the alerts."""
    # Argon2 takes ~100 ms of CPU and 64 MiB: a burst of sign-ins waits here, not in RAM.
    password_checks: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))


@dataclass(frozen=True)
class NavItem:
    label: str
    path: str
    role: Role


CONSOLE = web.AppKey("console", Console)
NAV = web.AppKey("nav", list[NavItem])
OPENAPI_PATHS = web.AppKey("openapi_paths", dict[str, dict[str, Any]])

PageSetup = Callable[[web.Application], None]


def console(request: web.Request) -> Console:
    return request.app[CONSOLE]


async def blocking(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a blocking call (a Redis store, a password hash) without stalling the event loop."""
    return await asyncio.to_thread(function, *args, **kwargs)


def add_nav(app: web.Application, label: str, path: str, role: Role = Role.OFFICER) -> None:
    """A link in the top navigation, shown to users whose role allows `role`."""
    app[NAV].append(NavItem(label, path, role))


def document_api(app: web.Application, path: str, method: str, operation: dict[str, Any]) -> None:
    """An operation in the OpenAPI document served at /api/openapi.json."""
    app[OPENAPI_PATHS].setdefault(path, {})[method.lower()] = operation


CHANGES_STATE: list[dict[str, list[str]]] = [{"session": [], "csrf": []}]
"""The OpenAPI `security` of an operation that changes state: a session and its CSRF token."""


def path_parameter(name: str) -> dict[str, Any]:
    """An OpenAPI string parameter taken from the path (`/api/things/{name}`)."""
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def query_parameter(name: str, description: str, kind: str = "string") -> dict[str, Any]:
    """An optional OpenAPI parameter from the query string."""
    return {"name": name, "in": "query", "schema": {"type": kind}, "description": description}
