"""The scan queue: a Redis Stream read by the workers' consumer group.

At least once: a job stays in the group's pending list until the worker that scanned it
finishes it, in the same MULTI/EXEC that records its incident and queues its notifications
(`finish`). A worker that dies leaves its job pending; after `pipeline.claim_idle_seconds`
without a heartbeat another worker takes it over with XAUTOCLAIM (`reclaim`). A job delivered
more than `pipeline.max_attempts` times is moved to the dead-letter stream (`dead_letter`).

Every job has a key, `ls:job:<job_id>`: set when it is enqueued (so that a message delivered
twice to the bot is enqueued once) and set to "done" or "dead" when it is finished (so that a
job is finished once, whichever worker gets there first: workers WATCH that key). A finished
entry is deleted from the stream, so the stream holds exactly the jobs not yet finished.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

import redis
from redis.client import Pipeline

from bot import keys
from bot.blobs import Blobs, sha256_of
from bot.jobs import ScanJob
from bot.redis_text import StreamEntry, claimed, read_streams, stream_entries, text
from bot.settings import BotSettings

log = logging.getLogger(__name__)

QUEUED = "queued"
DONE = "done"
DEAD = "dead"


# SET NX and XADD in one step: a job id that is already known adds nothing.
_ENQUEUE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  return redis.call('XADD', KEYS[2], '*', 'job', ARGV[3])
end
return false
"""

# A heartbeat resets the idle time of a job this consumer still owns (JUSTID: without counting
# a delivery). It never takes a job back from a consumer that has reclaimed it meanwhile.
_TOUCH = """
local owned = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])
if #owned == 0 then
  return 0
end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
"""


@dataclass(frozen=True)
class Delivery:
    """One delivery of a job to a consumer."""

    entry_id: str
    job: ScanJob
    attempts: int
    """How many times the entry has been delivered, this delivery included."""


@dataclass(frozen=True)
class QueueDepth:
    pending: int
    """Delivered to a worker and not finished yet."""
    waiting: int
    """Not delivered to any worker yet."""

    @property
    def total(self) -> int:
        return self.pending + self.waiting


def queue_depth(client: redis.Redis) -> QueueDepth:
    """Jobs not finished yet (a finished job's entry is deleted from the stream): pending with
    a worker, or waiting for one. Read by the workers, the console and `/metrics`."""
    pipe = client.pipeline(transaction=True)
    pipe.xlen(keys.JOBS_STREAM)
    pipe.xpending(keys.JOBS_STREAM, keys.JOBS_GROUP)
    try:
        length, summary = pipe.execute()
    except redis.ResponseError:  # no group yet: nothing was ever queued
        return QueueDepth(pending=0, waiting=0)
    pending = int(summary["pending"])
    return QueueDepth(pending=pending, waiting=max(0, int(length) - pending))


@dataclass(frozen=True)
class DeadLetter:
    entry_id: str
    job: ScanJob | None
    """None when the entry was not a readable job at all."""
    reason: str
    attempts: int
    at: float


def job_key(job_id: str) -> str:
    return keys.JOB + job_id


class JobQueue:
    """The jobs stream, its consumer group and the dead-letter stream (keys in `bot.keys`)."""

    def __init__(self, client: redis.Redis, settings: BotSettings) -> None:
        self._redis = client
        self._pipeline = settings.pipeline
        self._record_max_entries = settings.retention.record_max_entries
        self._blobs = Blobs(client, settings)
        self._job_ttl = max(1, round(settings.pipeline.job_ttl_hours * 3600))
        self._enqueue = client.register_script(_ENQUEUE)
        self._touch = client.register_script(_TOUCH)
        self._claim_cursor = "0-0"

    def ensure_group(self) -> None:
        """Create the stream and the workers' group unless they exist (safe to repeat)."""
        try:
            self._redis.xgroup_create(keys.JOBS_STREAM, keys.JOBS_GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def enqueue(self, job: ScanJob, data: bytes | None = None) -> bool:
        """Queue `job` (with its bytes, stored first, when given). False when this job id was
        enqueued already: the same message delivered twice is scanned once."""
        if data is not None:
            if sha256_of(data) != job.sha256:
                raise ValueError(f"job {job.job_id}: the bytes do not match sha256 {job.sha256}")
            self._blobs.put(data)
        entry = self._enqueue(
            keys=[job_key(job.job_id), keys.JOBS_STREAM],
            args=[QUEUED, self._job_ttl, job.to_fields()["job"]],
        )
        return entry is not None

    def read(self, consumer: str, block_ms: int | None = None, count: int = 1) -> list[Delivery]:
        """New jobs for `consumer`, waiting up to `block_ms` (default: the settings) for one."""
        block = self._pipeline.block_ms if block_ms is None else block_ms
        try:
            reply = self._redis.xreadgroup(
                keys.JOBS_GROUP, consumer, {keys.JOBS_STREAM: ">"}, count=count, block=block
            )
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self.ensure_group()  # a server that lost its data: start again, empty
            return []
        entries = [entry for _name, stream in read_streams(reply) for entry in stream]
        return self._deliveries(entries, {entry_id: 1 for entry_id, _ in entries})

    def recover(self, consumer: str, count: int = 1) -> list[Delivery]:
        """Jobs delivered to `consumer` earlier and never finished: what a worker restarted
        under the same name, or one that lost its connection, takes up first. Each counts as
        another delivery, so a job that kills its worker every time ends in the dead letters."""
        reply = self._redis.xreadgroup(
            keys.JOBS_GROUP, consumer, {keys.JOBS_STREAM: "0"}, count=count
        )
        entries = [entry for _name, stream in read_streams(reply) for entry in stream]
        entries = [(entry_id, fields) for entry_id, fields in entries if fields]
        return self._deliveries(entries, self._delivery_counts([e for e, _ in entries]))

    def reclaim(self, consumer: str, count: int = 1) -> list[Delivery]:
        """Jobs of consumers silent for `claim_idle_seconds`, now owned by `consumer`.

        A cursor walks the pending list across calls, so that jobs kept busy at its head do
        not hide idle ones behind them."""
        idle_ms = round(self._pipeline.claim_idle_seconds * 1000)
        reply = self._redis.xautoclaim(
            keys.JOBS_STREAM,
            keys.JOBS_GROUP,
            consumer,
            min_idle_time=idle_ms,
            start_id=self._claim_cursor,
            count=count,
        )
        self._claim_cursor, entries = claimed(reply)
        entries = [(entry_id, fields) for entry_id, fields in entries if fields]
        return self._deliveries(entries, self._delivery_counts([e for e, _ in entries]))

    def touch(self, consumer: str, delivery: Delivery) -> bool:
        """Heartbeat: keep `delivery` from being reclaimed while `consumer` works on it.
        False when another consumer owns it now (it was reclaimed) or it is finished."""
        owned = self._touch(
            keys=[keys.JOBS_STREAM], args=[keys.JOBS_GROUP, consumer, delivery.entry_id]
        )
        return bool(owned)

    def exhausted(self, delivery: Delivery) -> bool:
        """True when the job has been delivered more than `max_attempts` times."""
        return delivery.attempts > self._pipeline.max_attempts

    @staticmethod
    def is_finished(client: redis.Redis | Pipeline, job_id: str) -> bool:
        """Whether the job was finished (done or dead-lettered); read under WATCH of
        `job_key(job_id)` inside a transaction."""
        state = client.get(job_key(job_id))
        return state is not None and text(state) in (DONE, DEAD)

    def finish(self, pipe: Pipeline, delivery: Delivery) -> None:
        """Queue, inside the caller's MULTI: the job is done, acknowledged and off the stream."""
        pipe.set(job_key(delivery.job.job_id), DONE, ex=self._job_ttl)
        self._remove(pipe, delivery.entry_id)
        pipe.hincrby(keys.JOB_STATS, "done", 1)

    def dead_letter(self, pipe: Pipeline, delivery: Delivery, reason: str) -> None:
        """Queue, inside the caller's MULTI: the job moves to the dead-letter stream. The caller
        adds the officer's notice to the same transaction."""
        self._dead_entry(
            pipe, delivery.entry_id, delivery.job.to_fields()["job"], reason, delivery.attempts
        )
        pipe.set(job_key(delivery.job.job_id), DEAD, ex=self._job_ttl)

    def release(self, pipe: Pipeline, delivery: Delivery) -> None:
        """Queue the removal of an entry whose job was already finished by another delivery."""
        self._remove(pipe, delivery.entry_id)

    def depth(self) -> QueueDepth:
        """Jobs not finished yet: pending with a worker, or waiting for one."""
        return queue_depth(self._redis)

    def dead_letters(self, count: int = 100) -> list[DeadLetter]:
        """The newest entries of the dead-letter stream, newest first."""
        entries = stream_entries(self._redis.xrevrange(keys.DEAD_LETTER_STREAM, count=count))
        return [_dead_letter(entry_id, fields) for entry_id, fields in entries]

    def forget_idle_consumers(self, idle_seconds: float) -> int:
        """Remove consumers that own no job and were silent for `idle_seconds` (workers that
        were replaced), so that the group does not collect names forever."""
        removed = 0
        for consumer in self._redis.xinfo_consumers(keys.JOBS_STREAM, keys.JOBS_GROUP):
            if int(consumer["pending"]) == 0 and int(consumer["idle"]) > idle_seconds * 1000:
                name = text(consumer["name"])
                self._redis.xgroup_delconsumer(keys.JOBS_STREAM, keys.JOBS_GROUP, name)
                removed += 1
        return removed

    def _deliveries(self, entries: list[StreamEntry], attempts: dict[str, int]) -> list[Delivery]:
        deliveries = []
        for entry_id, fields in entries:
            try:
                job = ScanJob.from_fields(fields)
            except (TypeError, ValueError) as exc:
                self._reject(entry_id, fields, f"unreadable job entry: {exc}")
                continue
            deliveries.append(Delivery(entry_id, job, attempts.get(entry_id, 1)))
        return deliveries

    def _delivery_counts(self, entry_ids: list[str]) -> dict[str, int]:
        if not entry_ids:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for entry_id in entry_ids:
            pipe.xpending_range(keys.JOBS_STREAM, keys.JOBS_GROUP, entry_id, entry_id, 1)
        counts = {}
        for rows in pipe.execute():
            for row in rows:
                counts[text(row["message_id"])] = int(row["times_delivered"])
        return counts

    def _reject(self, entry_id: str, fields: dict[str, str], reason: str) -> None:
        """An entry that is no job (written by something else) goes straight to the dead
        letters: no worker can ever do anything with it."""
        log.error("jobs stream entry %s: %s", entry_id, reason)
        raw = json.dumps(fields, ensure_ascii=False)
        pipe = self._redis.pipeline(transaction=True)
        self._dead_entry(pipe, entry_id, raw, reason, 1)
        pipe.execute()

    def _dead_entry(
        self, pipe: Pipeline, entry_id: str, job_json: str, reason: str, attempts: int
    ) -> None:
        pipe.xadd(
            keys.DEAD_LETTER_STREAM,
            {
                "job": job_json,
                "reason": reason,
                "attempts": attempts,
                "at": time.time(),
                "entry": entry_id,
            },
            maxlen=self._record_max_entries,
            approximate=True,
        )
        self._remove(pipe, entry_id)
        pipe.hincrby(keys.JOB_STATS, "dead", 1)

    @staticmethod
    def _remove(pipe: Pipeline, entry_id: str) -> None:
        pipe.xack(keys.JOBS_STREAM, keys.JOBS_GROUP, entry_id)
        pipe.xdel(keys.JOBS_STREAM, entry_id)


def _dead_letter(entry_id: str, values: dict[str, str]) -> DeadLetter:
    try:
        job: ScanJob | None = ScanJob.from_fields(values)
    except (TypeError, ValueError):
        job = None
    return DeadLetter(
        entry_id=entry_id,
        job=job,
        reason=values.get("reason", ""),
        attempts=int(values.get("attempts", "0")),
        at=float(values.get("at", "0")),
    )
