"""The console's audit log: who viewed or changed what, when, from where. Append-only.

A Redis stream: entries are added with XADD and never edited; the entry id is the time. Other
modules record their changes here too (`record`, or `record_in` inside their own transaction).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, cast

import redis

from bot import keys
from bot.redis_text import text, text_map


@dataclass(frozen=True)
class AuditEntry:
    id: str
    time: float
    actor: str  # console user name, "cli:<os user>", or "bot" / "wechat:<contact id>"
    action: str  # e.g. login, login_failed, logout, view, user_add, incident_status
    target: str  # what it was about: a page, a user name, an incident id
    ip: str
    detail: str

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "time": self.time,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "ip": self.ip,
            "detail": self.detail,
        }


def record_in(
    writer: redis.Redis, actor: str, action: str, target: str, *, ip: str = "", detail: str = ""
) -> None:
    """Add one entry with a client, pipeline or transaction (so it commits with the change)."""
    writer.xadd(
        keys.CONSOLE_AUDIT,
        {
            "time": repr(time.time()),
            "actor": actor,
            "action": action,
            "target": target,
            "ip": ip,
            "detail": detail,
        },
    )


SEARCH_CHUNK = 500
SEARCH_MAX_READ = 50_000
ACTIONS = (
    "login",
    "login_failed",
    "login_blocked",
    "logout",
    "view",
    "view_evidence",
    "incident_status",
    "export",
    "registry_add",
    "registry_remove",
    "group_enroll",
    "group_unenroll",
    "user_add",
    "user_remove",
    "sandbox_post",
    "sandbox_direct",
)
"""The actions the console, the CLI and the bot record (the audit page filters by them)."""


class AuditLog:
    """Blocking calls: from aiohttp handlers, run them in a thread."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def record(
        self, actor: str, action: str, target: str, *, ip: str = "", detail: str = ""
    ) -> None:
        record_in(self._client, actor, action, target, ip=ip, detail=detail)

    def newest(self, count: int, before: str | None = None) -> list[AuditEntry]:
        """Up to `count` entries, newest first, older than the entry id `before` when given."""
        upper = f"({before}" if before else "+"
        replies = cast(
            list[tuple[Any, Any]],
            self._client.xrevrange(keys.CONSOLE_AUDIT, max=upper, min="-", count=count),
        )
        return [_entry(text(entry_id), text_map(fields)) for entry_id, fields in replies]

    def search(
        self,
        count: int,
        *,
        before: str | None = None,
        actor: str = "",
        action: str = "",
        since: float | None = None,
        until: float | None = None,
        max_read: int = SEARCH_MAX_READ,
    ) -> list[AuditEntry]:
        """Up to `count` entries, newest first, by `actor` (a part of the name, any case) and
        `action`, between the times `since` and `until`; older than `before` when given.
        Reads at most `max_read` entries (the ids are times, so a date range is cheap)."""
        upper = f"({before}" if before else ("+" if until is None else str(int(until * 1000)))
        lower = "-" if since is None else str(int(since * 1000))
        wanted = actor.strip().lower()
        found: list[AuditEntry] = []
        read = 0
        while len(found) < count and read < max_read:
            replies = cast(
                list[tuple[Any, Any]],
                self._client.xrevrange(
                    keys.CONSOLE_AUDIT, max=upper, min=lower, count=SEARCH_CHUNK
                ),
            )
            if not replies:
                break
            read += len(replies)
            for entry_id, fields in replies:
                entry = _entry(text(entry_id), text_map(fields))
                if (not wanted or wanted in entry.actor.lower()) and (
                    not action or entry.action == action
                ):
                    found.append(entry)
            upper = f"({text(replies[-1][0])}"
        return found[:count]

    def count(self) -> int:
        return int(self._client.xlen(keys.CONSOLE_AUDIT))


def _entry(entry_id: str, fields: dict[str, str]) -> AuditEntry:
    return AuditEntry(
        id=entry_id,
        time=float(fields.get("time", "0")),
        actor=fields.get("actor", ""),
        action=fields.get("action", ""),
        target=fields.get("target", ""),
        ip=fields.get("ip", ""),
        detail=fields.get("detail", ""),
    )
