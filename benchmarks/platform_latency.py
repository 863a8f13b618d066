"""The bot's latency on QQ and Feishu, message posted → member warned, on the real stack.

    python -m benchmarks.platform_latency [--platforms qq,feishu] [--photos 10] [--interval 2]

The photos and the measure of `benchmarks.bot_latency` (12-MP phone photos of marked pages,
unique bytes each, one every `--interval` seconds, each in its own enrolled group), through the
QQ connector and the OneBot v11 stand-in, or the Feishu connector (lark-oapi) and the Feishu
stand-in (events encrypted and signed, photos fetched through the message resource API), a
Redis process, the bot service and `leaksentry worker` processes (the stacks of
`tests/test_e2e_qq.py` and `tests/test_e2e_feishu.py`). Measured: received → sent (the
outbox's delivery log) and posted → seen (the stand-in posting the message to it seeing the
warning). The rate limiter is opened, as in `bot_latency`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.bot_latency import (
    WAIT,
    load_average,
    photo_arguments,
    run_photos,
    save_results,
    summary,
    table,
    unique,
)
from benchmarks.readme import publish
from bot.connectors.feishu import FeishuConnector, feishu_id
from bot.connectors.onebot import OneBotConnector, qq_id
from bot.groups import Groups
from tests.e2e_stack import ServiceStack, service_stack
from tests.harness.feishu_server import BOT_OPEN_ID, FeishuServer
from tests.harness.onebot_server import OneBotServer
from tests.harness_client import free_port

QQ_MEMBER, QQ_OWNER = 10003, 10001
FEISHU_MEMBER, FEISHU_OWNER = "ou_benchmember", "ou_benchowner"


@dataclass
class Platform:
    """A running stack on one platform: how to post a photo and when its warning was seen."""

    stack: ServiceStack
    room_id: Callable[[int], str]
    post_photo: Callable[[int, bytes], Awaitable[None]]
    warning_seen: Callable[[int], Awaitable[float]]


@contextlib.asynccontextmanager
async def qq_platform(folder: Path, rooms: int, workers: int) -> AsyncIterator[Platform]:
    async with OneBotServer() as server:
        server.add_user(QQ_MEMBER, "王小明")
        server.add_user(QQ_OWNER, "群主")
        for n in range(rooms):
            server.add_group(50_000 + n, f"工作群{n}", owner=QQ_OWNER, members=[QQ_MEMBER])
        connector = OneBotConnector(server.ws_url, server.token)
        async with service_stack(folder, connector, workers=workers, bot_settings=_settings()) as s:

            async def post(n: int, data: bytes) -> None:
                await server.post_image(50_000 + n, QQ_MEMBER, data)

            async def seen(n: int) -> float:
                sent = await server.wait_for_sent(
                    lambda m: m.group_id == 50_000 + n and bool(m.at), WAIT
                )
                return sent.seen_at

            yield Platform(s, lambda n: qq_id(50_000 + n), post, seen)


@contextlib.asynccontextmanager
async def feishu_platform(folder: Path, rooms: int, workers: int) -> AsyncIterator[Platform]:
    async with FeishuServer() as server:
        server.add_user(FEISHU_MEMBER, "王小明")
        server.add_user(FEISHU_OWNER, "群主")
        for n in range(rooms):
            members = [FEISHU_MEMBER, BOT_OPEN_ID]
            server.add_chat(f"oc_bench{n}", f"工作群{n}", owner=FEISHU_OWNER, members=members)
        connector = FeishuConnector(
            server.app_id,
            server.app_secret,
            verification_token=server.verification_token,
            encrypt_key=server.encrypt_key,
            base_url=server.base_url,
            listen=f"127.0.0.1:{free_port()}",
        )
        server.callback_url = connector.callback_url
        async with service_stack(folder, connector, workers=workers, bot_settings=_settings()) as s:

            async def post(n: int, data: bytes) -> None:
                await server.post_image(f"oc_bench{n}", FEISHU_MEMBER, data)

            async def seen(n: int) -> float:
                sent = await server.wait_for_sent(
                    lambda m: m.chat_id == f"oc_bench{n}" and bool(m.at), WAIT
                )
                return sent.seen_at

            yield Platform(s, lambda n: feishu_id(f"oc_bench{n}"), post, seen)


PLATFORMS = {"qq": qq_platform, "feishu": feishu_platform}


def _settings() -> dict[str, Any]:
    return {"outbox": {"messages_per_minute": 1_000_000, "min_interval_seconds": 0}}


async def measure(
    name: str, folder: Path, photos: list[bytes], count: int, interval: float, workers: int
) -> dict[str, Any]:
    warm = 2 * workers
    async with PLATFORMS[name](folder, warm + count, workers) as platform:
        groups = Groups(platform.stack.client, platform.stack.settings)
        for n in range(warm + count):
            groups.enroll(platform.room_id(n), topic=f"工作群{n}")
        for n in range(warm):  # every worker has loaded its OCR models
            await platform.post_photo(n, unique(photos[0], f"{name}-warm{n}"))
        for n in range(warm):
            await platform.warning_seen(n)
        await platform.stack.idle(WAIT)

        posted: dict[int, float] = {}
        start = time.monotonic()
        for i, n in enumerate(range(warm, warm + count)):
            await asyncio.sleep(max(0.0, start + i * interval - time.monotonic()))
            posted[n] = time.time()
            await platform.post_photo(n, unique(photos[i % len(photos)], f"{name}-{n}"))
        seen = {n: await platform.warning_seen(n) for n in posted}
        await platform.stack.idle(WAIT)
        log = [r for r in platform.stack.outbox.delivery_log(10_000) if r.kind == "warning"]
        by_incident = {r.incident_id: r for r in log}
        received_to_sent, received_to_queued = [], []
        for n in posted:
            incident = platform.stack.incidents.list(room=platform.room_id(n), limit=1)
            record = by_incident.get(incident[0].incident_id) if incident else None
            if record is not None:
                received_to_sent.append(record.sent_at - record.received_at)
                received_to_queued.append(record.queued_at - record.received_at)
    return {
        "platform": name,
        "photos": count,
        "warned": len(seen),
        "received_to_sent": summary(received_to_sent),
        "posted_to_seen": summary([seen[n] - posted[n] for n in posted]),
        "received_to_queued": summary(received_to_queued),
    }


def render_markdown(results: dict[str, Any]) -> str:
    lines = [
        f"12-MP (4000x3000) phone photos of marked pages, one every {results['interval']:g} s, "
        f"each in its own enrolled group, {results['workers']} `leaksentry worker` process(es), "
        "on this 2-core machine shared with other work (load average 1/5/15 min before: "
        f"{results['load_before']}, after: {results['load_after']}).",
        "",
    ]
    rows = [
        [
            {"qq": "QQ (OneBot v11 stand-in)", "feishu": "Feishu (stand-in, lark-oapi)"}[
                r["platform"]
            ],
            f"{r['warned']} of {r['photos']}",
            f"{r['received_to_sent']['p50']:.2f} / {r['received_to_sent']['p95']:.2f}",
            f"{r['posted_to_seen']['p50']:.2f} / {r['posted_to_seen']['p95']:.2f}",
            f"{r['posted_to_seen']['max']:.2f}",
            f"{r['received_to_queued']['p50']:.2f}",
        ]
        for r in results["platforms"]
    ]
    header = [
        "platform",
        "photos warned",
        "received → sent p50 / p95 s",
        "posted → seen p50 / p95 s",
        "max s",
        "received → warning queued p50 s",
    ]
    lines += table(header, rows)
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    photos = run_photos(args)
    load_before = load_average()
    results = []
    with tempfile.TemporaryDirectory(prefix="platform-latency-") as tmp:
        for name in args.platforms:
            result = await measure(
                name, Path(tmp) / name, photos, args.photos, args.interval, args.workers
            )
            results.append(result)
            print(json.dumps(result), flush=True)
    return {
        "interval": args.interval,
        "workers": args.workers,
        "load_before": load_before,
        "load_after": load_average(),
        "platforms": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = photo_arguments(__doc__.splitlines()[0], photos=10)
    parser.add_argument(
        "--platforms", type=lambda t: [p for p in t.split(",") if p], default=["qq", "feishu"]
    )
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    results = asyncio.run(run(args))
    save_results("platform-latency", results)
    return publish("platforms", render_markdown(results), args)


if __name__ == "__main__":
    raise SystemExit(main())
