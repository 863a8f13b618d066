"""Composing notifications: the entries one event sends, their texts, payloads and links.

Nothing here touches Redis: each function turns what happened (an incident sighting, an item
that could not be scanned, a recall) into self-contained `OutboxEntry`s, rendered from
`config/messages.yaml`. Alerts name what was found, never what the item says.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.groups import Group
from bot.incidents import IncidentEvent, Sighting
from bot.jobs import ScanJob
from bot.outbox.store import (
    ALERT,
    DEAD_LETTER,
    DIRECT,
    EMAIL,
    RECALL,
    ROOM,
    SPREAD,
    TEXT,
    WARNING,
    WEBHOOK,
    OutboxEntry,
    entry_id,
)
from bot.settings import BotSettings
from bot.templates import Composed, Templates


@dataclass(frozen=True)
class Posted:
    """The message a notice is about: who posted what kind of item where, and when. Never
    the item itself, nor its name."""

    message_key: str
    """`platform:message_id` (a job's id)."""
    kind: str
    room_id: str
    room_topic: str
    sender_id: str
    sender_name: str
    received_at: float

    @classmethod
    def of_job(cls, job: ScanJob) -> Posted:
        return cls(
            job.job_id,
            job.kind,
            job.room_id,
            job.room_topic,
            job.sender_id,
            job.sender_name,
            job.received_at,
        )

    @classmethod
    def of_sighting(cls, sighting: Sighting) -> Posted:
        return cls(
            sighting.message_key,
            sighting.kind,
            sighting.room_id,
            sighting.room_topic,
            sighting.sender_id,
            sighting.sender_name,
            sighting.at,
        )

    @property
    def member(self) -> str:
        return self.sender_name or self.sender_id


class Composer:
    """Builds the entries of each notification from one validated `messages.yaml`."""

    def __init__(
        self, settings: BotSettings, templates: Templates, *, webhook: bool, email: bool
    ) -> None:
        self._settings = settings
        self._templates = templates
        self._webhook = webhook
        self._email = email

    # --- what each event sends ---------------------------------------------------------------

    def incident_warning(self, event: IncidentEvent, group: Group | None) -> OutboxEntry:
        """The member's warning in the group."""
        job = event.job
        fields = self._incident_fields(event, group)
        return OutboxEntry(
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
            queued_at=time.time(),
            message_key=job.job_id,
        )

    def incident_alerts(self, event: IncidentEvent, group: Group | None) -> list[OutboxEntry]:
        """An alert DM (or a spread note) to each admin and officer, a webhook call and an
        e-mail."""
        job = event.job
        fields = self._incident_fields(event, group)
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
            "queued_at": time.time(),
        }
        entries = [
            OutboxEntry(
                entry_id=entry_id(event.incident_id, job.job_id, DIRECT, contact),
                kind=kind,
                channel=DIRECT,
                recipient=contact,
                text=message,
                **common,
            )
            for contact in self.recipients(group)
        ]
        payload = self._incident_payload(event, fields)
        return entries + self._external(
            (event.incident_id, job.job_id), kind, message, payload, common
        )

    def dead_letter_notice(
        self, posted: Posted, reason: str, group: Group | None
    ) -> list[OutboxEntry]:
        """Tell the group's officers (its admins when it has none) that an item could not be
        scanned: group, member, time, the class of the reason; never the item or its name."""
        topic = _topic(posted, group)
        fields = {
            "group": topic,
            "member": posted.member,
            "time": self._templates.time(posted.received_at),
            "item": self._templates.item(posted.kind),
            "reason": self._templates.reason(reason),
        }
        message = self._templates.render("dead_letter_notice", **fields)
        common: dict[str, Any] = {
            "group": topic,
            "received_at": posted.received_at,
            "queued_at": time.time(),
        }
        admins = group.admins if group else ()
        entries = [
            OutboxEntry(
                entry_id=entry_id("dead", posted.message_key, DIRECT, contact),
                kind=DEAD_LETTER,
                channel=DIRECT,
                recipient=contact,
                text=message,
                **common,
            )
            for contact in self._officers(group) or admins
        ]
        payload = {
            "event": "scan.failed",
            "reason": reason.split(":", 1)[0].strip().lower(),
            "reason_name": fields["reason"],
            **self._posted_payload(posted, topic),
        }
        return entries + self._external(
            ("dead", posted.message_key), DEAD_LETTER, message, payload, common
        )

    def recall_notice(
        self, incident_id: str, posted: Posted, recalled_at: float, group: Group | None
    ) -> list[OutboxEntry]:
        """Tell the group's admins and officers that the member recalled the message."""
        topic = _topic(posted, group)
        message = self._templates.render(
            "recall_noted",
            incident_id=incident_id,
            group=topic,
            member=posted.member,
            time=self._templates.time(recalled_at),
        )
        return [
            OutboxEntry(
                entry_id=entry_id("recall", incident_id, posted.message_key, DIRECT, contact),
                kind=RECALL,
                channel=DIRECT,
                recipient=contact,
                text=message,
                incident_id=incident_id,
                group=topic,
                received_at=recalled_at,
                queued_at=time.time(),
            )
            for contact in self.recipients(group)
        ]

    @staticmethod
    def text(
        dedup_key: str,
        message: str,
        *,
        room_id: str | None,
        contact_id: str | None,
        mention_ids: tuple[str, ...],
    ) -> OutboxEntry:
        """A reply (rendered by the caller) to a room or a contact, once per `dedup_key`."""
        if room_id is not None and contact_id is None:
            channel, recipient = ROOM, room_id
        elif contact_id is not None and room_id is None:
            channel, recipient = DIRECT, contact_id
        else:
            raise ValueError("queue_text needs exactly one of room_id and contact_id")
        return OutboxEntry(
            entry_id=entry_id("text", dedup_key, channel, recipient),
            kind=TEXT,
            channel=channel,
            recipient=recipient,
            text=message,
            mention_ids=mention_ids,
            queued_at=time.time(),
        )

    def merged_warning(self, entries: Sequence[OutboxEntry]) -> tuple[str, tuple[str, ...]]:
        """One group message for the warnings held for it, and whom it @-mentions: each
        member concerned once."""
        mentions = tuple(dict.fromkeys(m for entry in entries for m in entry.mention_ids))
        if len(entries) == 1:
            return entries[0].text, mentions
        message = self._templates.render(
            "member_warning_burst",
            count=len(entries),
            members=len(mentions),
            group=entries[0].group,
        )
        return message, mentions

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
                "batched_group_line", group=group, count=counts[group], ids=Composed("、".join(ids))
            )
            for group, ids in by_group.items()
        ]
        return self._templates.render(
            "batched_alert",
            count=len(entries),
            lines=Composed("\n".join(lines)),
            link=Composed(self.incidents_link()),
            window=f"{self._settings.outbox.batch_window_seconds:g}",
        )

    # --- who is told, and links --------------------------------------------------------------

    def recipients(self, group: Group | None) -> tuple[str, ...]:
        """The group's admins and officers, each once (someone may be both)."""
        admins = group.admins if group else ()
        return tuple(dict.fromkeys((*admins, *self._officers(group))))

    def _officers(self, group: Group | None) -> tuple[str, ...]:
        return group.officers if group and group.officers else self._settings.officers

    def incident_link(self, incident_id: str) -> str:
        console = self._settings.console
        return console.public_url.rstrip("/") + console.incident_path.format(
            incident_id=incident_id
        )

    def incidents_link(self) -> str:
        console = self._settings.console
        return console.public_url.rstrip("/") + console.incidents_path

    # --- parts -------------------------------------------------------------------------------

    def _external(
        self,
        id_parts: tuple[str, ...],
        kind: str,
        message: str,
        payload: dict[str, Any],
        common: Mapping[str, Any],
    ) -> list[OutboxEntry]:
        entries = []
        if self._webhook:
            webhook_id = entry_id(*id_parts, WEBHOOK, "")
            body = {"delivery_id": webhook_id, **payload}
            entries.append(OutboxEntry(webhook_id, kind, WEBHOOK, payload=body, **common))
        if self._email:
            subject = message.split("\n", 1)[0]
            entries.append(
                OutboxEntry(
                    entry_id(*id_parts, EMAIL, ""),
                    kind,
                    EMAIL,
                    text=message,
                    subject=subject,
                    **common,
                )
            )
        return entries

    def _incident_fields(self, event: IncidentEvent, group: Group | None) -> dict[str, str]:
        posted = Posted.of_job(event.job)
        return {
            "incident_id": event.incident_id,
            "group": _topic(posted, group),
            "member": posted.member,
            "time": self._templates.time(posted.received_at),
            "item": self._templates.item(posted.kind),
            "findings": self._templates.findings(event.findings),
            "verdict": self._templates.verdict(event.verdict),
            "link": Composed(self.incident_link(event.incident_id)),
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
            **self._posted_payload(Posted.of_job(event.job), fields["group"]),
        }
        if not event.is_new:
            payload["first_group"] = {
                "room_id": event.first_room_id,
                "topic": event.first_room_topic,
            }
        return payload

    @staticmethod
    def _posted_payload(posted: Posted, topic: str) -> dict[str, Any]:
        return {
            "group": {"room_id": posted.room_id, "topic": topic},
            "member": {"id": posted.sender_id, "name": posted.sender_name},
            "item": posted.kind,
            "message_key": posted.message_key,
            "time": datetime.fromtimestamp(posted.received_at, tz=UTC).isoformat(),
            "received_at": posted.received_at,
        }


def _topic(posted: Posted, group: Group | None) -> str:
    return (group.topic if group else "") or posted.room_topic or posted.room_id
