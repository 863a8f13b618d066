"""An officer's decision on an incident, from the console or by DM (`确认 ID`), and closing
the loop after it.

Both ways go through `Decisions.decide`: the incident's status changes (with its own history,
bot/incidents.py), the console's audit log records who decided what from where, and everyone
who got the incident's alert hears of it in one short DM (`decision_notice`), so that nobody
works on what another officer already took. On a false positive the member who posted it is
told too, in the group where they were warned (`false_positive_member`), as the warning
promised; `decisions.tell_member_on_false_positive` turns that off. The messages name the
incident, the group, who decided and the new status: never what was posted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis

from bot.groups import Groups
from bot.incidents import FALSE_POSITIVE, Incident, Incidents
from bot.outbox import Outbox
from bot.settings import BotSettings
from bot.templates import Templates

if TYPE_CHECKING:  # bot.web imports this module: no import back at run time
    from bot.web.audit import AuditLog

AUDIT_ACTION = "incident_status"


@dataclass(frozen=True)
class Decider:
    """Who decided: a console user, or a WeChat contact replying to an alert."""

    name: str
    """As messages show it: the console user name, or the contact's WeChat name."""
    audit_actor: str
    """As the audit log records it: the console user name, or `wechat:<contact id>`."""
    contact_id: str | None = None
    """The WeChat contact who replied; they got an answer already and no notice besides."""
    ip: str = ""

    @classmethod
    def console_user(cls, user: str, ip: str) -> Decider:
        return cls(user, user, ip=ip)

    @classmethod
    def wechat_contact(cls, contact_id: str, name: str) -> Decider:
        return cls(name or contact_id, f"wechat:{contact_id}", contact_id=contact_id)


class Decisions:
    def __init__(
        self,
        client: redis.Redis,
        settings: BotSettings,
        incidents: Incidents,
        groups: Groups,
        outbox: Outbox,
        templates: Templates,
        audit: AuditLog,
    ) -> None:
        self._redis = client
        self._settings = settings
        self._incidents = incidents
        self._groups = groups
        self._outbox = outbox
        self._templates = templates
        self._audit = audit

    def decide(self, incident: Incident, status: str, decider: Decider, note: str = "") -> Incident:
        """Set `incident`'s status, audit it and tell who should know. Raises `UnknownIncident`
        (expired meanwhile) and `ValueError` (no such status)."""
        # The incident's own history names a WeChat contact by id, as its alerts do.
        history_actor = decider.contact_id or decider.audit_actor
        changed = self._incidents.set_status(incident.incident_id, status, history_actor, note)
        if changed.status == incident.status and not note:
            return changed  # nothing happened: nothing to record or tell
        detail = f"{incident.status} -> {status}" + (f": {note}" if note else "")
        self._audit.record(
            decider.audit_actor,
            AUDIT_ACTION,
            f"incident {incident.incident_id}",
            ip=decider.ip,
            detail=detail,
        )
        if changed.status != incident.status:
            self._announce(changed, decider)
        return changed

    def _announce(self, incident: Incident, decider: Decider) -> None:
        # One decision, one key: a retried request or a redelivered DM queues nothing twice.
        decision = f"decision:{incident.incident_id}:{len(incident.audit)}"
        notice = self._templates.render(
            "decision_notice",
            incident_id=incident.incident_id,
            group=incident.room_topic or incident.room_id,
            decider=decider.name,
            status=self._templates.status(incident.status),
            time=self._templates.time(incident.updated_at),
        )
        with self._redis.pipeline(transaction=True) as pipe:
            for contact in self.recipients(incident):
                if contact != decider.contact_id:
                    self._outbox.queue_text(pipe, decision, notice, contact_id=contact)
            if incident.status == FALSE_POSITIVE and self._settings.decisions.tell_member:
                for room_id, member_id, kind in _posters(incident):
                    text = self._templates.render(
                        "false_positive_member",
                        item=self._templates.item(kind),
                        incident_id=incident.incident_id,
                    )
                    self._outbox.queue_text(
                        pipe, decision, text, room_id=room_id, mention_ids=(member_id,)
                    )
            pipe.execute()

    def recipients(self, incident: Incident) -> tuple[str, ...]:
        """Everyone its alerts went to: the admins and officers of every group it was seen in."""
        found: dict[str, None] = {}
        for room_id in incident.room_ids:
            found.update(dict.fromkeys(self._outbox.recipients(self._groups.get(room_id))))
        return tuple(found)


def _posters(incident: Incident) -> list[tuple[str, str, str]]:
    """(group, member, item kind) of each member warned about it, once per group and member."""
    seen: dict[tuple[str, str], str] = {}
    for sighting in incident.sightings:
        seen.setdefault((sighting.room_id, sighting.sender_id), sighting.kind)
    return [(room, member, kind) for (room, member), kind in seen.items()]
