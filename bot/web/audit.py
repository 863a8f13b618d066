"""The console's audit log: who viewed or changed what, when, from where. Append-only.

A Redis stream: entries are added with XADD and never edited; the entry id is the time. Other
modules record their changes here too (`record`). The stream is capped: about
`audit.max_entries` entries, none older than `audit.max_days` (trimmed at each addition).

What strangers cause (failed or refused sign-ins, `record_sampled`) would otherwise let anyone
flood the log: per window, address, name and action only the first such event is an entry; the
others count in a counter the entry names (`sample`), which lives as long as entries do.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from typing import Any, cast

import redis

from bot import keys
from bot.redis_text import Fields, text, text_map
from bot.settings import AuditSettings

DAY = 86400


@dataclass(frozen=True)
class AuditEntry:
    id: str
    time: float
    actor: str  # console user name, "cli:<os user>", or "bot" / "wechat:<contact id>"
    action: str  # e.g. login, login_failed, logout, view, user_add, incident_status
    target: str  # what it was about: a page, a user name, an incident id
    ip: str
    detail: str
    count: int = 1  # a sampled entry: how many such events its window saw

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "time": self.time,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "ip": self.ip,
            "detail": self.detail,
            "count": self.count,
        }


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

    def __init__(self, client: redis.Redis, limits: AuditSettings | None = None) -> None:
        self._client = client
        self._limits = limits or AuditSettings()

    def record(
        self, actor: str, action: str, target: str, *, ip: str = "", detail: str = ""
    ) -> None:
        self._add({"actor": actor, "action": action, "target": target, "ip": ip, "detail": detail})

    def record_sampled(self, actor: str, action: str, target: str, *, ip: str = "") -> None:
        """An event a stranger can repeat at will: the window's first is an entry, the rest
        only count."""
        window = int(time.time() // self._limits.sample_window_seconds)
        name = hashlib.sha256(actor.strip().lower().encode()).hexdigest()[:16]
        sample = f"{keys.CONSOLE_AUDIT_SAMPLE}{action}:{name}:{ip[:64]}:{window}"
        pipe = self._client.pipeline(transaction=True)
        pipe.incr(sample)
        pipe.expire(sample, max(1, round(self._limits.max_days * DAY)))
        seen, _ = pipe.execute()
        if int(seen) == 1:
            fields = {"actor": actor, "action": action, "target": target, "ip": ip}
            self._add({**fields, "detail": "", "sample": sample})

    def _add(self, fields: dict[str, str]) -> None:
        oldest_ms = int((time.time() - self._limits.max_days * DAY) * 1000)
        entry: Fields = {"time": repr(time.time())}
        entry.update(fields)
        pipe = self._client.pipeline(transaction=False)
        pipe.xadd(
            keys.CONSOLE_AUDIT,
            entry,
            maxlen=self._limits.max_entries,
            approximate=False,
        )
        pipe.xtrim(keys.CONSOLE_AUDIT, minid=oldest_ms, approximate=False)
        pipe.execute()

    def newest(self, count: int, before: str | None = None) -> list[AuditEntry]:
        """Up to `count` entries, newest first, older than the entry id `before` when given."""
        upper = f"({before}" if before else "+"
        replies = cast(
            list[tuple[Any, Any]],
            self._client.xrevrange(keys.CONSOLE_AUDIT, max=upper, min="-", count=count),
        )
        return self._counted(
            [_entry(text(entry_id), text_map(fields)) for entry_id, fields in replies]
        )

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
        found: list[tuple[AuditEntry, str]] = []
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
                entry, sample = _entry(text(entry_id), text_map(fields))
                if (not wanted or wanted in entry.actor.lower()) and (
                    not action or entry.action == action
                ):
                    found.append((entry, sample))
            upper = f"({text(replies[-1][0])}"
        return self._counted(found[:count])

    def count(self) -> int:
        return int(self._client.xlen(keys.CONSOLE_AUDIT))

    def _counted(self, entries: list[tuple[AuditEntry, str]]) -> list[AuditEntry]:
        """The entries, sampled ones with the count of their window."""
        samples = [sample for _, sample in entries if sample]
        counts = iter(cast(list[Any], self._client.mget(samples)) if samples else [])
        return [
            replace(entry, count=int(next(counts) or 1)) if sample else entry
            for entry, sample in entries
        ]


def _entry(entry_id: str, fields: dict[str, str]) -> tuple[AuditEntry, str]:
    """The entry, and the name of its counter when it is a sampled one."""
    return AuditEntry(
        id=entry_id,
        time=float(fields.get("time", "0")),
        actor=fields.get("actor", ""),
        action=fields.get("action", ""),
        target=fields.get("target", ""),
        ip=fields.get("ip", ""),
        detail=fields.get("detail", ""),
    ), fields.get("sample", "")
