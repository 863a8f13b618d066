"""Watches Redis from the bot process: replays the intake's spool and tells the officers.

Every `intake.outage_poll_seconds` a PING (on a client of its own that neither retries nor
waits long, so a dead server is noticed at once). While Redis does not answer, the intake
spools what arrives. Once the outage has lasted `intake.outage_alert_seconds`, the officers
get a direct message through the connector itself: the outbox and its rate limiter live in
Redis, so this one message per officer and outage bypasses them. When Redis answers again the
spool is replayed in order, and the officers who were told get a second message through the
outbox: how long it lasted and how many messages were kept and replayed (or refused because
the spool was full).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bot.connectors.base import ChatConnector
from bot.groups import Groups
from bot.intake import REDIS_OUTAGE, Intake
from bot.outbox import Outbox
from bot.settings import BotSettings
from bot.templates import Templates

log = logging.getLogger(__name__)


class OutageWatch:
    def __init__(
        self,
        client: redis.Redis,
        settings: BotSettings,
        connector: ChatConnector,
        intake: Intake,
        groups: Groups,
        outbox: Outbox,
        templates: Templates,
    ) -> None:
        pool = client.connection_pool
        kwargs = {
            **pool.connection_kwargs,
            "socket_timeout": 2.0,
            "socket_connect_timeout": 2.0,
            "retry": Retry(NoBackoff(), 0),
        }
        self._probe = redis.Redis(
            connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
        )
        self._redis = client
        self._settings = settings.intake
        self._officers = settings.officers
        self._connector = connector
        self._intake = intake
        self._groups = groups
        self._outbox = outbox
        self._templates = templates
        self._down_since: float | None = None
        self._told: tuple[str, ...] = ()
        self._spooled = 0

    def remember_recipients(self) -> None:
        """The officers to tell (the organisation's and every enrolled group's), read while
        Redis is up: during the outage nothing can be looked up."""
        officers = set(self._officers)
        for group in self._groups.list():
            officers.update(self._groups.officers_of(group))
        self._officers = tuple(sorted(officers))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.check()
            except Exception:  # the watch must outlive a bug in one round
                log.exception("outage watch round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._settings.outage_poll_seconds)

    async def check(self) -> None:
        """One round: probe, replay or tell."""
        if not await asyncio.to_thread(self._answers):
            self._intake.redis_down = True
            now = time.time()
            if self._down_since is None:
                self._down_since = now
                log.error("Redis unreachable; incoming messages go to the spool")
            if not self._told and now - self._down_since >= self._settings.outage_alert_seconds:
                await self._tell_down()
            return
        if self._intake.redis_down or self._down_since is not None or self._intake.spooled:
            await self._recover()

    def _answers(self) -> bool:
        try:
            return bool(self._probe.ping())
        except redis.RedisError:
            return False

    async def _recover(self) -> None:
        try:
            self._spooled += await self._intake.replay_spool()
            self._intake.redis_down = False  # new messages now wait only behind the spool
            while self._intake.spooled:  # what arrived during the replay
                self._spooled += await self._intake.replay_spool()
        except REDIS_OUTAGE:  # away again: the rest stays spooled for the next round
            self._intake.redis_down = True
            return
        if self._down_since is None:  # the intake met a blip that the probe never saw
            self._down_since = time.time()
        log.info("Redis back; %d spooled messages taken in", self._spooled)
        if self._told:
            self._tell_over()
        self._down_since, self._told, self._spooled = None, (), 0

    async def _tell_down(self) -> None:
        assert self._down_since is not None
        text = self._templates.render(
            "redis_outage",
            since=self._templates.time(self._down_since),
            minutes=max(1, round((time.time() - self._down_since) / 60)),
        )
        told = []
        for officer in self._officers:
            try:
                await asyncio.wait_for(self._connector.send_direct(officer, text), 30)
            except Exception as exc:  # the next round tries the ones not reached
                log.warning("outage notice to %s failed: %s", officer, exc)
                continue
            told.append(officer)
        self._told = tuple(told)

    def _tell_over(self) -> None:
        assert self._down_since is not None
        text = self._templates.render(
            "redis_outage_over",
            since=self._templates.time(self._down_since),
            until=self._templates.time(time.time()),
            spooled=self._spooled,
            refused=self._intake.spool_refused,
        )
        for officer in self._told:
            self._outbox.queue_text(
                self._redis, f"outage:{self._down_since}", text, contact_id=officer
            )
