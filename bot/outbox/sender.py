"""The delivery engine: one sender loop per bot process.

A sender reads both streams in the consumer group `senders`, sends every chat message through
the shared `RateLimiter`, and acknowledges an entry only after delivery, with a "sent" key so
that a re-read entry is never sent twice. On start it re-reads its own pending entries (a
restart loses nothing); entries a silent sender left pending are taken over after
`outbox.claim_idle_seconds`. A failed delivery is retried with exponential backoff up to
`outbox.max_attempts`, then moved to the failed-delivery stream and logged; nothing is dropped
silently.

Merged warnings: every member warning waits in its group's pile, due at once or when
`outbox.group_warning_interval_seconds` since the group's last warning have passed; what is due
is sent as one message that @-mentions each member concerned (at most
`outbox.warning_max_mentions`; the rest follow in the next message). Its fate (sent, or given up
on) is recorded on the incident's sighting.

Batching: the first alert DM to a person is sent at once and opens a window of
`outbox.batch_window_seconds`; alerts to that person within the window are held in a Redis list
and sent as one batched DM when it closes (which opens the next window).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

import redis
import redis.asyncio

from bot import keys
from bot.blobs import DAY
from bot.connectors.base import ChatConnector
from bot.incidents import WARNING_FAILED, WARNING_SENT, queue_warned
from bot.mailer import Mailer, MailRejected
from bot.outbox.compose import Composer
from bot.outbox.store import (
    DIRECT,
    DM_BATCHES,
    EMAIL,
    MERGED_WARNINGS,
    PILES,
    ROOM,
    STREAMS,
    WARNING,
    WEBHOOK,
    OutboxEntry,
    Pile,
    queue_failure,
    queue_sent,
)
from bot.ratelimit import RateLimiter
from bot.redis_text import Streams, claimed, read_streams, scored, text
from bot.settings import BotSettings
from bot.webhook import WebhookClient, WebhookRejected

log = logging.getLogger(__name__)

_LOCK_LEASE_CHAT_MS = 60_000
_LOCK_LEASE_EXTERNAL_MS = 900_000  # a webhook's own retries may take minutes
_RECLAIM_BATCH = 100
_EXTERNAL_DRAIN_SECONDS = 10.0
_MIN_WAIT_MS = 20

# KEYS: lock key. ARGV: consumer, lease ms. A lock left by this consumer's previous life (a
# crash) is taken over at once; another consumer's waits for its lease to end.
_LOCK = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

# KEYS: held list, due zset. ARGV: contact. Forget the due time once nothing is held.
_FORGET_IF_EMPTY = """
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return 0
"""


def async_twin(client: redis.Redis) -> redis.asyncio.Redis:
    """An asyncio client on the same server as a synchronous one."""
    pool = client.connection_pool
    kwargs = pool.connection_kwargs
    common = {
        "db": kwargs.get("db", 0),
        "username": kwargs.get("username"),
        "password": kwargs.get("password"),
    }
    if issubclass(pool.connection_class, redis.UnixDomainSocketConnection):
        return redis.asyncio.Redis(unix_socket_path=kwargs["path"], **common)
    return redis.asyncio.Redis(
        host=kwargs.get("host", "localhost"),
        port=kwargs.get("port", 6379),
        ssl=issubclass(pool.connection_class, redis.SSLConnection),
        **common,
    )


@dataclass
class _Read:
    """One stream entry as the sender sees it."""

    stream: str
    stream_id: str
    raw: str
    entry: OutboxEntry | None


class Sender:
    """The delivery loop of one sender process (see the module docstring)."""

    def __init__(
        self,
        settings: BotSettings,
        composer: Composer,
        external: tuple[WebhookClient | None, Mailer | None],
        client: redis.asyncio.Redis,
        connector: ChatConnector,
        consumer: str,
    ) -> None:
        self._composer = composer
        self._webhook, self._mailer = external
        self._settings = settings.outbox
        self._block_ms = settings.pipeline.block_ms
        self._redis = client
        self._connector = connector
        self._consumer = consumer
        self._limiter = RateLimiter.from_settings(client, settings.outbox)
        self._lock = client.register_script(_LOCK)
        self._forget_if_empty = client.register_script(_FORGET_IF_EMPTY)
        self._retry: dict[tuple[str, str], tuple[float, _Read]] = {}
        self._external: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._next_claim = 0.0
        self._max_mentions = settings.outbox.warning_max_mentions
        self._evidence_s = max(1, round(settings.retention.evidence_days * DAY))

    async def run(self, stop: asyncio.Event) -> None:
        log.info("outbox sender %s started", self._consumer)
        ready = False
        while not stop.is_set():
            try:
                if not ready:
                    await self._ensure_groups()
                    await self._reread_own()
                    ready = True
                await self._step()
            except redis.RedisError as exc:
                # Redis restarting or unreachable: nothing is lost (the entries stay pending),
                # so wait and start over from the pending list.
                log.warning("outbox sender %s: Redis error, retrying: %s", self._consumer, exc)
                ready = False
                await _sleep_unless(stop, 1.0)
            except Exception:
                # A bug must not silence every later alert: log it, start over from the
                # pending list (the entry at hand is retried, counted, and kept if it fails).
                log.exception("outbox sender %s: unexpected error", self._consumer)
                ready = False
                await _sleep_unless(stop, 1.0)
        await self._drain_external()
        log.info("outbox sender %s stopped", self._consumer)

    async def _ensure_groups(self) -> None:
        for stream in STREAMS:
            try:
                await self._redis.xgroup_create(stream, keys.OUTBOX_GROUP, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def _reread_own(self) -> None:
        """Entries this consumer read before a restart and never acknowledged."""
        for stream in STREAMS:
            cursor = "0"
            while True:
                reply = await self._redis.xreadgroup(
                    keys.OUTBOX_GROUP, self._consumer, {stream: cursor}, count=_RECLAIM_BATCH
                )
                streams = read_streams(reply)
                entries = streams[0][1] if streams else []
                if not entries:
                    break
                for stream_id, fields in entries:
                    self._schedule(await self._parse(stream, stream_id, fields), 0.0)
                cursor = entries[-1][0]

    async def _claim_stale(self) -> None:
        """Entries that a silent sender read and never acknowledged."""
        idle_ms = round(self._settings.claim_idle_seconds * 1000)
        for stream in STREAMS:
            reply = await self._redis.xautoclaim(
                stream, keys.OUTBOX_GROUP, self._consumer, idle_ms, "0-0", count=_RECLAIM_BATCH
            )
            _, entries = claimed(reply)
            for stream_id, fields in entries:
                read = await self._parse(stream, stream_id, fields)
                if read is not None and (stream, read.stream_id) not in self._retry:
                    self._schedule(read, 0.0)

    async def _step(self) -> None:
        """One unit of work, most urgent first: a new warning (held for its group's message),
        a due retry, due warnings, a due batch, then a new entry of either stream (waiting for
        one up to `block_ms`)."""
        now = time.time()
        if now >= self._next_claim:
            self._next_claim = now + self._settings.claim_idle_seconds / 2
            await self._claim_stale()
        urgent = await self._read({keys.OUTBOX_URGENT_STREAM: ">"}, block_ms=None, count=1)
        if urgent:
            await self._handle(urgent[0])
            return
        due = [k for k, (at, _) in self._retry.items() if at <= now]
        if due:
            _, read = self._retry.pop(min(due, key=lambda k: self._retry[k][0]))
            await self._handle(read)
            return
        if await self._flush_due(MERGED_WARNINGS, now) or await self._flush_due(DM_BATCHES, now):
            return
        wait_ms = self._block_ms
        upcoming = [at for at, _ in self._retry.values()] + await self._next_due()
        if upcoming:
            # A batch due now but locked by another sender: look again shortly, not at once.
            wait_ms = max(_MIN_WAIT_MS, min(wait_ms, round((min(upcoming) - now) * 1000)))
        reads = await self._read(
            {keys.OUTBOX_URGENT_STREAM: ">", keys.OUTBOX_STREAM: ">"}, block_ms=wait_ms, count=1
        )
        for read in reads:
            await self._handle(read)

    async def _read(self, streams: Streams, block_ms: int | None, count: int) -> list[_Read]:
        reply = await self._redis.xreadgroup(
            keys.OUTBOX_GROUP, self._consumer, streams, count=count, block=block_ms
        )
        reads = []
        for stream, entries in read_streams(reply):
            for stream_id, fields in entries:
                read = await self._parse(stream, stream_id, fields)
                if read is not None:
                    reads.append(read)
        return reads

    async def _parse(self, stream: str, stream_id: str, fields: dict[str, str]) -> _Read | None:
        """An entry as read; a deleted one (acknowledged meanwhile) is dropped from the pending
        list, an unreadable one goes to the failed list."""
        if not fields:
            await self._redis.xack(stream, keys.OUTBOX_GROUP, stream_id)
            return None
        raw = fields.get("entry", "")
        try:
            return _Read(stream, stream_id, raw, OutboxEntry.from_json(raw))
        except (ValueError, TypeError) as exc:
            read = _Read(stream, stream_id, raw, None)
            await self._give_up([read], f"unreadable entry: {exc}", attempts=0)
            return None

    def _schedule(self, read: _Read | None, at: float) -> None:
        if read is not None:
            self._retry[(read.stream, read.stream_id)] = (at, read)

    async def _handle(self, read: _Read) -> None:
        entry = read.entry
        assert entry is not None
        if await self._redis.exists(keys.OUTBOX_SENT + entry.entry_id):
            await self._ack(read)
            return
        if entry.channel in (WEBHOOK, EMAIL):
            slot = (read.stream, read.stream_id)
            if slot not in self._external:
                task = asyncio.create_task(self._deliver_external(read))
                self._external[slot] = task
                task.add_done_callback(lambda _: self._external.pop(slot, None))
            return
        if entry.kind == WARNING:
            await self._hold_warning(read)
            return
        if entry.batchable and await self._hold_if_windowed(read):
            return
        await self._deliver_chat(read)

    # --- chat --------------------------------------------------------------------------------

    async def _deliver_chat(self, read: _Read) -> None:
        entry = read.entry
        assert entry is not None
        if not await self._locked(entry.entry_id, _LOCK_LEASE_CHAT_MS):
            self._schedule(read, time.time() + _LOCK_LEASE_CHAT_MS / 1000)
            return
        try:
            await self._say(entry.channel, entry.recipient, entry.text, entry.mention_ids)
        except Exception as exc:  # any failure of the platform: retried, then kept as failed
            await self._failed_attempt(read, exc, permanent=False)
            return
        window = entry.recipient if entry.batchable else None
        await self._delivered([read], batch_size=1, window_contact=window)

    async def _say(
        self, channel: str, recipient: str, message: str, mentions: tuple[str, ...]
    ) -> None:
        await self._limiter.acquire()
        timeout = self._settings.send_timeout_seconds
        if channel == ROOM:
            await asyncio.wait_for(
                self._connector.say_in_room(recipient, message, mentions), timeout
            )
        else:
            await asyncio.wait_for(self._connector.send_direct(recipient, message), timeout)

    # --- held piles: batched DMs, merged warnings -------------------------------------------

    async def _hold_if_windowed(self, read: _Read) -> bool:
        """Hold an alert for the batched DM when its recipient got one within the window (or
        alerts are held for them already); False: send it now."""
        entry = read.entry
        assert entry is not None
        if self._settings.batch_window_seconds <= 0:
            return False
        window_ms = await self._redis.pttl(DM_BATCHES.window + entry.recipient)
        if window_ms <= 0 and not await self._redis.llen(DM_BATCHES.held + entry.recipient):
            return False
        await self._hold(DM_BATCHES, read, window_ms)
        return True

    async def _hold_warning(self, read: _Read) -> None:
        """Every warning waits in its group's pile: due at once, or when the group's interval
        since its last warning ends; what is due together goes in one message."""
        assert read.entry is not None
        window_ms = await self._redis.pttl(MERGED_WARNINGS.window + read.entry.recipient)
        await self._hold(MERGED_WARNINGS, read, window_ms)

    async def _hold(self, pile: Pile, read: _Read, window_ms: int) -> None:
        assert read.entry is not None
        recipient = read.entry.recipient
        due = time.time() + max(window_ms, 0) / 1000
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(pile.held + recipient, read.raw)
            pipe.zadd(pile.due, {recipient: due}, nx=True)
            self._queue_ack(pipe, read)
            await pipe.execute()

    async def _next_due(self) -> list[float]:
        """When the next pile of each kind is due."""
        found = []
        for pile in PILES:
            found += [
                s for _, s in scored(await self._redis.zrange(pile.due, 0, 0, withscores=True))
            ]
        return found

    async def _flush_due(self, pile: Pile, now: float) -> bool:
        """Send what is held for one recipient whose time has come, as one message."""
        due = await self._redis.zrangebyscore(pile.due, "-inf", now, start=0, num=1)
        if not due:
            return False
        recipient = text(due[0])
        lock_name = f"{pile.name}:{recipient}"
        if not await self._locked(lock_name, _LOCK_LEASE_CHAT_MS):
            return False
        raws, entries, more = await self._take(pile, recipient)
        try:
            if entries:
                await self._say_held(pile, recipient, entries)
        except Exception as exc:
            await self._failed_pile(pile, recipient, raws, entries, exc)
            return True
        now = time.time()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.ltrim(pile.held + recipient, len(raws), -1)
            for entry in entries:
                queue_sent(pipe, entry, now, len(entries), self._settings)
                self._queue_warned(pipe, entry, WARNING_SENT, now)
            if entries:
                self._queue_window(pipe, pile, recipient)
            # What is left was cut off by the mentions (due now) or came meanwhile (due when
            # the window ends).
            next_due = now if more else now + self._window_seconds(pile)
            pipe.zadd(pile.due, {recipient: next_due}, xx=True)
            await self._forget_if_empty(
                keys=[pile.held + recipient, pile.due], args=[recipient], client=pipe
            )
            pipe.hdel(keys.OUTBOX_ATTEMPTS, lock_name)
            pipe.delete(keys.OUTBOX_LOCK + lock_name)
            await pipe.execute()
        return True

    async def _take(self, pile: Pile, recipient: str) -> tuple[list[str], list[OutboxEntry], bool]:
        """The held entries to send now, oldest first, as raw JSON (all of them, to trim) and
        as entries (those not sent before), and whether more are left: a merged warning takes
        as many as its mentions allow, the rest stay due."""
        raws: list[str] = []
        entries: list[OutboxEntry] = []
        members: set[str] = set()
        for raw in await self._redis.lrange(pile.held + recipient, 0, -1):
            try:
                entry = OutboxEntry.from_json(text(raw))
            except (ValueError, TypeError) as exc:
                raws.append(text(raw))
                await self._record_failure(text(raw), f"unreadable held entry: {exc}", 0)
                continue
            mentions = members | set(entry.mention_ids)
            if pile is MERGED_WARNINGS and entries and len(mentions) > self._max_mentions:
                return raws, await self._unsent(entries), True
            raws.append(text(raw))
            entries.append(entry)
            members = mentions
        return raws, await self._unsent(entries), False

    async def _unsent(self, entries: list[OutboxEntry]) -> list[OutboxEntry]:
        sent = await self._redis.mget([keys.OUTBOX_SENT + e.entry_id for e in entries] or ["-"])
        return [e for e, s in zip(entries, sent, strict=False) if s is None]

    async def _say_held(self, pile: Pile, recipient: str, entries: list[OutboxEntry]) -> None:
        if pile is MERGED_WARNINGS:
            message, mentions = self._composer.merged_warning(entries)
            await self._say(ROOM, recipient, message, mentions)
        else:
            one = len(entries) == 1
            message = entries[0].text if one else self._composer.batch_text(entries)
            await self._say(DIRECT, recipient, message, ())

    async def _failed_pile(
        self,
        pile: Pile,
        recipient: str,
        raws: list[str],
        entries: list[OutboxEntry],
        exc: Exception,
    ) -> None:
        lock_name = f"{pile.name}:{recipient}"
        attempts = int(await self._redis.hincrby(keys.OUTBOX_ATTEMPTS, lock_name, 1))
        error = f"{type(exc).__name__}: {exc}"
        if attempts < self._settings.max_attempts:
            log.warning(
                "held %s to %s failed (attempt %d): %s", pile.name, recipient, attempts, error
            )
            retry_at = time.time() + self._backoff(attempts)
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zadd(pile.due, {recipient: retry_at})
                pipe.delete(keys.OUTBOX_LOCK + lock_name)
                await pipe.execute()
            return
        log.error(
            "held %s to %s given up after %d attempts: %s", pile.name, recipient, attempts, error
        )
        now = time.time()
        async with self._redis.pipeline(transaction=True) as pipe:
            for entry in entries:
                queue_failure(pipe, entry.to_json(), error, attempts, self._settings)
                self._queue_warned(pipe, entry, WARNING_FAILED, now)
            pipe.ltrim(pile.held + recipient, len(raws), -1)
            await self._forget_if_empty(
                keys=[pile.held + recipient, pile.due], args=[recipient], client=pipe
            )
            pipe.hdel(keys.OUTBOX_ATTEMPTS, lock_name)
            pipe.delete(keys.OUTBOX_LOCK + lock_name)
            await pipe.execute()

    def _queue_warned(
        self, pipe: redis.asyncio.client.Pipeline, entry: OutboxEntry, state: str, at: float
    ) -> None:
        """A member warning's fate, on its incident's sighting."""
        if entry.kind == WARNING and entry.incident_id and entry.message_key:
            queue_warned(pipe, entry.incident_id, entry.message_key, state, at, self._evidence_s)

    # --- webhook and e-mail ------------------------------------------------------------------

    async def _deliver_external(self, read: _Read) -> None:
        """Runs as its own task: a webhook's retries must not hold up the group warnings."""
        entry = read.entry
        assert entry is not None
        try:
            if not await self._locked(entry.entry_id, _LOCK_LEASE_EXTERNAL_MS):
                self._schedule(read, time.time() + _LOCK_LEASE_EXTERNAL_MS / 1000)
                return
            try:
                await self._call_external(entry)
            except (WebhookRejected, MailRejected, LookupError) as exc:
                await self._failed_attempt(read, exc, permanent=True)
                return
            except Exception as exc:  # unreachable, 5xx, timeouts: retried, then kept as failed
                await self._failed_attempt(read, exc, permanent=False)
                return
            await self._delivered([read], batch_size=1, window_contact=None)
        except redis.RedisError as exc:
            # Left pending: the loop re-reads it after Redis is back.
            log.warning("outbox %s: Redis error after delivery attempt: %s", entry.entry_id, exc)

    async def _call_external(self, entry: OutboxEntry) -> None:
        if entry.channel == WEBHOOK:
            if self._webhook is None:
                raise LookupError("the webhook is no longer configured")
            await self._webhook.deliver(entry.entry_id, entry.payload)
        else:
            if self._mailer is None:
                raise LookupError("e-mail is no longer configured")
            await self._mailer.send(entry.subject, entry.text, entry.entry_id)

    async def _drain_external(self) -> None:
        """On stop: let webhook and e-mail calls in flight finish for a moment; the rest stay
        pending and are re-read by the next start."""
        tasks = list(self._external.values())
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=_EXTERNAL_DRAIN_SECONDS)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    # --- bookkeeping -------------------------------------------------------------------------

    async def _locked(self, name: str, lease_ms: int) -> bool:
        """Whether this consumer may deliver `name` now (no other sender is on it)."""
        got = await self._lock(keys=[keys.OUTBOX_LOCK + name], args=[self._consumer, lease_ms])
        return bool(got)

    async def _delivered(
        self, reads: list[_Read], batch_size: int, window_contact: str | None
    ) -> None:
        now = time.time()
        async with self._redis.pipeline(transaction=True) as pipe:
            for read in reads:
                assert read.entry is not None
                queue_sent(pipe, read.entry, now, batch_size, self._settings)
                self._queue_ack(pipe, read)
                pipe.hdel(keys.OUTBOX_ATTEMPTS, read.entry.entry_id)
                pipe.delete(keys.OUTBOX_LOCK + read.entry.entry_id)
            if window_contact is not None:
                self._queue_window(pipe, DM_BATCHES, window_contact)
            await pipe.execute()

    async def _failed_attempt(self, read: _Read, exc: Exception, permanent: bool) -> None:
        assert read.entry is not None
        error = f"{type(exc).__name__}: {exc}"
        attempts = int(await self._redis.hincrby(keys.OUTBOX_ATTEMPTS, read.entry.entry_id, 1))
        if permanent or attempts >= self._settings.max_attempts:
            log.error(
                "outbox %s %s to %r given up after %d attempts: %s",
                read.entry.kind,
                read.entry.channel,
                read.entry.recipient,
                attempts,
                error,
            )
            await self._give_up([read], error, attempts)
            return
        delay = self._backoff(attempts)
        log.warning(
            "outbox %s %s to %r failed (attempt %d), retry in %.1f s: %s",
            read.entry.kind,
            read.entry.channel,
            read.entry.recipient,
            attempts,
            delay,
            error,
        )
        await self._redis.delete(keys.OUTBOX_LOCK + read.entry.entry_id)
        self._schedule(read, time.time() + delay)

    async def _give_up(self, reads: list[_Read], error: str, attempts: int) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            for read in reads:
                queue_failure(pipe, read.raw, error, attempts, self._settings)
                self._queue_ack(pipe, read)
                if read.entry is not None:
                    pipe.hdel(keys.OUTBOX_ATTEMPTS, read.entry.entry_id)
                    pipe.delete(keys.OUTBOX_LOCK + read.entry.entry_id)
            await pipe.execute()

    async def _record_failure(self, raw: str, error: str, attempts: int) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            queue_failure(pipe, raw, error, attempts, self._settings)
            await pipe.execute()

    async def _ack(self, read: _Read) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            self._queue_ack(pipe, read)
            await pipe.execute()

    def _backoff(self, attempts: int) -> float:
        base = self._settings.retry_base_seconds * 2 ** (attempts - 1)
        return float(min(base, self._settings.retry_max_seconds))

    @staticmethod
    def _queue_ack(pipe: redis.asyncio.client.Pipeline, read: _Read) -> None:
        pipe.xack(read.stream, keys.OUTBOX_GROUP, read.stream_id)
        pipe.xdel(read.stream, read.stream_id)

    def _queue_window(
        self, pipe: redis.asyncio.client.Pipeline, pile: Pile, recipient: str
    ) -> None:
        window_ms = round(self._window_seconds(pile) * 1000)
        if window_ms > 0:
            pipe.set(pile.window + recipient, "1", px=window_ms)

    def _window_seconds(self, pile: Pile) -> float:
        if pile is MERGED_WARNINGS:
            return self._settings.group_warning_interval_seconds
        return self._settings.batch_window_seconds


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
