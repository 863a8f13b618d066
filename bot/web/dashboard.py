"""The dashboard: what the service is doing now, incidents per day by verdict (a chart drawn
on the server as SVG: no script, no CDN) and the groups with most incidents."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

import aiohttp_jinja2
import redis
from aiohttp import web

from bot.incidents import OPEN, Incident, Incidents
from bot.metrics import ALERTS_SENT, SCANS, counts, queue_depth
from bot.templates import Templates
from bot.web.i18n import N_, name_of
from bot.web.incidents import INCIDENTS, VERDICTS
from bot.web.state import CONSOLE, add_nav, blocking, console, document_api

CHART_DAYS = 14
TOP_GROUPS = 5
MAX_CHARTED = 10_000  # incidents read for the chart; beyond that the busiest days are capped
CHART_WIDTH, CHART_HEIGHT, CHART_LEFT, CHART_BOTTOM = 720, 220, 36, 24


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


@dataclass(frozen=True)
class DayCount:
    day: date
    by_verdict: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_verdict.values())


@dataclass(frozen=True)
class GroupCount:
    room_id: str
    topic: str
    incidents: int


@dataclass(frozen=True)
class GroupView:
    """One group on the dashboard: incidents still open, and opened in the charted days."""

    room_id: str
    topic: str
    open: int
    recent: int


@dataclass(frozen=True)
class IncidentStats:
    days: list[DayCount]
    top_groups: list[GroupCount]
    open_total: int
    groups: list[GroupView]

    def to_json(self) -> dict[str, object]:
        return {
            "days": [{"day": d.day.isoformat(), **d.by_verdict} for d in self.days],
            "top_groups": [g.__dict__ for g in self.top_groups],
            "open": self.open_total,
            "groups": [g.__dict__ for g in self.groups],
        }


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    verdict: str
    label: str


def incident_stats(store: Incidents, clock: Templates, today: date | None = None) -> IncidentStats:
    """Incidents opened in the last `CHART_DAYS` days (days of the configured time zone), by
    day and verdict, and the groups where most of them were first seen."""
    last = today or clock.today()
    first = last - timedelta(days=CHART_DAYS - 1)
    since = clock.day_start(first)
    found = store.list(since=since, limit=MAX_CHARTED)
    per_day: dict[date, Counter[str]] = {
        first + timedelta(days=i): Counter() for i in range(CHART_DAYS)
    }
    for incident in found:
        day = clock.local(incident.opened_at).date()
        if day in per_day:
            per_day[day][incident.verdict] += 1
    days = [DayCount(d, {v: c[v] for v in VERDICTS}) for d, c in per_day.items()]
    still_open = store.list(status=OPEN, limit=MAX_CHARTED)
    return IncidentStats(days, _top_groups(found), len(still_open), _group_views(still_open, found))


def _group_views(still_open: list[Incident], recent: list[Incident]) -> list[GroupView]:
    """Every group with an open or a recent incident, most open first."""
    open_in = Counter(i.room_id for i in still_open)
    recent_in = Counter(i.room_id for i in recent)
    topics = {i.room_id: i.room_topic for i in (*recent, *still_open)}
    views = [GroupView(r, topics[r], open_in[r], recent_in[r]) for r in topics]
    return sorted(views, key=lambda g: (-g.open, -g.recent, g.topic or g.room_id))


def _top_groups(found: list[Incident]) -> list[GroupCount]:
    tally = Counter(i.room_id for i in found)
    topics = {i.room_id: i.room_topic for i in found}
    return [GroupCount(r, topics[r], n) for r, n in tally.most_common(TOP_GROUPS)]


def chart_bars(days: list[DayCount]) -> tuple[list[Bar], int]:
    """Stacked bars (most severe at the bottom) in SVG units, and the y-axis maximum."""
    top = max([d.total for d in days] + [1])
    plot_height = CHART_HEIGHT - CHART_BOTTOM - 8
    slot = (CHART_WIDTH - CHART_LEFT) / len(days)
    bars = []
    for index, day in enumerate(days):
        base = float(CHART_HEIGHT - CHART_BOTTOM)
        for verdict in VERDICTS:
            count = day.by_verdict.get(verdict, 0)
            if not count:
                continue
            height = count / top * plot_height
            base -= height
            label = f"{day.day.isoformat()}: {count} {name_of('verdict', verdict)}"
            bars.append(
                Bar(
                    CHART_LEFT + index * slot + slot * 0.15,
                    base,
                    slot * 0.7,
                    height,
                    verdict,
                    label,
                )
            )
    return bars, top


async def dashboard(request: web.Request) -> web.Response:
    now = await blocking(overview, console(request).client)
    stats = await blocking(incident_stats, request.app[INCIDENTS], request.app[CONSOLE].templates)
    bars, top = chart_bars(stats.days)
    slot = (CHART_WIDTH - CHART_LEFT) / len(stats.days)
    context = {
        "overview": now,
        "stats": stats,
        "bars": bars,
        "top": top,
        "verdicts": VERDICTS,
        "chart": {
            "width": CHART_WIDTH,
            "height": CHART_HEIGHT,
            "left": CHART_LEFT,
            "baseline": CHART_HEIGHT - CHART_BOTTOM,
            "slot": slot,
            "total": sum(d.total for d in stats.days),
        },
    }
    return aiohttp_jinja2.render_template("dashboard.html", request, context)


async def incident_stats_api(request: web.Request) -> web.Response:
    stats = await blocking(incident_stats, request.app[INCIDENTS], request.app[CONSOLE].templates)
    return web.json_response(
        {"days_back": CHART_DAYS, "generated_at": time.time(), **stats.to_json()}
    )


async def overview_api(request: web.Request) -> web.Response:
    now = await blocking(overview, console(request).client)
    return web.json_response(now.to_json())


def setup(app: web.Application) -> None:
    app.router.add_get("/", dashboard)
    app.router.add_get("/api/overview", overview_api)
    app.router.add_get("/api/incident-stats", incident_stats_api)
    add_nav(app, N_("Dashboard"), "/")
    document_api(
        app,
        "/api/overview",
        "get",
        {
            "summary": "Scans by verdict, alerts sent by channel, queue depth, dead letters",
            "responses": {"200": {"description": "the overview"}},
        },
    )
    document_api(
        app,
        "/api/incident-stats",
        "get",
        {
            "summary": f"Incidents per day by verdict over the last {CHART_DAYS} days, and the "
            f"{TOP_GROUPS} groups with most incidents",
            "responses": {"200": {"description": "the counts"}},
        },
    )
