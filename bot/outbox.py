"""Notifications: an outbox in Redis, and the sender that delivers it.

Writers (a worker after a scan, the intake for command replies) queue entries inside their own
MULTI/EXEC: `queue_for_incident` adds the member's warning in the group, a DM to each admin
and officer of the group, a webhook call and an e-mail. Each entry has a deterministic id
(incident, job, channel, recipient) and a "queued" key, set by the same Lua script that adds
the entry, so a job that is processed twice queues nothing twice. The warning goes to its own
stream, read before the other one: the member has 2 minutes to recall.

Per-group cooldown: the script that queues a warning also sets the room's cooldown key with
SET NX PX; when the key is already there, the warning is dropped. The check and the queueing
are one atomic step at EXEC time, so a burst of 20 photos scanned by several workers at once
gives one warning.

The sender (`run_sender`, one or more per deployment) reads both streams in the consumer group
`senders`, sends every chat message through the shared `RateLimiter`, and acknowledges an
entry only after delivery, with a "sent" key so that a re-read entry is never sent twice. On
start it re-reads its own pending entries (a restart loses nothing); entries a silent sender
left pending are taken over after `outbox.claim_idle_seconds`. A failed delivery is retried with
exponential backoff up to `outbox.max_attempts`, then moved to the failed-delivery stream and
logged; nothing is dropped silently.

Batching: the first alert DM to a person is sent at once and opens a window of
`outbox.batch_window_seconds`; alerts to that person within the window are held in a Redis list
and sent as one batched DM when it closes (which opens the next window).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
import redis.asyncio
from redis.client import Pipeline

from bot import keys, metrics
from bot.connectors.base import ChatConnector
from bot.groups import Group
from bot.incidents import IncidentEvent
from bot.jobs import ScanJob
from bot.mailer import Mailer, MailRejected
from bot.ratelimit import RateLimiter
from bot.redis_text import text, text_map
from bot.settings import BotSettings
from bot.templates import Templates
from bot.webhook import WebhookClient, WebhookRejected

log = logging.getLogger(__name__)

# Channels: where an entry goes.
ROOM = "room"
DIRECT = "direct"
WEBHOOK = "webhook"
EMAIL = "email"
CHAT_CHANNELS = (ROOM, DIRECT)

# Kinds: what an entry says.
WARNING = "warning"
ALERT = "alert"
SPREAD = "spread"
DEAD_LETTER = "dead_letter"
RECALL = "recall"
TEXT = "text"
BATCHED_KINDS = (ALERT, SPREAD)

STREAMS = (keys.OUTBOX_URGENT_STREAM, keys.OUTBOX_STREAM)
"""Read in this order: member warnings first."""

_LOCK_LEASE_CHAT_MS = 60_000
_LOCK_LEASE_EXTERNAL_MS = 900_000  # a webhook's own retries may take minutes
_RECLAIM_BATCH = 100
_EXTERNAL_DRAIN_SECONDS = 10.0
_MIN_WAIT_MS = 20

# KEYS: queued key, stream[, cooldown key]. ARGV: entry JSON, dedup ms[, cooldown ms, entry id].
# Returns 1 when queued, 0 when queued before, -1 when the room's warning cooldown is active.
_QUEUE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
if #KEYS == 3 and not redis.call('SET', KEYS[3], ARGV[4], 'NX', 'PX', ARGV[3]) then
  redis.call('SET', KEYS[1], 'cooldown', 'PX', ARGV[2])
  return -1
end
redis.call('SET', KEYS[1], 'queued', 'PX', ARGV[2])
redis.call('XADD', KEYS[2], '*', 'entry', ARGV[1])
return 1
"""

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


@dataclass(frozen=True)
class OutboxEntry:
    """One delivery: a chat message, a webhook call or an e-mail. Self-contained: the text is
    rendered when it is queued, so the sender needs nothing but the entry."""

    entry_id: str
    kind: str
    channel: str
    recipient: str = ""
    """Room id (ROOM), contact id (DIRECT); empty for webhook and e-mail."""
    text: str = ""
    """The chat message, or the e-mail body."""
    mention_ids: tuple[str, ...] = ()
    subject: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    """The webhook's JSON body."""
    incident_id: str = ""
    group: str = ""
    """The group's topic, for the lines of a batched alert."""
    received_at: float = 0.0
    """When the bot received the message this is about (latency is measured from here)."""
    queued_at: float = 0.0

    @property
    def batchable(self) -> bool:
        return self.channel == DIRECT and self.kind in BATCHED_KINDS

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> OutboxEntry:
        data = json.loads(raw)
        data["mention_ids"] = tuple(data.get("mention_ids", ()))
        return cls(**data)


@dataclass(frozen=True)
class DeliveryRecord:
    """One delivered entry: the latency benchmark reads `sent_at - received_at`."""

    entry_id: str
    kind: str
    channel: str
    incident_id: str
    received_at: float
    queued_at: float
    sent_at: float
    batch_size: int


@dataclass(frozen=True)
class FailedDelivery:
    """An entry given up on, with the last error."""

    entry: OutboxEntry | None
    """None when the entry itself could not be read (its raw form is in `raw`)."""
    raw: str
    error: str
    attempts: int
    at: float


def entry_id(*parts: str) -> str:
    """The deterministic id of an entry: the same parts always give the same id."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class Outbox:
    """Queues notifications (inside the caller's transaction) and runs the sender."""

    def __init__(
        self,
        client: redis.Redis,
        settings: BotSettings,
        templates: Templates,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self._redis = client
        self._settings = settings
        self._templates = templates
        self.webhook = WebhookClient.from_settings(settings.webhook, env)
        self.mailer = Mailer.from_settings(settings.email, env)
        self._queue = client.register_script(_QUEUE)
        self._dedup_ms = round(settings.outbox.dedup_hours * 3_600_000)

    # --- queueing (inside the caller's MULTI) ------------------------------------------------

    def queue_for_incident(
        self, pipe: Pipeline | redis.Redis, event: IncidentEvent, group: Group | None
    ) -> list[str]:
        """Queue everything one incident sighting sends: the member's warning in the group
        (unless the group's cooldown is active when the transaction runs), an alert DM (or a
        spread note) to each admin and officer, a webhook call, an e-mail. Returns the ids."""
        job = event.job
        now = time.time()
        fields = self._incident_fields(event, group)
        warning = OutboxEntry(
            entry_id=entry_id(event.incident_id, job.job_id, ROOM, job.room_id),
            kind=WARNING,
            channel=ROOM,
            recipient=job.room_id,
            text=self._templates.render(
                "member_warning",
                member=fields["member"],
                item=fields["item"],
                group=fields["group"],
            ),
            mention_ids=(job.sender_id,),
            incident_id=event.incident_id,
            group=fields["group"],
            received_at=job.received_at,
            queued_at=now,
        )
        ids = [self._add(pipe, warning, cooldown_room=job.room_id)]
        if event.is_new:
            kind, message = ALERT, self._templates.render("officer_alert", **fields)
        else:
            first = event.first_room_topic or event.first_room_id or ""
            kind, message = (
                SPREAD,
                self._templates.render("spread_note", **fields, first_group=first),
            )
        common: dict[str, Any] = {
            "incident_id": event.incident_id,
            "group": fields["group"],
            "received_at": job.received_at,
            "queued_at": now,
        }
        for contact in self.recipients(group):
            ids.append(
                self._add(
                    pipe,
                    OutboxEntry(
                        entry_id=entry_id(event.incident_id, job.job_id, DIRECT, contact),
                        kind=kind,
                        channel=DIRECT,
                        recipient=contact,
                        text=message,
                        **common,
                    ),
                )
            )
        payload = self._incident_payload(event, fields)
        ids += self._add_external(
            pipe, (event.incident_id, job.job_id), kind, message, payload, common
        )
        return ids

    def queue_dead_letter_notice(
        self, pipe: Pipeline | redis.Redis, job: ScanJob, reason: str, group: Group | None
    ) -> list[str]:
        """Tell the group's officers (its admins when it has none) that an item could not be
        scanned: group, member, time, the class of the reason; never the item or its name."""
        now = time.time()
        topic = _topic(job, group)
        fields = {
            "group": topic,
            "member": job.sender_name or job.sender_id,
            "time": self._templates.time(job.received_at),
            "item": self._templates.item(job.kind),
            "reason": self._templates.reason(reason),
        }
        message = self._templates.render("dead_letter_notice", **fields)
        common: dict[str, Any] = {"group": topic, "received_at": job.received_at, "queued_at": now}
        admins = group.admins if group else ()
        ids = []
        for contact in self._officers(group) or admins:
            ids.append(
                self._add(
                    pipe,
                    OutboxEntry(
                        entry_id=entry_id("dead", job.job_id, DIRECT, contact),
                        kind=DEAD_LETTER,
                        channel=DIRECT,
                        recipient=contact,
                        text=message,
                        **common,
                    ),
                )
            )
        payload = {
            "event": "scan.failed",
            "reason": reason.split(":", 1)[0].strip().lower(),
            "reason_name": fields["reason"],
            **self._job_payload(job, topic),
        }
        ids += self._add_external(pipe, ("dead", job.job_id), DEAD_LETTER, message, payload, common)
        return ids

    def queue_recall_notice(
        self,
        pipe: Pipeline | redis.Redis,
        incident_id: str,
        job: ScanJob,
        recalled_at: float,
        group: Group | None,
    ) -> list[str]:
        """Tell the group's admins and officers that the member recalled the message."""
        message = self._templates.render(
            "recall_noted",
            incident_id=incident_id,
            group=_topic(job, group),
            member=job.sender_name or job.sender_id,
            time=self._templates.time(recalled_at),
        )
        return [
            self._add(
                pipe,
                OutboxEntry(
                    entry_id=entry_id("recall", incident_id, job.job_id, DIRECT, contact),
                    kind=RECALL,
                    channel=DIRECT,
                    recipient=contact,
                    text=message,
                    incident_id=incident_id,
                    group=_topic(job, group),
                    received_at=recalled_at,
                    queued_at=time.time(),
                ),
            )
            for contact in self.recipients(group)
        ]

    def queue_text(
        self,
        pipe: Pipeline | redis.Redis,
        dedup_key: str,
        message: str,
        *,
        room_id: str | None = None,
        contact_id: str | None = None,
        mention_ids: tuple[str, ...] = (),
    ) -> str:
        """Queue a reply (rendered by the caller from `Templates`) to a room or a contact.
        `dedup_key` makes it once-only, e.g. the key of the message being answered."""
        if room_id is not None and contact_id is None:
            channel, recipient = ROOM, room_id
        elif contact_id is not None and room_id is None:
            channel, recipient = DIRECT, contact_id
        else:
            raise ValueError("queue_text needs exactly one of room_id and contact_id")
        entry = OutboxEntry(
            entry_id=entry_id("text", dedup_key, channel, recipient),
            kind=TEXT,
            channel=channel,
            recipient=recipient,
            text=message,
            mention_ids=mention_ids,
            queued_at=time.time(),
        )
        return self._add(pipe, entry)

    def recipients(self, group: Group | None) -> tuple[str, ...]:
        """The group's admins and officers, each once (someone may be both)."""
        admins = group.admins if group else ()
        return tuple(dict.fromkeys((*admins, *self._officers(group))))

    def _officers(self, group: Group | None) -> tuple[str, ...]:
        return group.officers if group and group.officers else self._settings.officers

    def _add(
        self, pipe: Pipeline | redis.Redis, entry: OutboxEntry, cooldown_room: str = ""
    ) -> str:
        stream = keys.OUTBOX_URGENT_STREAM if entry.kind == WARNING else keys.OUTBOX_STREAM
        script_keys = [keys.OUTBOX_QUEUED + entry.entry_id, stream]
        args: list[str | int] = [entry.to_json(), self._dedup_ms]
        cooldown_ms = round(self._settings.outbox.group_warning_cooldown_seconds * 1000)
        if cooldown_room and cooldown_ms > 0:
            script_keys.append(keys.OUTBOX_COOLDOWN + cooldown_room)
            args += [cooldown_ms, entry.entry_id]
        self._queue(keys=script_keys, args=args, client=pipe)
        return entry.entry_id

    def _add_external(
        self,
        pipe: Pipeline | redis.Redis,
        id_parts: tuple[str, ...],
        kind: str,
        message: str,
        payload: dict[str, Any],
        common: Mapping[str, Any],
    ) -> list[str]:
        ids = []
        if self.webhook is not None:
            webhook_id = entry_id(*id_parts, WEBHOOK, "")
            body = {"delivery_id": webhook_id, **payload}
            entry = OutboxEntry(webhook_id, kind, WEBHOOK, payload=body, **common)
            ids.append(self._add(pipe, entry))
        if self.mailer is not None:
            subject = message.split("\n", 1)[0]
            entry = OutboxEntry(
                entry_id(*id_parts, EMAIL, ""), kind, EMAIL, text=message, subject=subject, **common
            )
            ids.append(self._add(pipe, entry))
        return ids

    def _incident_fields(self, event: IncidentEvent, group: Group | None) -> dict[str, str]:
        job = event.job
        return {
            "incident_id": event.incident_id,
            "group": _topic(job, group),
            "member": job.sender_name or job.sender_id,
            "time": self._templates.time(job.received_at),
            "item": self._templates.item(job.kind),
            "findings": self._templates.findings(event.findings),
            "verdict": self._templates.verdict(event.verdict),
            "link": self.incident_link(event.incident_id),
        }

    def _incident_payload(self, event: IncidentEvent, fields: Mapping[str, str]) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "event": "incident.new" if event.is_new else "incident.spread",
            "incident_id": event.incident_id,
            "verdict": event.verdict,
            "verdict_name": fields["verdict"],
            "findings": [
                {k: f.get(k) for k in ("detector", "label", "page", "confidence")}
                for f in event.findings
            ],
            "finding_names": self._templates.finding_names(event.findings),
            "link": fields["link"],
            **self._job_payload(event.job, fields["group"]),
        }
        if not event.is_new:
            payload["first_group"] = {
                "room_id": event.first_room_id,
                "topic": event.first_room_topic,
            }
        return payload

    def _job_payload(self, job: ScanJob, topic: str) -> dict[str, Any]:
        return {
            "group": {"room_id": job.room_id, "topic": topic},
            "member": {"id": job.sender_id, "name": job.sender_name},
            "item": job.kind,
            "message_key": job.job_id,
            "time": datetime.fromtimestamp(job.received_at, tz=UTC).isoformat(),
            "received_at": job.received_at,
        }

    def incident_link(self, incident_id: str) -> str:
        console = self._settings.console
        return console.public_url.rstrip("/") + console.incident_path.format(
            incident_id=incident_id
        )

    def incidents_link(self) -> str:
        console = self._settings.console
        return console.public_url.rstrip("/") + console.incidents_path

    # --- reading back ------------------------------------------------------------------------

    def delivery_log(self, count: int = 1000) -> list[DeliveryRecord]:
        """The newest delivered entries, newest first."""
        records = []
        for _, raw in self._redis.xrevrange(keys.OUTBOX_LOG, count=count):
            f = text_map(raw)
            records.append(
                DeliveryRecord(
                    entry_id=f["entry_id"],
                    kind=f["kind"],
                    channel=f["channel"],
                    incident_id=f["incident_id"],
                    received_at=float(f["received_at"]),
                    queued_at=float(f["queued_at"]),
                    sent_at=float(f["sent_at"]),
                    batch_size=int(f["batch_size"]),
                )
            )
        return records

    def failed_deliveries(self, count: int = 100) -> list[FailedDelivery]:
        """The newest entries given up on, newest first."""
        failed = []
        for _, raw in self._redis.xrevrange(keys.OUTBOX_FAILED, count=count):
            f = text_map(raw)
            try:
                entry: OutboxEntry | None = OutboxEntry.from_json(f["entry"])
            except (ValueError, TypeError):
                entry = None
            failed.append(
                FailedDelivery(entry, f["entry"], f["error"], int(f["attempts"]), float(f["at"]))
            )
        return failed

    def backlog(self) -> int:
        """Entries not delivered yet: in the streams, or held for a batched DM."""
        pipe = self._redis.pipeline(transaction=False)
        for stream in STREAMS:
            pipe.xlen(stream)
        pipe.zrange(keys.OUTBOX_HELD_DUE, 0, -1)
        *lengths, contacts = pipe.execute()
        for contact in contacts:
            pipe.llen(keys.OUTBOX_HELD + text(contact))
        return sum(int(n) for n in lengths) + sum(int(n) for n in pipe.execute())

    # --- sending -----------------------------------------------------------------------------

    async def run_sender(
        self,
        connector: ChatConnector,
        stop: asyncio.Event,
        *,
        consumer: str | None = None,
        client: redis.asyncio.Redis | None = None,
    ) -> None:
        """Deliver the outbox until `stop` is set. `consumer` must be stable across restarts
        of one sender (its pending entries are re-read on start) and differ between senders
        running at the same time."""
        async_client = client or _async_twin(self._redis)
        sender = _Sender(
            self,
            async_client,
            connector,
            consumer or f"sender-{socket.gethostname()}",
            RateLimiter.from_settings(async_client, self._settings.outbox),
        )
        try:
            await sender.run(stop)
        finally:
            if client is None:
                await async_client.aclose()

    def batch_text(self, entries: Sequence[OutboxEntry]) -> str:
        """One DM for several alerts: per group, how many and their ids; the console link."""
        by_group: dict[str, list[str]] = {}
        for entry in entries:
            shown = (
                self._templates.render("batched_spread_id", incident_id=entry.incident_id)
                if entry.kind == SPREAD
                else entry.incident_id
            )
            ids = by_group.setdefault(entry.group, [])
            if shown not in ids:
                ids.append(shown)
        counts: dict[str, int] = {}
        for entry in entries:
            counts[entry.group] = counts.get(entry.group, 0) + 1
        lines = [
            self._templates.render(
                "batched_group_line", group=group, count=counts[group], ids="、".join(ids)
            )
            for group, ids in by_group.items()
        ]
        return self._templates.render(
            "batched_alert",
            count=len(entries),
            lines="\n".join(lines),
            link=self.incidents_link(),
            window=f"{self._settings.outbox.batch_window_seconds:g}",
        )


def _topic(job: ScanJob, group: Group | None) -> str:
    return (group.topic if group else "") or job.room_topic or job.room_id


def _async_twin(client: redis.Redis) -> redis.asyncio.Redis:
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


class _Sender:
    """The delivery loop of one sender process (see the module docstring)."""

    def __init__(
        self,
        outbox: Outbox,
        client: redis.asyncio.Redis,
        connector: ChatConnector,
        consumer: str,
        limiter: RateLimiter,
    ) -> None:
        self._outbox = outbox
        self._settings = outbox._settings.outbox
        self._block_ms = outbox._settings.pipeline.block_ms
        self._redis = client
        self._connector = connector
        self._consumer = consumer
        self._limiter = limiter
        self._lock = client.register_script(_LOCK)
        self._forget_if_empty = client.register_script(_FORGET_IF_EMPTY)
        self._retry: dict[tuple[str, str], tuple[float, _Read]] = {}
        self._external: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._next_claim = 0.0
        self._dedup_s = round(self._settings.dedup_hours * 3600)

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
                entries = reply[0][1] if reply else []
                if not entries:
                    break
                for stream_id, fields in entries:
                    self._schedule(await self._parse(stream, stream_id, fields), 0.0)
                cursor = text(entries[-1][0])

    async def _claim_stale(self) -> None:
        """Entries that a silent sender read and never acknowledged."""
        idle_ms = round(self._settings.claim_idle_seconds * 1000)
        for stream in STREAMS:
            reply = await self._redis.xautoclaim(
                stream, keys.OUTBOX_GROUP, self._consumer, idle_ms, "0-0", count=_RECLAIM_BATCH
            )
            for stream_id, fields in reply[1]:
                read = await self._parse(stream, stream_id, fields)
                if read is not None and (stream, read.stream_id) not in self._retry:
                    self._schedule(read, 0.0)

    async def _step(self) -> None:
        """One unit of work, most urgent first: a new warning, a due retry, a due batch, then
        a new entry of either stream (waiting for one up to `block_ms`)."""
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
        if await self._flush_due_batch(now):
            return
        wait_ms = self._block_ms
        upcoming = [at for at, _ in self._retry.values()]
        upcoming += [float(s) for _, s in await self._next_batch_due()]
        if upcoming:
            # A batch due now but locked by another sender: look again shortly, not at once.
            wait_ms = max(_MIN_WAIT_MS, min(wait_ms, round((min(upcoming) - now) * 1000)))
        reads = await self._read(
            {keys.OUTBOX_URGENT_STREAM: ">", keys.OUTBOX_STREAM: ">"}, block_ms=wait_ms, count=1
        )
        for read in reads:
            await self._handle(read)

    async def _read(self, streams: dict[str, str], block_ms: int | None, count: int) -> list[_Read]:
        reply = await self._redis.xreadgroup(
            keys.OUTBOX_GROUP, self._consumer, streams, count=count, block=block_ms
        )
        reads = []
        for stream, entries in reply or []:
            for stream_id, fields in entries:
                read = await self._parse(text(stream), stream_id, fields)
                if read is not None:
                    reads.append(read)
        return reads

    async def _parse(
        self, stream: str, stream_id: object, fields: Mapping[Any, Any]
    ) -> _Read | None:
        """An entry as read; a deleted one (acknowledged meanwhile) is dropped from the pending
        list, an unreadable one goes to the failed list."""
        sid = text(stream_id)
        if not fields:
            await self._redis.xack(stream, keys.OUTBOX_GROUP, sid)
            return None
        raw = text_map(fields).get("entry", "")
        try:
            return _Read(stream, sid, raw, OutboxEntry.from_json(raw))
        except (ValueError, TypeError) as exc:
            read = _Read(stream, sid, raw, None)
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

    # --- batching ----------------------------------------------------------------------------

    async def _hold_if_windowed(self, read: _Read) -> bool:
        """Hold an alert for the batched DM when its recipient got one within the window (or
        alerts are held for them already); False: send it now."""
        entry = read.entry
        assert entry is not None
        if self._settings.batch_window_seconds <= 0:
            return False
        contact = entry.recipient
        held_key = keys.OUTBOX_HELD + contact
        window_ms = await self._redis.pttl(keys.OUTBOX_WINDOW + contact)
        if window_ms <= 0 and not await self._redis.llen(held_key):
            return False
        due = time.time() + max(window_ms, 0) / 1000
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(held_key, read.raw)
            pipe.zadd(keys.OUTBOX_HELD_DUE, {contact: due}, nx=True)
            self._queue_ack(pipe, read)
            await pipe.execute()
        return True

    async def _next_batch_due(self) -> list[tuple[Any, float]]:
        return list(await self._redis.zrange(keys.OUTBOX_HELD_DUE, 0, 0, withscores=True))

    async def _flush_due_batch(self, now: float) -> bool:
        """Send the held alerts of one person whose window has closed, as one DM."""
        due = await self._redis.zrangebyscore(keys.OUTBOX_HELD_DUE, "-inf", now, start=0, num=1)
        if not due:
            return False
        contact = text(due[0])
        held_key = keys.OUTBOX_HELD + contact
        lock_name = "batch:" + contact
        if not await self._locked(lock_name, _LOCK_LEASE_CHAT_MS):
            return False
        raws = [text(r) for r in await self._redis.lrange(held_key, 0, -1)]
        entries = []
        for raw in raws:
            try:
                entries.append(OutboxEntry.from_json(raw))
            except (ValueError, TypeError) as exc:
                await self._record_failure(raw, f"unreadable held entry: {exc}", 0)
        sent = await self._redis.mget([keys.OUTBOX_SENT + e.entry_id for e in entries] or ["-"])
        entries = [e for e, s in zip(entries, sent, strict=False) if s is None]
        try:
            if entries:
                message = entries[0].text if len(entries) == 1 else self._outbox.batch_text(entries)
                await self._say(DIRECT, contact, message, ())
        except Exception as exc:
            await self._failed_batch(contact, raws, entries, exc)
            return True
        now = time.time()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.ltrim(held_key, len(raws), -1)
            for entry in entries:
                self._queue_sent(pipe, entry, now, len(entries))
            if entries:
                self._queue_window(pipe, contact)
            await self._forget_if_empty(
                keys=[held_key, keys.OUTBOX_HELD_DUE], args=[contact], client=pipe
            )
            pipe.hdel(keys.OUTBOX_ATTEMPTS, lock_name)
            pipe.delete(keys.OUTBOX_LOCK + lock_name)
            await pipe.execute()
        return True

    async def _failed_batch(
        self, contact: str, raws: list[str], entries: list[OutboxEntry], exc: Exception
    ) -> None:
        lock_name = "batch:" + contact
        attempts = int(await self._redis.hincrby(keys.OUTBOX_ATTEMPTS, lock_name, 1))
        error = f"{type(exc).__name__}: {exc}"
        if attempts < self._settings.max_attempts:
            log.warning("batched DM to %s failed (attempt %d): %s", contact, attempts, error)
            retry_at = time.time() + self._backoff(attempts)
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zadd(keys.OUTBOX_HELD_DUE, {contact: retry_at})
                pipe.delete(keys.OUTBOX_LOCK + lock_name)
                await pipe.execute()
            return
        log.error("batched DM to %s given up after %d attempts: %s", contact, attempts, error)
        held_key = keys.OUTBOX_HELD + contact
        async with self._redis.pipeline(transaction=True) as pipe:
            for entry in entries:
                self._queue_failure(pipe, entry.to_json(), error, attempts)
            pipe.ltrim(held_key, len(raws), -1)
            await self._forget_if_empty(
                keys=[held_key, keys.OUTBOX_HELD_DUE], args=[contact], client=pipe
            )
            pipe.hdel(keys.OUTBOX_ATTEMPTS, lock_name)
            pipe.delete(keys.OUTBOX_LOCK + lock_name)
            await pipe.execute()

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
            if self._outbox.webhook is None:
                raise LookupError("the webhook is no longer configured")
            await self._outbox.webhook.deliver(entry.entry_id, entry.payload)
        else:
            if self._outbox.mailer is None:
                raise LookupError("e-mail is no longer configured")
            await self._outbox.mailer.send(entry.subject, entry.text, entry.entry_id)

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
                self._queue_sent(pipe, read.entry, now, batch_size)
                self._queue_ack(pipe, read)
                pipe.hdel(keys.OUTBOX_ATTEMPTS, read.entry.entry_id)
                pipe.delete(keys.OUTBOX_LOCK + read.entry.entry_id)
            if window_contact is not None:
                self._queue_window(pipe, window_contact)
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
                self._queue_failure(pipe, read.raw, error, attempts)
                self._queue_ack(pipe, read)
                if read.entry is not None:
                    pipe.hdel(keys.OUTBOX_ATTEMPTS, read.entry.entry_id)
                    pipe.delete(keys.OUTBOX_LOCK + read.entry.entry_id)
            await pipe.execute()

    async def _record_failure(self, raw: str, error: str, attempts: int) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            self._queue_failure(pipe, raw, error, attempts)
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

    def _queue_sent(
        self, pipe: redis.asyncio.client.Pipeline, entry: OutboxEntry, now: float, batch_size: int
    ) -> None:
        pipe.set(keys.OUTBOX_SENT + entry.entry_id, repr(now), ex=self._dedup_s)
        metrics.count_alert_sent(pipe, entry.channel)
        if entry.kind == WARNING and entry.received_at:
            metrics.observe(pipe, metrics.WARNING_SECONDS, max(0.0, now - entry.received_at))
        pipe.xadd(
            keys.OUTBOX_LOG,
            {
                "entry_id": entry.entry_id,
                "kind": entry.kind,
                "channel": entry.channel,
                "incident_id": entry.incident_id,
                "received_at": repr(entry.received_at),
                "queued_at": repr(entry.queued_at),
                "sent_at": repr(now),
                "batch_size": str(batch_size),
            },
            maxlen=self._settings.log_max_entries,
            approximate=True,
        )

    def _queue_failure(
        self, pipe: redis.asyncio.client.Pipeline, raw: str, error: str, attempts: int
    ) -> None:
        fields = {"entry": raw, "error": error, "attempts": str(attempts), "at": repr(time.time())}
        pipe.xadd(
            keys.OUTBOX_FAILED, fields, maxlen=self._settings.log_max_entries, approximate=True
        )

    def _queue_window(self, pipe: redis.asyncio.client.Pipeline, contact: str) -> None:
        window_ms = round(self._settings.batch_window_seconds * 1000)
        if window_ms > 0:
            pipe.set(keys.OUTBOX_WINDOW + contact, "1", px=window_ms)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
