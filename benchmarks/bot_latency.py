"""The bot's latency, message received → member warned, on the real stack.

    python -m benchmarks.bot_latency [--workers 1,2] [--photos 30] [--interval 2.0]

Members post true 12-megapixel (4000x3000) phone photos of marked pages (`tests.corpus`), one
every `--interval` seconds, each in its own enrolled group, through the real python-wechaty
client and the offline puppet-service harness, a Redis-protocol server process, the bot
service and `leaksentry worker` processes (the stack of `tests/test_e2e_wechat.py`). Every
photo has unique bytes (a JPEG comment), so none is answered from the scan cache. Measured:

- received → sent: from the bot's receipt of the message (`ScanJob.received_at`) to the
  warning's delivery, from the outbox's delivery log;
- posted → seen: from the harness injecting the message to the harness seeing the warning.

Then the sustained rate: photos posted at rising rates, each for `--step-seconds`, with the
largest worker count, in one group; the queue depth (waiting + in a worker) is sampled
between posts, at least once a second. A rate counts as bounded when the depth at the end of its
step is below the first half's mean + 2 (or below workers + 2); the rates rise until one is not.

The rate limiter is opened for this benchmark (no interval, no per-minute cap): it paces
every outgoing message to what WeChat tolerates, and with one group per photo it would
measure itself. In a real group the first warning goes at once and the others of a burst wait
for the group's interval (`group_warning_interval_seconds`), merged into one message; the
limiter adds at most `min_interval_seconds` when another message went out just before.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import struct
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.readme import add_readme_flag, publish
from bot import keys
from bot.groups import Groups
from bot.settings import load_bot_settings
from detectors import Scanner, Verdict, load_config
from tests.corpus import positive
from tests.harness_client import PuppetHarness, SentMessage
from tests.test_e2e_wechat import WechatStack, wechat_stack

OUT = Path(__file__).resolve().parent / "out"
SEED = 4242
MEGAPIXELS = 12.0
FULL_PHOTOS = {"photo", "photo_header", "photo_rotated"}
"""Phone photos of a paper page (not of a monitor, not scans or screenshots)."""

MEMBER, OFFICER, ADMIN = "wxid_member", "wxid_officer", "wxid_admin"
WAIT = 300.0


@dataclass(frozen=True)
class Latency:
    workers: int
    photos: int
    interval: float
    warned: int
    received_to_sent: list[float]
    posted_to_seen: list[float]
    received_to_queued: list[float]
    """Queue wait and scan: until the worker queued the warning."""


@dataclass(frozen=True)
class RateStep:
    per_minute: float
    posted: int
    done_per_minute: float
    depth_max: int
    depth_end: float
    bounded: bool


# --- photos ------------------------------------------------------------------------------------


def base_photos(count: int, folder: Path) -> list[bytes]:
    """`count` 12-MP phone photos of marked pages that the scanner flags, generated once and
    kept in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    kept = sorted(folder.glob("*.jpg"))
    if len(kept) >= count:
        return [path.read_bytes() for path in kept[:count]]
    scanner = Scanner(load_config())
    minimum = Verdict.parse(load_bot_settings().alert_min_verdict)
    index = int(kept[-1].stem) + 1 if kept else 0
    photos = [path.read_bytes() for path in kept]
    while len(photos) < count:
        _, data, item = positive(SEED, index, MEGAPIXELS)
        width, height = item.facts["size"]
        is_jpeg = data[:2] == b"\xff\xd8"
        big = width * height >= MEGAPIXELS * 1e6
        if item.kind in FULL_PHOTOS and big and is_jpeg and scanner.scan(data).verdict >= minimum:
            (folder / f"{index:04d}.jpg").write_bytes(data)
            photos.append(data)
        index += 1
    return photos


def unique(photo: bytes, tag: str) -> bytes:
    """The same JPEG with a comment segment after SOI: same picture, new bytes and hash."""
    comment = f"leaksentry-bench {tag}".encode()
    return photo[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + photo[2:]


# --- the stack ---------------------------------------------------------------------------------


def bench_settings() -> dict[str, Any]:
    return {
        "officers": [OFFICER],
        "outbox": {"messages_per_minute": 1_000_000, "min_interval_seconds": 0},
    }


def room_id(name: str) -> str:
    return f"bench-{name}@chatroom"


def populating(rooms: list[str]) -> Callable[[PuppetHarness], Awaitable[None]]:
    """The harness's contacts and a group per name in `rooms`, the admin its owner."""

    async def populate(harness: PuppetHarness) -> None:
        for contact_id, name in ((MEMBER, "王小明"), (OFFICER, "保密员"), (ADMIN, "群主")):
            await harness.create_contact(contact_id, name)
        for name in rooms:
            await harness.create_room(room_id(name), f"工作群{name}", owner=ADMIN, members=[MEMBER])

    return populate


def enroll(stack: WechatStack, rooms: list[str]) -> None:
    groups = Groups(stack.client, stack.settings)
    for name in rooms:
        groups.enroll(room_id(name), topic=f"工作群{name}", admins=(ADMIN,))


async def post_and_wait(
    stack: WechatStack, photos: list[tuple[str, bytes]], interval: float
) -> dict[str, float]:
    """Post each (room, photo) `interval` apart; when each was posted."""
    posted: dict[str, float] = {}
    start = time.monotonic()
    for i, (name, data) in enumerate(photos):
        await asyncio.sleep(max(0.0, start + i * interval - time.monotonic()))
        posted[name] = time.time()
        await stack.harness.post_image(MEMBER, data, room=room_id(name))
    for name in posted:
        await stack.harness.wait_for_sent(warning_in(room_id(name)), WAIT)
    return posted


def warning_in(room: str) -> Callable[[SentMessage], bool]:
    return lambda sent: sent.room_id == room and MEMBER in sent.mention_ids


async def warm_up(stack: WechatStack, photo: bytes, workers: int) -> None:
    """Every worker has loaded its OCR models and scanned once."""
    rooms = [f"warm{i}" for i in range(2 * workers)]
    enroll(stack, rooms)
    await post_and_wait(stack, [(r, unique(photo, r)) for r in rooms], 0.0)
    await stack.idle(WAIT)


# --- measurements ------------------------------------------------------------------------------


async def measure_latency(
    folder: Path, workers: int, photos: list[bytes], count: int, interval: float
) -> Latency:
    rooms = [f"w{workers}-{i}" for i in range(count)]
    warm = [f"warm{i}" for i in range(2 * workers)]
    async with wechat_stack(
        folder, workers=workers, bot_settings=bench_settings(), populate=populating(rooms + warm)
    ) as stack:
        await warm_up(stack, photos[0], workers)
        enroll(stack, rooms)
        chosen = [(r, unique(photos[i % len(photos)], r)) for i, r in enumerate(rooms)]
        posted = await post_and_wait(stack, chosen, interval)
        await stack.idle(WAIT)
        seen = {s.room_id: s.seen_at for s in stack.harness.sent if s.room_id and s.mention_ids}
        records = {
            r.incident_id: r for r in stack.outbox.delivery_log(10_000) if r.kind == "warning"
        }
        received_to_sent, posted_to_seen, to_queued = [], [], []
        for name in rooms:
            incident = stack.incidents.list(room=room_id(name), limit=1)
            record = records.get(incident[0].incident_id) if incident else None
            if record is None:
                continue
            received_to_sent.append(record.sent_at - record.received_at)
            to_queued.append(record.queued_at - record.received_at)
            posted_to_seen.append(seen[room_id(name)] - posted[name])
    return Latency(
        workers, count, interval, len(received_to_sent), received_to_sent, posted_to_seen, to_queued
    )


async def measure_rates(
    folder: Path, workers: int, photos: list[bytes], rates: list[float], seconds: float
) -> list[RateStep]:
    """Rising rates until the queue keeps growing."""
    warm = [f"warm{i}" for i in range(2 * workers)]
    async with wechat_stack(
        folder, workers=workers, bot_settings=bench_settings(), populate=populating(["rate", *warm])
    ) as stack:
        await warm_up(stack, photos[0], workers)
        enroll(stack, ["rate"])
        steps: list[RateStep] = []
        serial = 0
        for rate in rates:
            interval = 60.0 / rate
            done_before = int(stack.client.hget(keys.JOB_STATS, "done") or 0)
            depths: list[int] = []
            start = time.monotonic()
            posted = 0
            while time.monotonic() - start < seconds:
                due = start + posted * interval
                if time.monotonic() >= due:
                    serial += 1
                    data = unique(photos[serial % len(photos)], f"rate-{serial}")
                    await stack.harness.post_image(MEMBER, data, room=room_id("rate"))
                    posted += 1
                    continue
                depths.append(stack.queue.depth().total)
                await asyncio.sleep(min(1.0, max(0.0, due - time.monotonic())))
            elapsed = time.monotonic() - start
            done = int(stack.client.hget(keys.JOB_STATS, "done") or 0) - done_before
            half = depths[: len(depths) // 2] or [0]
            end = statistics.fmean(depths[-5:] or [0])
            bounded = end < statistics.fmean(half) + 2 or end < workers + 2
            steps.append(
                RateStep(rate, posted, done * 60 / elapsed, max(depths or [0]), end, bounded)
            )
            print(json.dumps(asdict(steps[-1])), flush=True)
            await stack.idle(WAIT)
            if not bounded:
                break
    return steps


# --- report ------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95), "max": max(values)}


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def render_markdown(results: dict[str, Any]) -> str:
    lines = [
        "12-MP (4000x3000) phone photos of marked pages from `tests.corpus`, one every "
        f"{results['interval']:g} s, each with unique bytes in its own enrolled group, through "
        "the real WeChat connector, the puppet-service harness, Redis and `leaksentry worker` "
        f"processes on this {os.cpu_count()}-core machine, shared with other work (load "
        f"average 1/5/15 min before: {results['load_before']}, after: {results['load_after']}).",
        "",
    ]
    latency_rows = []
    for run in results["latency"]:
        sent, seen = run["received_to_sent"], run["posted_to_seen"]
        latency_rows.append(
            [
                str(run["workers"]),
                f"{run['warned']} of {run['photos']}",
                f"{sent['p50']:.2f} / {sent['p95']:.2f}",
                f"{seen['p50']:.2f} / {seen['p95']:.2f}",
                f"{seen['max']:.2f}",
                f"{run['received_to_queued']['p50']:.2f}",
            ]
        )
    lines += table(
        [
            "workers",
            "photos warned",
            "received → warning sent p50 / p95 s",
            "posted → warning seen p50 / p95 s",
            "max s",
            "received → warning queued p50 s",
        ],
        latency_rows,
    )
    steps = results["rates"]
    bounded = [s["per_minute"] for s in steps if s["bounded"]]
    lines += [
        "",
        (
            f"Sustained with {results['rate_workers']} workers: **{max(bounded):g} photos/min** "
            f"with a bounded queue ({results['step_seconds']:g} s per rate)."
            if bounded
            else "Sustained: the queue grew at every rate tried."
        ),
        "",
    ]
    lines += table(
        ["offered photos/min", "scanned photos/min", "queue depth max", "at end", "bounded"],
        [
            [
                f"{s['per_minute']:g}",
                f"{s['done_per_minute']:.1f}",
                str(s["depth_max"]),
                f"{s['depth_end']:.1f}",
                "yes" if s["bounded"] else "no",
            ]
            for s in steps
        ],
    )
    lines += [
        "",
        "The rate limiter is opened for this run (see `benchmarks/bot_latency.py`); with the "
        "shipped settings it spaces messages at least 2 s apart, at most 30 a minute.",
    ]
    return "\n".join(lines)


def run_photos(args: argparse.Namespace) -> list[bytes]:
    """The `--base-photos` distinct pictures of a latency run (cached in benchmarks/out)."""
    return base_photos(args.base_photos, OUT / f"bot-photos-{SEED}")


def load_average() -> str:
    """The machine's load average over 1/5/15 minutes, as the tables give it."""
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


async def run(args: argparse.Namespace) -> dict[str, Any]:
    photos = run_photos(args)
    load_before = load_average()
    latency = []
    with tempfile.TemporaryDirectory(prefix="bot-latency-") as tmp:
        for workers in args.workers:
            result = await measure_latency(
                Path(tmp) / f"lat{workers}", workers, photos, args.photos, args.interval
            )
            latency.append(result)
            print(
                json.dumps({"workers": workers, "p95": summary(result.received_to_sent)}),
                flush=True,
            )
        rate_workers = max(args.workers)
        rates = await measure_rates(
            Path(tmp) / "rates", rate_workers, photos, args.rates, args.step_seconds
        )
    return {
        "interval": args.interval,
        "load_before": load_before,
        "load_after": load_average(),
        "latency": [
            {
                "workers": r.workers,
                "photos": r.photos,
                "warned": r.warned,
                "received_to_sent": summary(r.received_to_sent),
                "posted_to_seen": summary(r.posted_to_seen),
                "received_to_queued": summary(r.received_to_queued),
                "samples": asdict(r),
            }
            for r in latency
        ],
        "rate_workers": rate_workers,
        "step_seconds": args.step_seconds,
        "rates": [asdict(s) for s in rates],
    }


def photo_arguments(description: str, photos: int) -> argparse.ArgumentParser:
    """The arguments of the latency benchmarks: how many photos, how often, from how many
    distinct pictures; `--no-readme`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--photos", type=int, default=photos)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--base-photos", type=int, default=8, help="distinct pictures")
    add_readme_flag(parser)
    return parser


def save_results(name: str, results: dict[str, Any]) -> None:
    """`results` as benchmarks/out/NAME.json."""
    OUT.mkdir(exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(results, ensure_ascii=False, indent=1))


def main(argv: list[str] | None = None) -> int:
    parser = photo_arguments(__doc__.splitlines()[0], photos=30)
    parser.add_argument("--workers", type=_numbers(int), default=[1, 2])
    parser.add_argument("--rates", type=_numbers(float), default=[20, 30, 40, 50, 60, 70, 80])
    parser.add_argument("--step-seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    results = asyncio.run(run(args))
    save_results("bot-latency", results)
    return publish("bot", render_markdown(results), args)


def _numbers(kind: type) -> Any:
    return lambda text: [kind(part) for part in text.split(",") if part.strip()]


if __name__ == "__main__":
    raise SystemExit(main())
