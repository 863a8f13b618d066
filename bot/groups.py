"""Enrolled groups and who gets their alerts.

Only an enrolled group is scanned. A group is enrolled by its owner or by a configured admin
(`admins` in config/bot.yaml) with `/enroll` in the group, or by anyone with shell access through
`leaksentry groups enroll`. Each group names its alert recipients: its admins (by default the
group's owner and WeChat admins, captured when it is enrolled) and its security officers (a
per-group list, or the organisation-wide `officers` / `LEAKSENTRY_OFFICERS`).

Of a group that is not enrolled nothing is kept but a one-way hash of its id, so that the bot
tells it how to enroll once and then stays silent.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis

from bot import keys
from bot.connectors.base import RoomInfo
from bot.redis_text import Fields, text, text_map
from bot.settings import BotSettings


@dataclass(frozen=True)
class Group:
    room_id: str
    topic: str
    admins: tuple[str, ...]
    """Contacts told about incidents of this group (owner and WeChat admins by default)."""
    officers: tuple[str, ...]
    """Per-group security officers; empty means the organisation-wide ones from the settings."""
    enrolled_by: str
    """The contact who sent `/enroll`, or "cli"."""
    enrolled_at: float


class EnrollmentRefused(PermissionError):
    """The sender may not enroll (or unenroll) this group."""


CLI_ACTOR = "cli"


class Groups:
    """The enrolled groups, in Redis (keys in the GROUPS section of `bot.keys`)."""

    def __init__(self, client: redis.Redis, settings: BotSettings) -> None:
        self._redis = client
        self._settings = settings

    def may_manage(self, sender_id: str, info: RoomInfo) -> bool:
        """The group's owner and the configured admins may enroll and unenroll it from chat."""
        return sender_id == info.owner_id or sender_id in self._settings.admins

    def enroll(
        self,
        room_id: str,
        *,
        topic: str = "",
        admins: tuple[str, ...] = (),
        officers: tuple[str, ...] = (),
        enrolled_by: str = CLI_ACTOR,
    ) -> Group:
        """Enroll (or re-enroll, replacing its record) a group, whoever asks: the CLI's path."""
        if not room_id.strip():
            raise ValueError("a room id is required")
        group = Group(
            room_id=room_id,
            topic=topic,
            admins=_unique(admins),
            officers=_unique(officers),
            enrolled_by=enrolled_by,
            enrolled_at=time.time(),
        )
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(keys.GROUPS + room_id)
        pipe.hset(keys.GROUPS + room_id, mapping=_to_hash(group))
        pipe.sadd(keys.GROUPS_ENROLLED, room_id)
        pipe.srem(keys.GROUPS_TOLD, _told_key(room_id))
        pipe.execute()
        return group

    def enroll_from_room(self, info: RoomInfo, sender_id: str) -> Group:
        """`/enroll` in a group: the owner or a configured admin only. The group's admins become
        its owner and WeChat admins; a per-group officer list set before is kept."""
        if not self.may_manage(sender_id, info):
            raise EnrollmentRefused(
                f"{sender_id} is neither the owner of {info.room_id} nor an admin"
            )
        before = self.get(info.room_id)
        owner = (info.owner_id,) if info.owner_id else ()
        return self.enroll(
            info.room_id,
            topic=info.topic,
            admins=owner + info.admin_ids,
            officers=before.officers if before else (),
            enrolled_by=sender_id,
        )

    def unenroll(self, room_id: str) -> bool:
        """Forget a group; True when it was enrolled. It is not told how to enroll again."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.srem(keys.GROUPS_ENROLLED, room_id)
        pipe.delete(keys.GROUPS + room_id)
        pipe.sadd(keys.GROUPS_TOLD, _told_key(room_id))
        removed, _, _ = pipe.execute()
        return bool(removed)

    def is_enrolled(self, room_id: str) -> bool:
        """Asked for every group message, so one round trip."""
        return bool(self._redis.sismember(keys.GROUPS_ENROLLED, room_id))

    def get(self, room_id: str) -> Group | None:
        raw = self._redis.hgetall(keys.GROUPS + room_id)
        return _from_hash(room_id, raw) if raw else None

    def list(self) -> list[Group]:
        """Every enrolled group, oldest enrollment first."""
        room_ids = sorted(text(r) for r in self._redis.smembers(keys.GROUPS_ENROLLED))
        pipe = self._redis.pipeline(transaction=False)
        for room_id in room_ids:
            pipe.hgetall(keys.GROUPS + room_id)
        groups = [
            _from_hash(r, raw) for r, raw in zip(room_ids, pipe.execute(), strict=True) if raw
        ]
        return sorted(groups, key=lambda g: g.enrolled_at)

    def update_from_room(self, info: RoomInfo) -> Group | None:
        """Fill in topic and admins of a group enrolled from the CLI without them, from the room
        as the platform describes it; None when the group is not enrolled."""
        group = self.get(info.room_id)
        if group is None:
            return None
        owner = (info.owner_id,) if info.owner_id else ()
        fields: Fields = {
            "topic": group.topic or info.topic,
            "admins": json.dumps(list(group.admins or _unique(owner + info.admin_ids))),
        }
        self._redis.hset(keys.GROUPS + info.room_id, mapping=fields)
        return self.get(info.room_id)

    def officers_of(self, group: Group | None) -> tuple[str, ...]:
        """The group's own officers, else the organisation-wide ones."""
        return group.officers if group and group.officers else self._settings.officers

    def recipients(self, room_id: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(admins, officers) to alert about an incident in this group."""
        group = self.get(room_id)
        return (group.admins if group else ()), self.officers_of(group)

    def may_act_on(self, contact_id: str, room_id: str) -> bool:
        """An officer or an admin of the group may mark its incidents (误报 / 确认 / 解决)."""
        admins, officers = self.recipients(room_id)
        return contact_id in admins or contact_id in officers or contact_id in self._settings.admins

    def mark_told(self, room_id: str) -> bool:
        """Remember that a group which is not enrolled was told how to enroll: True the first
        time (then the hint is sent), False ever after, until the group is enrolled."""
        return bool(self._redis.sadd(keys.GROUPS_TOLD, _told_key(room_id)))


def _told_key(room_id: str) -> str:
    # A hash, not the id: of a group that did not ask to be watched nothing readable is kept.
    return hashlib.sha256(room_id.encode()).hexdigest()


def _unique(ids: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i.strip() for i in ids if i.strip()))


def _to_hash(group: Group) -> Fields:
    return {
        "topic": group.topic,
        "admins": json.dumps(list(group.admins), ensure_ascii=False),
        "officers": json.dumps(list(group.officers), ensure_ascii=False),
        "enrolled_by": group.enrolled_by,
        "enrolled_at": repr(group.enrolled_at),
    }


def _from_hash(room_id: str, raw: Mapping[Any, Any]) -> Group:
    fields = text_map(raw)
    return Group(
        room_id=room_id,
        topic=fields.get("topic", ""),
        admins=tuple(json.loads(fields.get("admins", "[]"))),
        officers=tuple(json.loads(fields.get("officers", "[]"))),
        enrolled_by=fields.get("enrolled_by", ""),
        enrolled_at=float(fields.get("enrolled_at", "0")),
    )
