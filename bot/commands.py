"""What people can tell the bot: group commands and an officer's replies to an alert.

Pure parsing, no Redis and no chat: `bot.intake` decides who may do what.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class GroupCommand(StrEnum):
    ENROLL = "enroll"
    UNENROLL = "unenroll"
    STATUS = "status"
    HELP = "help"


class IncidentAction(StrEnum):
    """An officer's verdict on an incident, and the status it sets."""

    FALSE_POSITIVE = "false_positive"
    CONFIRMED = "confirmed"
    RESOLVED = "resolved"


DM_WORDS = {
    "误报": IncidentAction.FALSE_POSITIVE,
    "确认": IncidentAction.CONFIRMED,
    "解决": IncidentAction.RESOLVED,
}


@dataclass(frozen=True)
class IncidentReply:
    action: IncidentAction
    incident_id: str
    note: str


# WeChat puts "@name" and a four-per-em space (U+2005) before a mention's text.
_MENTIONS = re.compile(r"^(?:@\S+?[\u2005\s]+)+")
_GROUP_COMMAND = re.compile(r"^[/／]([a-zA-Z]+)\s*$")
_DM = re.compile(
    r"^(?P<word>" + "|".join(DM_WORDS) + r")[\s:：]*(?P<id>[A-Za-z0-9]{4,16})(?:\s+(?P<note>.*))?$",
    re.DOTALL,
)


def strip_mentions(text: str) -> str:
    return _MENTIONS.sub("", text.strip()).strip()


def looks_like_command(text: str) -> bool:
    """A slash word: never scanned, whether or not it is a command the bot knows."""
    return bool(_GROUP_COMMAND.match(strip_mentions(text)))


def parse_group_command(text: str) -> GroupCommand | None:
    """`/enroll`, `/unenroll`, `/status`, `/help` (also after an @mention of the bot)."""
    match = _GROUP_COMMAND.match(strip_mentions(text))
    if not match:
        return None
    try:
        return GroupCommand(match.group(1).lower())
    except ValueError:
        return None


def parse_incident_reply(text: str) -> IncidentReply | None:
    """`误报 A7K3Q9`, `确认 A7K3Q9 已约谈`, `解决 A7K3Q9`: the word, the incident id, a note."""
    match = _DM.match(text.strip())
    if not match:
        return None
    return IncidentReply(
        action=DM_WORDS[match.group("word")],
        incident_id=match.group("id").upper(),
        note=(match.group("note") or "").strip(),
    )
