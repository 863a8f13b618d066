"""Faults in the middle of a burst: does every member hear of their leak, and the officer of
every incident, once?

    python -m benchmarks.faults [--members 12] [--interval 1.0] [--redis-kill-at 4]
                                [--worker-kill-at 8] [--workers 1] [--no-readme]

`leaksentry run` as an operator starts it (embedded Redis, `--workers` scan processes, the
shipped config but for the officer) on WeChat through the real python-wechaty client and the
offline puppet-service harness. Each of `--members` members of one enrolled group posts a
different marked page photo, `--interval` seconds apart. Just before post `--redis-kill-at`
the embedded Redis gets SIGKILL (the intake spools until the supervisor has it back); just
before post `--worker-kill-at` a scan worker does (its job is taken over after
`pipeline.claim_idle_seconds`). Counted, from what the puppet service saw the bot send and
from the incident store:

- posts sent, incidents opened (one per post expected), posts lost (no incident);
- members @-warned in the group within `WARN_WITHIN` seconds of their post, and warned twice;
- incidents the officer and the group's admin were told of (their ids in a DM), and told twice;
- Redis and worker restarts (`/healthz`), and processes left behind by a SIGKILL of the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
import redis

from benchmarks.readme import add_readme_flag, publish
from bot.incidents import Incidents
from bot.outbox.store import OutboxStore
from bot.queue import queue_depth
from bot.sealing import KEY_ENV, evidence_key_text
from bot.settings import load_bot_settings
from tests.e2e_stack import config_copy, marked_page_photo
from tests.harness_client import PuppetHarness, SentMessage
from tests.run_process import Run

OUT = Path(__file__).resolve().parent / "out"
ROOM, TOPIC = "30001@chatroom", "综合科工作群"
ADMIN, OFFICER, BOT = "wxid_admin", "wxid_officer", "wxid_leaksentry"
WARN_WITHIN = 120.0
"""WeChat lets a sender recall a message for two minutes."""
INCIDENT_ID = re.compile(r"(?<![A-Za-z0-9])[A-HJ-NP-Z2-9]{6}(?![A-Za-z0-9])")
ORPHAN_WAIT = 60.0
"""A worker given SIGTERM by its parent's death finishes the job in hand first."""
SETTLE = 15.0
"""After the last expected message: how long to keep watching for duplicates."""


@dataclass(frozen=True)
class Burst:
    members: int
    interval: float
    redis_kill_at: int
    worker_kill_at: int
    workers: int
    photo_width: int


@dataclass(frozen=True)
class FaultResult:
    posts: int
    incidents: int
    lost: int
    warned_in_time: int
    warned_late: int
    warned_twice: int
    slowest_warning_s: float
    officer_told: int
    officer_told_twice: int
    admin_told: int
    admin_told_twice: int
    redis_restarts: int
    worker_restarts: int
    left_behind: tuple[str, ...]
    """Processes alive a minute after the run's SIGKILL."""

    @property
    def holds(self) -> bool:
        """The issue's bar: everyone warned in time, everything told once, nothing lost."""
        return (
            self.lost == 0
            and self.incidents == self.posts
            and self.warned_in_time == self.posts
            and self.warned_twice == 0
            and self.officer_told == self.admin_told == self.posts
            and self.officer_told_twice == self.admin_told_twice == 0
            and not self.left_behind
        )


def members(count: int) -> list[str]:
    return [f"wxid_member_{n:02d}" for n in range(1, count + 1)]


def photos(burst: Burst) -> list[bytes]:
    """A different marked page per member."""
    return [
        marked_page_photo(f"关于第{n}批内部资料清理工作的通知", width=burst.photo_width)
        for n in range(1, burst.members + 1)
    ]


async def populate(harness: PuppetHarness, burst: Burst) -> None:
    for contact_id, name in ((ADMIN, "群主"), (OFFICER, "保密员")):
        await harness.create_contact(contact_id, name)
    names = members(burst.members)
    for n, member in enumerate(names, start=1):
        await harness.create_contact(member, f"成员{n:02d}")
    await harness.create_room(ROOM, TOPIC, owner=ADMIN, members=[*names, OFFICER])
    await harness.login(BOT, "保密提醒助手")


def start_run(folder: Path, harness: PuppetHarness, burst: Burst) -> Run:
    config = config_copy(folder / "config", {"officers": [OFFICER]})
    env = {
        "LEAKSENTRY_CONFIG_DIR": str(config),
        "WECHATY_PUPPET_SERVICE_TOKEN": harness.token,
        "WECHATY_PUPPET_SERVICE_ENDPOINT": harness.endpoint,
        KEY_ENV: evidence_key_text(),
    }
    return Run(folder / "data", burst.workers, env)


async def enrolled(harness: PuppetHarness) -> None:
    """The admin enrols the group in the chat, as the README tells them to."""
    await harness.post_text(ADMIN, "/enroll", room=ROOM)
    await harness.wait_for_sent(lambda s: s.room_id == ROOM and "已开启保密检测" in s.text, 60)


async def workers_ready(run: Run, workers: int) -> None:
    while len(run.workers()) < workers:
        await asyncio.sleep(0.2)


@dataclass(frozen=True)
class Post:
    at: float
    message_id: str


async def post_burst(harness: PuppetHarness, run: Run, burst: Burst) -> dict[str, Post]:
    """Every member's post, `interval` apart, with the two kills."""
    posted: dict[str, Post] = {}
    start = time.monotonic()
    for n, (member, photo) in enumerate(zip(members(burst.members), photos(burst), strict=True), 1):
        await asyncio.sleep(max(0.0, start + (n - 1) * burst.interval - time.monotonic()))
        if n == burst.redis_kill_at:
            psutil.Process(int(str(run.server_info()["server_pid"]))).kill()
        if n == burst.worker_kill_at and run.workers():
            run.workers()[0].kill()
        at = time.time()
        posted[member] = Post(at, await harness.post_image(member, photo, room=ROOM))
    return posted


def first_warnings(sent: list[SentMessage]) -> dict[str, list[float]]:
    """When each member was @-mentioned in the group."""
    seen: dict[str, list[float]] = {}
    for message in sent:
        if message.room_id == ROOM:
            for member in message.mention_ids:
                seen.setdefault(member, []).append(message.seen_at)
    return seen


def told(sent: list[SentMessage], contact: str) -> Counter[str]:
    """How many DMs to `contact` named each incident id."""
    count: Counter[str] = Counter()
    for message in sent:
        if message.to_id == contact:
            count.update(set(INCIDENT_ID.findall(message.text)))
    return count


async def settled(
    harness: PuppetHarness, client: redis.Redis, burst: Burst, deadline: float
) -> None:
    """Until every member is warned and both recipients told of every post, the queue and the
    outbox empty (or the deadline passed); then `SETTLE` seconds more."""
    store = OutboxStore(client, load_bot_settings().outbox)

    def done() -> bool:
        warned = first_warnings(harness.sent)
        try:
            drained = queue_depth(client).total == 0 and store.backlog() == 0
        except redis.RedisError:
            return False
        return (
            drained
            and all(m in warned for m in members(burst.members))
            and len(told(harness.sent, OFFICER)) >= burst.members
            and len(told(harness.sent, ADMIN)) >= burst.members
        )

    while not done() and time.time() < deadline:
        await asyncio.sleep(0.5)
    await asyncio.sleep(SETTLE)


def health_restarts(run: Run) -> dict[str, int]:
    restarts = run.healthz()[1].get("restarts")
    return {k: int(v) for k, v in restarts.items()} if isinstance(restarts, dict) else {}


def left_after_kill(run: Run) -> list[str]:
    """SIGKILL of `leaksentry run`: the command lines of its processes still alive
    `ORPHAN_WAIT` seconds later (killed then)."""
    children = run.descendants()
    run.process.kill()
    run.process.wait()
    _, alive = psutil.wait_procs(children, timeout=ORPHAN_WAIT)
    left = []
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            left.append(" ".join(process.cmdline())[:120])
            process.kill()
    return left


def tally(
    posted: dict[str, Post], harness: PuppetHarness, run: Run
) -> Iterator[tuple[str, int | float]]:
    client = redis.Redis.from_url(str(run.server_info()["url"]))
    incidents = Incidents(client, load_bot_settings())
    opened = {m: incidents.by_message(f"wechat:{p.message_id}") for m, p in posted.items()}
    ids = {i.incident_id for i in opened.values() if i is not None}
    yield "posts", len(posted)
    yield "incidents", len(ids)
    yield "lost", sum(1 for i in opened.values() if i is None)
    warned = first_warnings(harness.sent)
    delays = [min(warned[m]) - p.at for m, p in posted.items() if m in warned]
    yield "warned_in_time", sum(1 for d in delays if d <= WARN_WITHIN)
    yield "warned_late", sum(1 for d in delays if d > WARN_WITHIN)
    yield "warned_twice", sum(1 for m in posted if len(warned.get(m, [])) > 1)
    yield "slowest_warning_s", round(max(delays, default=0.0), 1)
    for name, contact in (("officer", OFFICER), ("admin", ADMIN)):
        count = told(harness.sent, contact)
        yield f"{name}_told", len(ids & set(count))
        yield f"{name}_told_twice", sum(1 for i in ids if count[i] > 1)
    client.close()


async def measure(folder: Path, burst: Burst) -> FaultResult:
    async with PuppetHarness() as harness:
        await populate(harness, burst)
        run = start_run(folder, harness, burst)
        try:
            await asyncio.to_thread(run.wait_up)
            await enrolled(harness)
            await workers_ready(run, burst.workers)
            client = redis.Redis.from_url(str(run.server_info()["url"]))
            posted = await post_burst(harness, run, burst)
            last = max(p.at for p in posted.values())
            await settled(harness, client, burst, last + WARN_WITHIN + 60)
            client.close()
            figures = dict(tally(posted, harness, run))
            restarts = health_restarts(run)
            return FaultResult(
                **figures,  # type: ignore[arg-type]
                redis_restarts=restarts.get("redis", 0),
                worker_restarts=restarts.get("workers", 0),
                left_behind=tuple(left_after_kill(run)),
            )
        finally:
            run.kill_all()


def render_markdown(burst: Burst, result: FaultResult) -> str:
    rows = [
        ("posts sent (each a different marked photo, its own member)", result.posts),
        ("incidents opened", result.incidents),
        ("posts lost (no incident)", result.lost),
        (f"members @-warned within {WARN_WITHIN:.0f} s of their post", result.warned_in_time),
        ("members warned later than that", result.warned_late),
        ("members warned twice", result.warned_twice),
        ("slowest post → warning (s)", result.slowest_warning_s),
        (
            "incidents the officer was told of / told twice",
            _pair(result.officer_told, result.officer_told_twice),
        ),
        (
            "incidents the group admin was told of / told twice",
            _pair(result.admin_told, result.admin_told_twice),
        ),
        (
            "Redis / worker restarts by the supervisor",
            _pair(result.redis_restarts, result.worker_restarts),
        ),
        ("processes left after SIGKILL of `leaksentry run`", len(result.left_behind)),
    ]
    lines = [
        f"`python -m benchmarks.faults`: {burst.members} members post {burst.members} different "
        f"marked photos ({burst.photo_width} px wide) {burst.interval:g} s apart into one "
        f"enrolled WeChat group; `leaksentry run --workers {burst.workers}` with the shipped "
        f"config; embedded Redis SIGKILLed just before post {burst.redis_kill_at}, a scan worker "
        f"just before post {burst.worker_kill_at}.",
        "",
        "| measure | value |",
        "|---|---|",
        *[f"| {name} | {value} |" for name, value in rows],
        "",
        f"Bar (issue 13): {'**met**' if result.holds else '**not met**'}.",
    ]
    return "\n".join(lines)


def _pair(first: int, second: int) -> str:
    return f"{first} / {second}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=12)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--redis-kill-at", type=int, default=4)
    parser.add_argument("--worker-kill-at", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--photo-width", type=int, default=1240)
    add_readme_flag(parser)
    args = parser.parse_args(argv)
    burst = Burst(
        args.members,
        args.interval,
        args.redis_kill_at,
        args.worker_kill_at,
        args.workers,
        args.photo_width,
    )
    with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
        result = asyncio.run(measure(Path(tmp), burst))
    OUT.mkdir(exist_ok=True)
    figures = {"burst": asdict(burst), "result": asdict(result), "holds": result.holds}
    (OUT / "faults.json").write_text(json.dumps(figures, indent=1))
    publish("faults", render_markdown(burst, result), args)
    return 0 if result.holds else 1


if __name__ == "__main__":
    raise SystemExit(main())
