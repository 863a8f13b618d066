"""The bot's ear: every message the connector receives goes through `Intake.handle`.

In a group that is not enrolled, the bot answers `/enroll` and otherwise says once how to enroll,
then nothing; it stores nothing about such a group's messages (not their bytes, not a job, not
a log line with their text). In an enrolled group, images and files are fetched and their bytes
queued for the workers with a `ScanJob`; text, URL cards and chat-history forwards are queued as
the UTF-8 blob "message.txt"; video and voice are counted as not scanned; a recall is recorded
on the incident. Group commands are answered in the group; an officer's `误报 / 确认 / 解决 <id>`
by direct message. Every reply goes through the outbox (one rate limiter for all sends).

Nothing here raises into the connector's loop: a message that cannot be taken in is logged
(without its content) and, when it should have been scanned, reported to the group's officers.
While Redis is unreachable, messages go to a durable spool on the data disk (`bot.spool`) and
are taken in, in order, once it is back (`replay_spool`, driven by `bot.outage.OutageWatch`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis

from bot import keys
from bot.blobs import sha256_of
from bot.commands import (
    GroupCommand,
    looks_like_command,
    parse_group_command,
    parse_incident_reply,
)
from bot.connectors.base import ChatConnector, FetchError, IncomingMessage, MessageKind
from bot.decisions import Decider, Decisions
from bot.groups import Group, Groups
from bot.incidents import OPEN, Incidents, UnknownIncident, normalize_id
from bot.jobs import ScanJob
from bot.outbox import Outbox, Posted
from bot.queue import JobQueue
from bot.settings import BotSettings
from bot.spool import Spool
from bot.templates import Templates
from bot.web.audit import AuditLog

log = logging.getLogger(__name__)

TEXT_FILENAME = "message.txt"

_FETCHED = (MessageKind.IMAGE, MessageKind.FILE)
_TEXTUAL = (MessageKind.TEXT, MessageKind.URL, MessageKind.CHAT_HISTORY)
_NOT_SCANNED = (MessageKind.VIDEO, MessageKind.VOICE)
_DEFAULT_NAMES = {MessageKind.IMAGE: "image.jpg", MessageKind.FILE: "file"}

REDIS_OUTAGE = (redis.ConnectionError, redis.TimeoutError)
"""What redis-py raises while the server is down, restarting or loading its data."""


@dataclass(frozen=True)
class Outcome:
    """What the intake did with one message (for tests, logs and the console's sandbox)."""

    action: str
    """"ignored", "told", "command", "queued", "duplicate", "not_scanned", "recall",
    "reply", "spooled", "failed"."""
    detail: str = ""


class Intake:
    def __init__(
        self,
        client: redis.Redis,
        settings: BotSettings,
        connector: ChatConnector,
        queue: JobQueue,
        incidents: Incidents,
        groups: Groups,
        outbox: Outbox,
        templates: Templates,
        spool: Spool | None = None,
    ) -> None:
        self._redis = client
        self._settings = settings
        self._connector = connector
        self._queue = queue
        self._incidents = incidents
        self._groups = groups
        self._outbox = outbox
        self._templates = templates
        self._decisions = Decisions(
            client, settings, incidents, groups, outbox, templates, AuditLog(client, settings.audit)
        )
        self._seen_ttl = max(1, round(settings.pipeline.job_ttl_hours * 3600))
        self._spool = spool
        self._enrolled: set[str] = set()
        self.redis_down = False
        """Set when a message met an unreachable Redis; cleared by `OutageWatch` once the
        spool is replayed. While set, messages go straight to the spool."""

    async def handle(self, message: IncomingMessage) -> Outcome:
        """Take one message in; never raises (the connector's loop must go on). While Redis is
        unreachable, or older messages wait in the spool, the message goes to the spool."""
        received_at = time.time()
        if message.is_self or message.sender_id == self._connector.self_id:
            return Outcome("ignored", "own message")
        if self._spool is not None and (self.redis_down or len(self._spool)):
            return await self._to_spool(message, received_at)
        try:
            return await self._take_in(message, received_at)
        except REDIS_OUTAGE:
            if self._spool is None:
                log.exception("intake of %s failed: Redis unreachable", message.key)
                return Outcome("failed", "redis unreachable")
            self.redis_down = True
            return await self._to_spool(message, received_at)
        except Exception as exc:  # a bug must not stop the bot; never the content
            log.exception("intake of %s (%s) failed", message.key, message.kind.value)
            return Outcome("failed", type(exc).__name__)

    async def _take_in(
        self,
        message: IncomingMessage,
        received_at: float,
        fetched: bytes | None = None,
        *,
        replayed: bool = False,
    ) -> Outcome:
        if message.room_id is None:
            return self._direct(message)
        return await self._in_group(message, message.room_id, received_at, fetched, replayed)

    # --- the spool (Redis unreachable) -------------------------------------------------------

    @property
    def spooled(self) -> int:
        """Messages waiting in the spool."""
        return len(self._spool) if self._spool is not None else 0

    @property
    def spool_refused(self) -> int:
        """Messages refused since the start because the spool was full."""
        return self._spool.refused if self._spool is not None else 0

    def remember_enrolled(self) -> None:
        """Note the enrolled groups now, so that while Redis is away only their messages (and
        group commands, and direct messages) are spooled: a group that is not enrolled has
        nothing of its messages kept, on disk neither."""
        self._enrolled = {g.room_id for g in self._groups.list()}

    async def _to_spool(self, message: IncomingMessage, received_at: float) -> Outcome:
        assert self._spool is not None
        if not self._spooled_while_away(message):
            return Outcome("ignored", "group not known to be enrolled")
        data = None
        if message.kind in _FETCHED:  # the platform's copy may not outlive the outage
            try:
                data = await self._connector.fetch(message)
            except Exception as exc:  # fetched again on replay, which reports a failure
                log.warning("fetching %s for the spool failed: %s", message.key, exc)
        if not self._spool.append(message, received_at, data):
            return Outcome("failed", "spool full")
        return Outcome("spooled")

    def _spooled_while_away(self, message: IncomingMessage) -> bool:
        if message.room_id is None or message.room_id in self._enrolled:
            return True
        return message.kind is MessageKind.TEXT and parse_group_command(message.text) is not None

    async def replay_spool(self) -> int:
        """Take in the spooled messages, oldest first; returns how many. Stops (keeping the
        rest) when Redis goes away again, which `REDIS_OUTAGE` raised here says."""
        if self._spool is None:
            return 0
        replayed = 0
        for path in self._spool.entries():
            spooled = self._spool.read(path)
            if spooled is None:
                continue
            try:
                await self._take_in(
                    spooled.message, spooled.received_at, spooled.data, replayed=True
                )
            except REDIS_OUTAGE:
                raise
            except Exception:  # as in handle(): logged, and it must not block the rest
                log.exception("replay of %s failed", spooled.message.key)
            self._spool.remove(path)
            replayed += 1
        return replayed

    # --- groups ------------------------------------------------------------------------------

    async def _in_group(
        self,
        message: IncomingMessage,
        room_id: str,
        received_at: float,
        fetched: bytes | None,
        replayed: bool,
    ) -> Outcome:
        command = parse_group_command(message.text) if message.kind is MessageKind.TEXT else None
        if not self._groups.is_enrolled(room_id):
            self._enrolled.discard(room_id)
            if command is GroupCommand.ENROLL:
                return await self._enroll(message, room_id)
            if message.kind is not MessageKind.RECALLED and self._groups.mark_told(room_id):
                self._say(
                    message,
                    self._templates.render("enroll_help", group=message.room_topic),
                )
                return Outcome("told")
            return Outcome("ignored", "group not enrolled")
        self._enrolled.add(room_id)
        if command is not None:
            return await self._command(command, message, room_id)
        if message.kind is MessageKind.TEXT and looks_like_command(message.text):
            return Outcome("ignored", "unknown command")
        if message.kind is MessageKind.RECALLED:
            return self._recall(message)
        group = self._groups.get(room_id)
        if group is None:  # unenrolled a moment ago
            return Outcome("ignored", "group not enrolled")
        if not group.admins:
            group = await self._complete(group)
        if message.kind in _FETCHED:
            return await self._fetched(message, group, received_at, fetched, replayed)
        if message.kind in _TEXTUAL:
            return self._textual(message, group, received_at, replayed)
        if message.kind in _NOT_SCANNED:
            return self._not_scanned(message, group)
        return Outcome("ignored", f"kind {message.kind.value}")

    async def _fetched(
        self,
        message: IncomingMessage,
        group: Group,
        received_at: float,
        fetched: bytes | None,
        replayed: bool,
    ) -> Outcome:
        if not self._first_delivery(message, replayed):
            return Outcome("duplicate")
        try:
            data = fetched if fetched is not None else await self._connector.fetch(message)
        except FetchError as exc:
            return self._failed(message, group, received_at, f"fetch: {exc}")
        except Exception as exc:  # the platform's client failed in some other way
            log.exception("fetching %s failed", message.key)
            return self._failed(message, group, received_at, f"fetch: {type(exc).__name__}")
        if len(data) > self._settings.intake.max_item_bytes:
            return self._failed(message, group, received_at, f"limit: {len(data)} bytes")
        filename = message.filename or message.text or _DEFAULT_NAMES[message.kind]
        return self._enqueue(message, group, received_at, data, filename)

    def _textual(
        self, message: IncomingMessage, group: Group, received_at: float, replayed: bool
    ) -> Outcome:
        body = message.text.strip()
        if len(body) < self._settings.intake.min_text_chars:
            if message.kind is MessageKind.CHAT_HISTORY:  # the puppet did not expose its text
                return self._not_scanned(message, group)
            return Outcome("ignored", "short text")
        if not self._first_delivery(message, replayed):
            return Outcome("duplicate")
        return self._enqueue(message, group, received_at, body.encode(), TEXT_FILENAME)

    def _enqueue(
        self,
        message: IncomingMessage,
        group: Group,
        received_at: float,
        data: bytes,
        filename: str,
    ) -> Outcome:
        job = self._job(message, group, received_at, sha256_of(data), filename, len(data))
        try:
            queued = self._queue.enqueue(job, data)
        except Exception:
            self._forget_delivery(message)  # so that a redelivery can try again
            raise
        self._redis.hincrby(keys.INTAKE_COUNTS, message.kind.value, 1)
        return Outcome("queued" if queued else "duplicate", job.job_id)

    def _not_scanned(self, message: IncomingMessage, group: Group) -> Outcome:
        """Video and voice: counted and listed for the console, without any content."""
        if not self._first_delivery(message):
            return Outcome("duplicate")
        pipe = self._redis.pipeline(transaction=True)
        pipe.xadd(
            keys.INTAKE_UNSCANNED,
            {
                "message_key": message.key,
                "room_id": group.room_id,
                "sender_id": message.sender_id,
                "kind": message.kind.value,
                "at": time.time(),
            },
            maxlen=self._settings.retention.record_max_entries,
            approximate=True,
        )
        pipe.hincrby(keys.INTAKE_COUNTS, "unscanned:" + message.kind.value, 1)
        pipe.execute()
        return Outcome("not_scanned", message.kind.value)

    def _failed(
        self, message: IncomingMessage, group: Group, received_at: float, reason: str
    ) -> Outcome:
        """An item that should have been scanned and cannot be: logged, listed, and the
        group's officers told (no content: the notice names group, sender, time and kind)."""
        log.warning("not scanned %s in %s: %s", message.key, group.room_id, reason)
        self._forget_delivery(message)
        pipe = self._redis.pipeline(transaction=True)
        pipe.xadd(
            keys.INTAKE_FAILURES,
            {
                "message_key": message.key,
                "room_id": group.room_id,
                "sender_id": message.sender_id,
                "kind": message.kind.value,
                "reason": reason,
                "at": time.time(),
            },
            maxlen=self._settings.retention.record_max_entries,
            approximate=True,
        )
        posted = Posted(
            message.key,
            message.kind.value,
            group.room_id,
            message.room_topic or group.topic,
            message.sender_id,
            message.sender_name,
            received_at,
        )
        self._outbox.queue_dead_letter_notice(pipe, posted, reason, group)
        pipe.execute()
        return Outcome("failed", reason)

    def _recall(self, message: IncomingMessage) -> Outcome:
        """Recorded on the incident, and its admins and officers told. A recall of a message
        whose scan has not finished is kept by `Incidents` and applied when it is recorded."""
        if not message.recalled_message_id:
            return Outcome("ignored", "recall without a message id")
        key = f"{message.platform}:{message.recalled_message_id}"
        at = message.sent_at or time.time()
        incident_id = self._incidents.record_recall(key, at)
        incident = self._incidents.get(incident_id) if incident_id else None
        sighting = (
            next((s for s in incident.sightings if s.message_key == key), None)
            if incident
            else None
        )
        if incident is None or sighting is None:
            return Outcome("recall")
        self._outbox.queue_recall_notice(
            self._redis,
            incident.incident_id,
            Posted.of_sighting(sighting),
            at,
            self._groups.get(sighting.room_id),
        )
        return Outcome("recall", incident.incident_id)

    async def _complete(self, group: Group) -> Group:
        """A group enrolled from the CLI without admins: take its owner and WeChat admins
        from the room, once."""
        try:
            info = await self._connector.room_info(group.room_id)
        except Exception as exc:
            log.warning("room info of %s unavailable: %s", group.room_id, exc)
            return group
        return self._groups.update_from_room(info) or group

    def _job(
        self,
        message: IncomingMessage,
        group: Group,
        received_at: float,
        sha256: str,
        filename: str,
        size: int,
    ) -> ScanJob:
        return ScanJob(
            job_id=message.key,
            platform=message.platform,
            message_id=message.message_id,
            kind=message.kind.value,
            room_id=group.room_id,
            room_topic=message.room_topic or group.topic,
            sender_id=message.sender_id,
            sender_name=message.sender_name,
            sha256=sha256,
            filename=filename,
            size=size,
            received_at=received_at,
        )

    def _first_delivery(self, message: IncomingMessage, replayed: bool = False) -> bool:
        """A platform may deliver a message twice (reconnects): take it in once. A replayed
        message may have got as far as this mark before Redis went away, so it passes; the
        queue itself enqueues a job id once."""
        first = self._redis.set(keys.INTAKE_SEEN + message.key, 1, nx=True, ex=self._seen_ttl)
        return replayed or bool(first)

    def _forget_delivery(self, message: IncomingMessage) -> None:
        self._redis.delete(keys.INTAKE_SEEN + message.key)

    # --- group commands ----------------------------------------------------------------------

    async def _command(
        self, command: GroupCommand, message: IncomingMessage, room_id: str
    ) -> Outcome:
        if command is GroupCommand.ENROLL:
            return await self._enroll(message, room_id)
        if command is GroupCommand.UNENROLL:
            return await self._unenroll(message, room_id)
        if command is GroupCommand.STATUS:
            self._say(message, self._status(room_id))
        else:
            self._say(message, self._templates.render("help"))
        return Outcome("command", command.value)

    async def _enroll(self, message: IncomingMessage, room_id: str) -> Outcome:
        info = await self._connector.room_info(room_id)
        if not self._groups.may_manage(message.sender_id, info):
            self._say(message, self._templates.render("reply_not_allowed"), (message.sender_id,))
            return Outcome("command", "enroll refused")
        group = self._groups.enroll_from_room(info, message.sender_id)
        self._enrolled.add(room_id)
        log.info("group %s enrolled by %s", room_id, message.sender_id)
        reply = self._templates.render(
            "reply_enrolled",
            group=group.topic,
            admin_count=len(group.admins),
            officer_count=len(self._groups.officers_of(group)),
        )
        self._say(message, reply)
        return Outcome("command", "enrolled")

    async def _unenroll(self, message: IncomingMessage, room_id: str) -> Outcome:
        info = await self._connector.room_info(room_id)
        if not self._groups.may_manage(message.sender_id, info):
            self._say(message, self._templates.render("reply_not_allowed"), (message.sender_id,))
            return Outcome("command", "unenroll refused")
        group = self._groups.get(room_id)
        self._groups.unenroll(room_id)
        self._enrolled.discard(room_id)
        log.info("group %s unenrolled by %s", room_id, message.sender_id)
        topic = group.topic if group else info.topic
        self._say(message, self._templates.render("reply_unenrolled", group=topic))
        return Outcome("command", "unenrolled")

    def _status(self, room_id: str) -> str:
        group = self._groups.get(room_id)
        assert group is not None  # only asked in an enrolled group
        open_incidents = self._incidents.list(room=room_id, status=OPEN, limit=1000)
        return self._templates.render(
            "status",
            group=group.topic,
            enrolled_by=group.enrolled_by,
            enrolled_at=self._templates.time(group.enrolled_at),
            admin_count=len(group.admins),
            officer_count=len(self._groups.officers_of(group)),
            open_incidents=len(open_incidents),
        )

    # --- direct messages ---------------------------------------------------------------------

    def _direct(self, message: IncomingMessage) -> Outcome:
        if message.kind is not MessageKind.TEXT:
            return Outcome("ignored", "direct message without text")
        reply = parse_incident_reply(message.text)
        if reply is None:
            if self._is_recipient(message.sender_id):
                self._dm(message, self._templates.render("dm_help"))
                return Outcome("reply", "help")
            return Outcome("ignored", "not a command")
        incident_id = normalize_id(reply.incident_id)
        incident = self._incidents.get(incident_id) if incident_id else None
        if incident is None or incident_id is None:
            self._dm(
                message,
                self._templates.render("reply_unknown_incident", incident_id=reply.incident_id),
            )
            return Outcome("reply", "unknown incident")
        if not any(self._groups.may_act_on(message.sender_id, r) for r in incident.room_ids):
            log.warning("%s may not act on incident %s", message.sender_id, incident_id)
            self._dm(
                message,
                self._templates.render("reply_not_recipient", incident_id=incident_id),
            )
            return Outcome("reply", "refused")
        decider = Decider.wechat_contact(message.sender_id, message.sender_name)
        try:
            self._decisions.decide(incident, reply.action.value, decider, reply.note)
        except UnknownIncident:  # expired since
            return Outcome("reply", "unknown incident")
        self._dm(
            message,
            self._templates.render(
                "reply_incident_updated",
                incident_id=incident_id,
                status=self._templates.status(reply.action.value),
            ),
        )
        return Outcome("reply", f"{incident_id} {reply.action.value}")

    def _is_recipient(self, contact_id: str) -> bool:
        """Officers and admins get a hint how to answer alerts; anyone else is not answered."""
        if contact_id in self._settings.officers or contact_id in self._settings.admins:
            return True
        return any(contact_id in g.admins or contact_id in g.officers for g in self._groups.list())

    # --- saying ------------------------------------------------------------------------------

    def _say(self, message: IncomingMessage, text: str, mention_ids: tuple[str, ...] = ()) -> None:
        """A reply in the message's group, once per message answered (a redelivery of the
        message repeats nothing)."""
        self._outbox.queue_text(
            self._redis, message.key, text, room_id=message.room_id, mention_ids=mention_ids
        )

    def _dm(self, message: IncomingMessage, text: str) -> None:
        self._outbox.queue_text(self._redis, message.key, text, contact_id=message.sender_id)
