"""`/healthz` for load balancers and `/metrics` for Prometheus."""

from __future__ import annotations

import hmac
import os

import redis
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from bot.metrics import collector_registry
from bot.web.auth import SESSION, public
from bot.web.state import CONSOLE, blocking, console

METRICS_REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)


@public
async def healthz(request: web.Request) -> web.Response:
    """200 when Redis answers, 503 when it does not. Under `leaksentry run` also what its
    supervisor keeps alive: Redis up or restarting, workers running of wanted, restarts (no
    names, addresses or versions: the route is public)."""
    # Imported here: bot.supervision imports bot.worker, which imports bot.web (its evidence
    # pictures); at module level `import bot.worker` alone would run into that cycle.
    from bot import supervision

    supervised = supervision.health()
    extra = supervised.to_json() if supervised is not None else {}
    try:
        await blocking(console(request).client.ping)
    except redis.RedisError:
        return web.json_response({"status": "redis unavailable", **extra}, status=503)
    degraded = supervised is not None and supervised.workers_running < supervised.workers_wanted
    return web.json_response({"status": "degraded" if degraded else "ok", **extra})


@public
async def metrics(request: web.Request) -> web.Response:
    """For a signed-in user, or for Prometheus with the bearer token the settings name."""
    if SESSION not in request and not _bearer_ok(request):
        raise web.HTTPUnauthorized(
            text='{"error": "sign in first, or send the metrics bearer token"}',
            content_type="application/json",
        )
    body = await blocking(generate_latest, request.app[METRICS_REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _bearer_ok(request: web.Request) -> bool:
    expected = os.environ.get(console(request).settings.console.metrics_token_env, "")
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def setup(app: web.Application) -> None:
    app[METRICS_REGISTRY] = collector_registry(app[CONSOLE].client)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
