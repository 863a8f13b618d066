"""The shared WeChat rate limit, against a real embedded Redis: spacing and window hold across
several clients (processes), and through the outbox sender."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis
import redis.asyncio

from bot.connectors.sandbox import SandboxConnector
from bot.groups import Group
from bot.outbox import Outbox
from bot.ratelimit import RateLimiter
from bot.redis_server import redis_url
from bot.settings import load_bot_settings
from bot.templates import load_templates

# Timers wake a little late, never early; round trips differ by a few ms between clients.
TOLERANCE = 0.015
SEND_JITTER = 0.05


@pytest.fixture
async def clients(redis_dir: Path) -> AsyncIterator[list[redis.asyncio.Redis]]:
    url = redis_url(redis_dir).url
    made = [redis.asyncio.Redis.from_url(url) for _ in range(3)]
    yield made
    for client in made:
        await client.aclose()


async def grants(limiters: list[RateLimiter], per_limiter: int) -> tuple[list[float], list[float]]:
    """Every limiter (one per simulated process) sends `per_limiter` messages, all at once:
    the granted slots (server clock) and the times each `acquire` returned (local clock)."""
    slots: list[float] = []
    woke: list[float] = []

    async def sender(limiter: RateLimiter) -> None:
        for _ in range(per_limiter):
            slots.append((await limiter.acquire()).at)
            woke.append(time.monotonic())

    await asyncio.gather(*(sender(limiter) for limiter in limiters))
    return sorted(slots), sorted(woke)


async def test_min_interval_holds_across_processes(clients: list[redis.asyncio.Redis]) -> None:
    limiters = [RateLimiter(c, limit=1000, min_interval_seconds=0.05) for c in clients]
    slots, woke = await grants(limiters, per_limiter=4)
    assert len(slots) == len(set(slots)) == 12
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) >= 0.05 - 0.0015, gaps  # slots are whole milliseconds
    # The callers really waited for their slots, and not much longer than they had to.
    assert woke[-1] - woke[0] >= 11 * 0.05 - TOLERANCE
    assert woke[-1] - woke[0] <= 11 * 0.05 + 0.3


async def test_at_most_limit_per_window(clients: list[redis.asyncio.Redis]) -> None:
    window, limit = 0.6, 4
    limiters = [
        RateLimiter(c, limit=limit, min_interval_seconds=0, window_seconds=window) for c in clients
    ]
    slots, woke = await grants(limiters, per_limiter=4)  # 12 sends: three full windows
    for i, start in enumerate(slots):
        inside = [t for t in slots[i:] if t < start + window]
        assert len(inside) <= limit, (start, slots)
    # The first `limit` go at once; the 12th waits two windows.
    assert slots[limit - 1] - slots[0] < 0.1
    assert woke[-1] - woke[0] >= 2 * window - TOLERANCE


async def test_the_sender_spaces_every_chat_message(
    redis_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_outbox import ADMIN, MEMBER, OFFICER, ROOM, TOPIC, deliver_until, event, queue

    client = redis.Redis.from_url(redis_url(redis_dir).url)
    settings = load_bot_settings()
    settings = settings.model_copy(
        update={
            "outbox": settings.outbox.model_copy(
                update={"min_interval_seconds": 0.15, "batch_window_seconds": 0}
            ),
            "pipeline": settings.pipeline.model_copy(update={"block_ms": 50}),
        }
    )
    outbox = Outbox(client, settings, load_templates(), environ={})
    rooms = [f"{ROOM}-{n}" for n in range(3)]
    for n, room_id in enumerate(rooms):
        queue(outbox, client, event(n, room_id), Group(room_id, TOPIC, (ADMIN,), (OFFICER,), "", 0))
    chat = SandboxConnector()
    for room_id in rooms:
        chat.add_room(room_id, topic=TOPIC, owner_id=ADMIN, member_ids=(MEMBER, OFFICER))
    await deliver_until(outbox, chat, lambda: len(outbox.delivery_log()) == 9)
    said = [line.at for room_id in rooms for line in chat.transcript(room_id)]
    said += [line.at for who in (ADMIN, OFFICER) for line in chat.direct_messages(who)]
    gaps = [b - a for a, b in itertools.pairwise(sorted(said))]
    assert len(said) == 9
    # Slots are 0.15 s apart; a loaded machine may wake a send a little late (then the next
    # one looks early), but never anywhere near back to back.
    assert min(gaps) >= 0.15 - SEND_JITTER, gaps
    client.close()


async def test_settings_and_arguments(clients: list[redis.asyncio.Redis]) -> None:
    limiter = RateLimiter.from_settings(clients[0], load_bot_settings().outbox)
    assert (await limiter.acquire()).wait == 0  # the first message of a quiet minute goes at once
    with pytest.raises(ValueError):
        RateLimiter(clients[0], limit=0, min_interval_seconds=1)
