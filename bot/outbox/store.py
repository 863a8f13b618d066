"""The outbox in Redis: what an entry is, how it is queued once, and what delivery leaves.

Writers queue entries inside their own MULTI/EXEC (`add`). Each entry has a deterministic id
(incident, job, channel, recipient) and a "queued" key, set by the same Lua script that adds
the entry, so a job that is processed twice queues nothing twice. Member warnings go to their
own stream, read before the other one: the member has 2 minutes to recall.

The records a delivery leaves (the "sent" key, the delivery log, the failed list) are written
by the functions at the end, inside the sender's transactions.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import redis
import redis.asyncio
from redis.client import Pipeline

from bot import keys, metrics
from bot.redis_text import Fields, stream_entries, text
from bot.settings import OutboxSettings

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

# KEYS: queued key, stream. ARGV: entry JSON, dedup ms. Returns 1 when queued, 0 when queued
# before.
_QUEUE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('SET', KEYS[1], 'queued', 'PX', ARGV[2])
redis.call('XADD', KEYS[2], '*', 'entry', ARGV[1])
return 1
"""

AsyncPipeline = redis.asyncio.client.Pipeline


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
    message_key: str = ""
    """The message a member warning is about (its sighting on the incident)."""

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


@dataclass(frozen=True)
class Pile:
    """Entries held per recipient and sent together when their time is due: alerts to one
    person in one batched DM, warnings in one group in one merged message."""

    name: str
    """Names the pile's delivery lock and attempt counter, with the recipient."""
    held: str
    """+ recipient -> list of entry JSON, oldest first."""
    due: str
    """zset: recipient -> unix time its held entries are due."""
    window: str
    """+ recipient -> set (expiring) while entries to it are held rather than sent."""


DM_BATCHES = Pile("batch", keys.OUTBOX_HELD, keys.OUTBOX_HELD_DUE, keys.OUTBOX_WINDOW)
MERGED_WARNINGS = Pile("warn", keys.OUTBOX_WARN_HELD, keys.OUTBOX_WARN_DUE, keys.OUTBOX_WARN_WINDOW)
PILES = (DM_BATCHES, MERGED_WARNINGS)


def entry_id(*parts: str) -> str:
    """The deterministic id of an entry: the same parts always give the same id."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class OutboxStore:
    """Adds entries (inside the caller's transaction) and reads back what was delivered."""

    def __init__(self, client: redis.Redis, settings: OutboxSettings) -> None:
        self._redis = client
        self._settings = settings
        self._queue = client.register_script(_QUEUE)
        self._dedup_ms = round(settings.dedup_hours * 3_600_000)

    def add(self, pipe: Pipeline | redis.Redis, entry: OutboxEntry) -> str:
        stream = keys.OUTBOX_URGENT_STREAM if entry.kind == WARNING else keys.OUTBOX_STREAM
        script_keys = [keys.OUTBOX_QUEUED + entry.entry_id, stream]
        self._queue(keys=script_keys, args=[entry.to_json(), self._dedup_ms], client=pipe)
        return entry.entry_id

    def delivery_log(self, count: int = 1000) -> list[DeliveryRecord]:
        """The newest delivered entries, newest first."""
        records = []
        for _, f in stream_entries(self._redis.xrevrange(keys.OUTBOX_LOG, count=count)):
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
        for _, f in stream_entries(self._redis.xrevrange(keys.OUTBOX_FAILED, count=count)):
            try:
                entry: OutboxEntry | None = OutboxEntry.from_json(f["entry"])
            except (ValueError, TypeError):
                entry = None
            failed.append(
                FailedDelivery(entry, f["entry"], f["error"], int(f["attempts"]), float(f["at"]))
            )
        return failed

    def backlog(self) -> int:
        """Entries not delivered yet: in the streams, or held for a batched DM or a merged
        warning."""
        pipe = self._redis.pipeline(transaction=False)
        for stream in STREAMS:
            pipe.xlen(stream)
        for pile in PILES:
            pipe.zrange(pile.due, 0, -1)
        *lengths, dm_contacts, warned_rooms = pipe.execute()
        for pile, recipients in zip(PILES, (dm_contacts, warned_rooms), strict=True):
            for recipient in recipients:
                pipe.llen(pile.held + text(recipient))
        return sum(int(n) for n in lengths) + sum(int(n) for n in pipe.execute())


# --- what a delivery leaves (queued in the sender's transactions) ----------------------------


def queue_sent(
    pipe: AsyncPipeline,
    entry: OutboxEntry,
    now: float,
    batch_size: int,
    settings: OutboxSettings,
) -> None:
    """The entry was delivered: its "sent" key, the metrics and one delivery record."""
    pipe.set(keys.OUTBOX_SENT + entry.entry_id, repr(now), ex=round(settings.dedup_hours * 3600))
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
        maxlen=settings.log_max_entries,
        approximate=True,
    )


def queue_failure(
    pipe: AsyncPipeline, raw: str, error: str, attempts: int, settings: OutboxSettings
) -> None:
    """An entry given up on goes to the failed list, with the last error."""
    fields: Fields = {
        "entry": raw,
        "error": error,
        "attempts": str(attempts),
        "at": repr(time.time()),
    }
    pipe.xadd(keys.OUTBOX_FAILED, fields, maxlen=settings.log_max_entries, approximate=True)
