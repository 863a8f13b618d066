"""The dashboard: what the service is doing now. Incident charts join it with bot/incidents.py."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp_jinja2
import redis
from aiohttp import web

from bot.metrics import ALERTS_SENT, SCANS, counts, queue_depth
from bot.web.state import add_nav, blocking, console, document_api


@dataclass(frozen=True)
class Overview:
    scans_by_verdict: dict[str, int]
    alerts_by_channel: dict[str, int]
    queue_depth: int
    dead_letters: int

    def to_json(self) -> dict[str, object]:
        return {
            "scans_by_verdict": self.scans_by_verdict,
            "alerts_by_channel": self.alerts_by_channel,
            "queue_depth": self.queue_depth,
            "dead_letters": self.dead_letters,
        }


def overview(client: redis.Redis) -> Overview:
    depth, dead = queue_depth(client)
    return Overview(counts(client, SCANS), counts(client, ALERTS_SENT), depth, dead)


async def dashboard(request: web.Request) -> web.Response:
    now = await blocking(overview, console(request).client)
    return aiohttp_jinja2.render_template("dashboard.html", request, {"overview": now})


async def overview_api(request: web.Request) -> web.Response:
    now = await blocking(overview, console(request).client)
    return web.json_response(now.to_json())


def setup(app: web.Application) -> None:
    app.router.add_get("/", dashboard)
    app.router.add_get("/api/overview", overview_api)
    add_nav(app, "Dashboard", "/")
    document_api(
        app,
        "/api/overview",
        "get",
        {
            "summary": "Scans by verdict, alerts sent by channel, queue depth, dead letters",
            "responses": {"200": {"description": "the overview"}},
        },
    )
