"""Incidents: one per leaked item, with where it spread, recalls and officers' decisions.

An incident is opened by the first scan of some content (its SHA-256) whose verdict reaches
`alert_min_verdict`. The same content seen again, in any enrolled group, is a new sighting of
the same incident (its spread). Each sighting is one message, known by its message key
(`platform:message_id`, the job id); a recall by its sender is recorded on that sighting.

Recording is idempotent per job: a redelivered job returns the event recorded the first time
and writes nothing. It runs inside the caller's transaction (see `record`), so that the worker
records the incident, queues the notifications and acknowledges the job in one MULTI/EXEC.

Evidence (the findings' text and boxes, the report, the bytes) is stored here, server-side,
for the console; the `IncidentEvent` handed to notifications carries none of it.

Retention: every key of an incident expires `retention.evidence_days` after the incident's last
activity (a sighting, a recall, a status change); each write refreshes the timeout. The
console's indexes (sorted sets) do not expire; `prune()`, run periodically by the workers,
drops the ids of incidents that have expired from them.
"""

from __future__ import annotations

import builtins  # `Incidents.list` shadows the name inside the class
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import redis
import redis.asyncio
from redis.client import Pipeline

from bot import keys
from bot.blobs import DAY, Blobs, blob_key
from bot.jobs import ScanJob
from bot.redis_text import Fields, number, scored, text, text_map
from bot.settings import BotSettings
from detectors import ScanReport, Verdict

OPEN = "open"
CONFIRMED = "confirmed"
FALSE_POSITIVE = "false_positive"
RESOLVED = "resolved"
STATUSES = (OPEN, CONFIRMED, FALSE_POSITIVE, RESOLVED)

ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""32 symbols without I, O, 0 and 1, which people mix up when they type an id back."""
ID_LENGTH = 6
_ID_SPACE = len(ID_ALPHABET) ** ID_LENGTH  # 2**30
_ID_MULTIPLIER = 0x2C9277B5  # odd, so n -> n * m mod 2**30 is a bijection: unique, not sequential
_ID_OFFSET = 0x1F3A5C7


class UnknownIncident(KeyError):
    """No incident has this id (never had, or it expired)."""


@dataclass(frozen=True)
class IncidentEvent:
    """What notifications need to know about one recorded sighting: never any evidence."""

    incident_id: str
    is_new: bool
    """False when the content was seen before: this sighting is spread."""
    job: ScanJob
    verdict: str
    findings: list[dict[str, Any]] = field(default_factory=list)
    """{detector, label, page, confidence} per finding: no evidence text, no boxes."""
    first_room_id: str | None = None
    """Where the content was first seen, when this is spread."""
    first_room_topic: str | None = None
    warn_member: bool = True
    """False when the member was warned of this content in this group before (one warning per
    member per document)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> IncidentEvent:
        data = json.loads(raw)
        return cls(**{**data, "job": ScanJob(**data["job"])})


@dataclass(frozen=True)
class Sighting:
    """One message that carried the content."""

    message_key: str
    room_id: str
    room_topic: str
    sender_id: str
    sender_name: str
    at: float
    kind: str
    filename: str
    recalled_at: float | None = None
    warning: str = ""
    """The member's warning: "due" (queued), "sent", "failed" (given up), "repeat" (warned
    for an earlier post of the same content in the same group); "" in records older than
    this field."""
    warned_at: float | None = None
    """When the warning was sent (or given up on)."""


@dataclass(frozen=True)
class AuditEntry:
    at: float
    actor: str
    action: str
    """"opened", or "status" for a status change."""
    old: str
    new: str
    note: str = ""


@dataclass(frozen=True)
class Incident:
    """An incident as the console shows it, evidence included."""

    incident_id: str
    sha256: str
    status: str
    verdict: str
    opened_at: float
    updated_at: float
    room_id: str
    room_topic: str
    sender_id: str
    sender_name: str
    findings: list[dict[str, Any]]
    """The report's findings in full: detector, label, page, confidence, bbox, evidence."""
    report: dict[str, Any]
    evidence_key: str
    """The Redis key of the item's bytes (kept as long as the incident)."""
    sightings: tuple[Sighting, ...]
    """Oldest first; the first one opened the incident."""
    audit: tuple[AuditEntry, ...]

    @property
    def recall_status(self) -> str:
        """ "none", "partial" (some sightings recalled) or "all"."""
        recalled = sum(s.recalled_at is not None for s in self.sightings)
        if recalled == 0:
            return "none"
        return "all" if recalled == len(self.sightings) else "partial"

    @property
    def room_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.room_id for s in self.sightings))


def encode_id(number: int) -> str:
    """The short id of the `number`-th incident: 6 symbols of `ID_ALPHABET`, unique for the
    first 2**30 numbers and not guessable from the previous one by counting."""
    value = (number * _ID_MULTIPLIER + _ID_OFFSET) % _ID_SPACE
    symbols = []
    for _ in range(ID_LENGTH):
        value, digit = divmod(value, len(ID_ALPHABET))
        symbols.append(ID_ALPHABET[digit])
    return "".join(reversed(symbols))


def normalize_id(typed: str) -> str | None:
    """An id as a person typed it (any case, spaces around) in canonical form, or None when
    it cannot be one."""
    candidate = typed.strip().upper()
    if len(candidate) != ID_LENGTH or any(c not in ID_ALPHABET for c in candidate):
        return None
    return candidate


def _incident_key(incident_id: str) -> str:
    return keys.INCIDENT + incident_id


def _seen_key(incident_id: str) -> str:
    return keys.INCIDENT + incident_id + ":seen"


def _recalls_key(incident_id: str) -> str:
    return keys.INCIDENT + incident_id + ":recalls"


def _audit_key(incident_id: str) -> str:
    return keys.INCIDENT + incident_id + ":audit"


def _warned_key(incident_id: str) -> str:
    return keys.INCIDENT + incident_id + ":warned"


WARNING_DUE = "due"
WARNING_SENT = "sent"
WARNING_FAILED = "failed"
WARNING_REPEAT = "repeat"


def queue_warned(
    pipe: Pipeline | redis.asyncio.client.Pipeline,
    incident_id: str,
    message_key: str,
    state: str,
    at: float,
    ttl_seconds: int,
) -> None:
    """Queue in `pipe` what became of the member's warning for the sighting `message_key`:
    `WARNING_SENT` or `WARNING_FAILED`, at `at` (the sender's record on the incident)."""
    key = _warned_key(incident_id)
    pipe.hset(key, message_key, json.dumps({"state": state, "at": at}))
    pipe.expire(key, ttl_seconds)


def _index(kind: str, value: str = "") -> str:
    return keys.INCIDENT_INDEX + (f"{kind}:{value}" if value else kind)


@dataclass(frozen=True)
class _Found:
    """What `record` read, under WATCH, before it writes."""

    incident_id: str
    is_new: bool
    first_room_id: str
    first_room_topic: str
    early_recall: float | None
    warned_before: bool
    """The member has a sighting of this content in this group already."""


class Incidents:
    """The incident store (keys in the incidents section of `bot.keys`)."""

    def __init__(self, client: redis.Redis, settings: BotSettings) -> None:
        self._redis = client
        self._min_verdict = Verdict.parse(settings.alert_min_verdict)
        self._ttl = max(1, round(settings.retention.evidence_days * DAY))
        self._early_recall_ttl = max(1, round(settings.retention.clean_blob_hours * 3600))
        self._blobs = Blobs(client, settings)

    def alerts(self, verdict: str) -> bool:
        """Whether a report with this verdict opens (or joins) an incident."""
        return Verdict.parse(verdict) >= self._min_verdict

    # --- recording ---------------------------------------------------------------------------

    def record(
        self,
        pipe_or_client: Pipeline | redis.Redis,
        job: ScanJob,
        report: ScanReport | Mapping[str, Any],
    ) -> IncidentEvent | None:
        """Record one scanned job; None when its verdict is below `alert_min_verdict`.

        With a client, this is one transaction of its own. With a pipeline that is not in
        MULTI yet, it WATCHes and reads what it needs, then starts MULTI and queues its writes:
        the caller adds its own writes and calls `execute()`, retrying everything on
        `redis.WatchError`. The pipeline is in MULTI when this returns, whatever the result.
        """
        if isinstance(pipe_or_client, Pipeline):
            return self._record(pipe_or_client, job, _report_json(report))
        with pipe_or_client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    event = self._record(pipe, job, _report_json(report))
                    pipe.execute()
                    return event
                except redis.WatchError:
                    continue

    def _record(self, pipe: Pipeline, job: ScanJob, report: dict[str, Any]) -> IncidentEvent | None:
        if pipe.explicit_transaction:
            raise ValueError("Incidents.record needs the pipeline before MULTI: it reads first")
        by_job = keys.INCIDENT_BY_JOB + job.job_id
        pipe.watch(
            by_job, keys.INCIDENT_BY_SHA + job.sha256, keys.INCIDENT_EARLY_RECALL + job.job_id
        )
        recorded = pipe.get(by_job)
        if recorded is not None or not self.alerts(report["verdict"]):
            pipe.multi()
            return None if recorded is None else IncidentEvent.from_json(recorded)
        found = self._find(pipe, job)
        pipe.multi()
        event = IncidentEvent(
            incident_id=found.incident_id,
            is_new=found.is_new,
            job=job,
            verdict=report["verdict"],
            findings=[_summary(f) for f in report["findings"]],
            first_room_id=None if found.is_new else found.first_room_id,
            first_room_topic=None if found.is_new else found.first_room_topic,
            warn_member=not found.warned_before,
        )
        self._write(pipe, event, report, found.early_recall)
        return event

    def _find(self, pipe: Pipeline, job: ScanJob) -> _Found:
        """The incident this content belongs to, or a new id (read under WATCH)."""
        early = pipe.get(keys.INCIDENT_EARLY_RECALL + job.job_id)
        early_recall = None if early is None else float(early)
        existing = pipe.get(keys.INCIDENT_BY_SHA + job.sha256)
        if existing is not None:
            incident_id = text(existing)
            pipe.watch(_seen_key(incident_id))
            first = pipe.hmget(_incident_key(incident_id), ["room_id", "room_topic"])
            if first[0] is not None:
                return _Found(
                    incident_id,
                    False,
                    text(first[0]),
                    text(first[1] or b""),
                    early_recall,
                    _posted_here_before(pipe.hvals(_seen_key(incident_id)), job),
                )
        number = int(pipe.incr(keys.INCIDENT_SEQ))  # a number lost to a retry is just skipped
        return _Found(encode_id(number), True, job.room_id, job.room_topic, early_recall, False)

    def _write(
        self,
        pipe: Pipeline,
        event: IncidentEvent,
        report: dict[str, Any],
        early_recall: float | None,
    ) -> None:
        job, incident_id, now = event.job, event.incident_id, time.time()
        key = _incident_key(incident_id)
        if event.is_new:
            pipe.hset(key, mapping=_new_incident(event, report, now))
            for index in (_index("all"), _index("verdict", event.verdict), _index("status", OPEN)):
                pipe.zadd(index, {incident_id: job.received_at})
            _audit(pipe, incident_id, AuditEntry(now, "leaksentry", "opened", "", OPEN))
            pipe.set(keys.INCIDENT_BY_SHA + job.sha256, incident_id)
        else:
            pipe.hset(key, "updated_at", now)
        sighting = {
            **_sighting(job),
            "warning": WARNING_DUE if event.warn_member else WARNING_REPEAT,
        }
        pipe.hset(_seen_key(incident_id), job.job_id, json.dumps(sighting, ensure_ascii=False))
        pipe.zadd(_index("room", job.room_id), {incident_id: job.received_at}, nx=True)
        pipe.set(keys.INCIDENT_BY_MESSAGE + job.job_id, incident_id, ex=self._ttl)
        pipe.set(keys.INCIDENT_BY_JOB + job.job_id, event.to_json(), ex=self._ttl)
        if early_recall is not None:
            pipe.hset(_recalls_key(incident_id), job.job_id, early_recall)
            pipe.delete(keys.INCIDENT_EARLY_RECALL + job.job_id)
        self._blobs.keep_as_evidence(pipe, job.sha256)
        self._keep(pipe, incident_id, job.sha256)

    def _keep(self, pipe: Pipeline, incident_id: str, sha256: str) -> None:
        """Every key of the incident lives `evidence_days` from now (after its writes)."""
        for key in (
            _incident_key(incident_id),
            _seen_key(incident_id),
            _recalls_key(incident_id),
            _audit_key(incident_id),
            _warned_key(incident_id),
            keys.INCIDENT_BY_SHA + sha256,
        ):
            pipe.expire(key, self._ttl)

    def record_recall(self, message_key: str, at: float | None = None) -> str | None:
        """The sender took back the message `message_key` (`platform:message_id`). Returns the
        incident's id, or None when the message is (not yet) part of one: a recall that arrives
        before its scan has finished is kept and applied when the sighting is recorded."""
        when = time.time() if at is None else at
        by_message = keys.INCIDENT_BY_MESSAGE + message_key
        with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(by_message)
                    found = pipe.get(by_message)
                    sha256 = (
                        None if found is None else pipe.hget(_incident_key(text(found)), "sha256")
                    )
                    pipe.multi()
                    if found is None or sha256 is None:
                        early = keys.INCIDENT_EARLY_RECALL + message_key
                        pipe.set(early, when, ex=self._early_recall_ttl, nx=True)
                        pipe.execute()
                        return None
                    incident_id = text(found)
                    pipe.hsetnx(_recalls_key(incident_id), message_key, when)
                    pipe.hset(_incident_key(incident_id), "updated_at", time.time())
                    self._keep(pipe, incident_id, text(sha256))
                    pipe.execute()
                    return incident_id
                except redis.WatchError:
                    continue

    def set_status(self, incident_id: str, status: str, actor: str, note: str = "") -> Incident:
        """Change the status (an officer's decision), with an audit entry. Setting the status
        it already has changes nothing. Raises `UnknownIncident` and `ValueError`."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
        key = _incident_key(incident_id)
        with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)
                    old, opened_at, sha256 = pipe.hmget(key, ["status", "opened_at", "sha256"])
                    if old is None:
                        raise UnknownIncident(incident_id)
                    if text(old) == status:
                        pipe.reset()
                        break
                    now = time.time()
                    pipe.multi()
                    pipe.hset(key, mapping={"status": status, "updated_at": now})
                    pipe.zrem(_index("status", text(old)), incident_id)
                    pipe.zadd(_index("status", status), {incident_id: number(opened_at)})
                    _audit(
                        pipe, incident_id, AuditEntry(now, actor, "status", text(old), status, note)
                    )
                    self._keep(pipe, incident_id, text(sha256))
                    pipe.execute()
                    break
                except redis.WatchError:
                    continue
        incident = self.get(incident_id)
        if incident is None:  # expired in between
            raise UnknownIncident(incident_id)
        return incident

    # --- reading -----------------------------------------------------------------------------

    def get(self, incident_id: str) -> Incident | None:
        found = self._load([incident_id])
        return found[0] if found else None

    def by_message(self, message_key: str) -> Incident | None:
        """The incident a message (`platform:message_id`) is a sighting of."""
        incident_id = self._redis.get(keys.INCIDENT_BY_MESSAGE + message_key)
        return None if incident_id is None else self.get(text(incident_id))

    def list(
        self,
        *,
        room: str | None = None,
        verdict: str | None = None,
        status: str | None = None,
        since: float | None = None,
        until: float | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> builtins.list[Incident]:
        """Incidents, newest first, that match every filter given. Time is when the incident
        was opened, or, with `room`, when it was first seen in that room."""
        low = "-inf" if since is None else since
        high = "+inf" if until is None else until
        wanted = (("room", room), ("verdict", verdict), ("status", status))
        chosen = [_index(kind, value) for kind, value in wanted if value]
        if len(chosen) <= 1:
            found = self._redis.zrevrangebyscore(
                chosen[0] if chosen else _index("all"), high, low, start=offset, num=limit
            )
            ids = [text(i) for i in found]
        else:
            # Room first with weight 1: its score (first seen there) orders the result.
            weights = {key: (1 if i == 0 else 0) for i, key in enumerate(chosen)}
            in_range = [
                (m, s)
                for m, s in scored(self._redis.zinter(weights, withscores=True))
                if (since is None or s >= since) and (until is None or s <= until)
            ]
            in_range.sort(key=lambda pair: pair[1], reverse=True)
            ids = [m for m, _ in in_range[offset : offset + limit]]
        return self._load(ids)

    def _load(self, incident_ids: builtins.list[str]) -> builtins.list[Incident]:
        pipe = self._redis.pipeline(transaction=False)
        for incident_id in incident_ids:
            pipe.hgetall(_incident_key(incident_id))
            pipe.hgetall(_seen_key(incident_id))
            pipe.hgetall(_recalls_key(incident_id))
            pipe.lrange(_audit_key(incident_id), 0, -1)
            pipe.hgetall(_warned_key(incident_id))
        replies = pipe.execute()
        incidents = []
        for i, incident_id in enumerate(incident_ids):
            fields, seen, recalls, audit, warned = replies[5 * i : 5 * i + 5]
            if fields:
                incidents.append(
                    _incident(incident_id, text_map(fields), seen, recalls, audit, warned)
                )
        return incidents

    def prune(self, now: float | None = None) -> int:
        """Drop expired incidents from the indexes; returns how many entries went."""
        cutoff = (time.time() if now is None else now) - self._ttl
        removed = 0
        for index in self._redis.scan_iter(match=keys.INCIDENT_INDEX + "*", count=500):
            old = [text(i) for i in self._redis.zrangebyscore(index, "-inf", cutoff)]
            if not old:
                continue
            pipe = self._redis.pipeline(transaction=False)
            for incident_id in old:
                pipe.exists(_incident_key(incident_id))
            gone = [i for i, alive in zip(old, pipe.execute(), strict=True) if not alive]
            if gone:
                removed += int(self._redis.zrem(index, *gone))
        return removed


def _report_json(report: ScanReport | Mapping[str, Any]) -> dict[str, Any]:
    return report.to_json() if isinstance(report, ScanReport) else dict(report)


def _summary(finding: Mapping[str, Any]) -> dict[str, Any]:
    return {k: finding[k] for k in ("detector", "label", "page", "confidence")}


def _sighting(job: ScanJob) -> dict[str, Any]:
    return {
        "room_id": job.room_id,
        "room_topic": job.room_topic,
        "sender_id": job.sender_id,
        "sender_name": job.sender_name,
        "at": job.received_at,
        "kind": job.kind,
        "filename": job.filename,
    }


def _posted_here_before(sightings: builtins.list[bytes | str], job: ScanJob) -> bool:
    """Whether one of the recorded sightings is the job's sender's in the job's group."""
    for raw in sightings:
        seen = json.loads(raw)
        if seen["sender_id"] == job.sender_id and seen["room_id"] == job.room_id:
            return True
    return False


def _new_incident(event: IncidentEvent, report: dict[str, Any], now: float) -> Fields:
    job = event.job
    return {
        "sha256": job.sha256,
        "status": OPEN,
        "verdict": event.verdict,
        "opened_at": job.received_at,
        "updated_at": now,
        "room_id": job.room_id,
        "room_topic": job.room_topic,
        "sender_id": job.sender_id,
        "sender_name": job.sender_name,
        "findings": json.dumps(report["findings"], ensure_ascii=False),
        "report": json.dumps(report, ensure_ascii=False),
        "evidence_key": blob_key(job.sha256),
    }


def _audit(pipe: Pipeline, incident_id: str, entry: AuditEntry) -> None:
    pipe.rpush(_audit_key(incident_id), json.dumps(asdict(entry), ensure_ascii=False))


def _incident(
    incident_id: str,
    fields: dict[str, str],
    seen: Mapping[bytes, bytes],
    recalls: Mapping[bytes, bytes],
    audit: list[bytes],
    warned: Mapping[bytes, bytes],
) -> Incident:
    recalled = {k: float(v) for k, v in text_map(recalls).items()}
    delivered = {k: json.loads(v) for k, v in text_map(warned).items()}
    sightings = sorted(
        (
            _with_warning(
                Sighting(message_key=key, recalled_at=recalled.get(key), **json.loads(raw)),
                delivered.get(key),
            )
            for key, raw in text_map(seen).items()
        ),
        key=lambda s: s.at,
    )
    return Incident(
        incident_id=incident_id,
        sha256=fields["sha256"],
        status=fields["status"],
        verdict=fields["verdict"],
        opened_at=float(fields["opened_at"]),
        updated_at=float(fields["updated_at"]),
        room_id=fields["room_id"],
        room_topic=fields["room_topic"],
        sender_id=fields["sender_id"],
        sender_name=fields["sender_name"],
        findings=json.loads(fields["findings"]),
        report=json.loads(fields["report"]),
        evidence_key=fields["evidence_key"],
        sightings=tuple(sightings),
        audit=tuple(AuditEntry(**json.loads(raw)) for raw in audit),
    )


def _with_warning(sighting: Sighting, delivered: Mapping[str, Any] | None) -> Sighting:
    """The sighting with what the sender recorded of its warning."""
    if delivered is None:
        return sighting
    return replace(sighting, warning=str(delivered["state"]), warned_at=float(delivered["at"]))
