"""The small protocol between leaksentry and a chat platform."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class MessageKind(StrEnum):
    """What a message carries, as far as scanning is concerned."""

    TEXT = "text"
    IMAGE = "image"
    FILE = "file"
    URL = "url"
    CHAT_HISTORY = "chat_history"
    VIDEO = "video"
    VOICE = "voice"
    RECALLED = "recalled"
    OTHER = "other"


@dataclass(frozen=True)
class RoomInfo:
    """A group as the platform describes it now."""

    room_id: str
    topic: str
    owner_id: str | None
    admin_ids: tuple[str, ...] = ()
    member_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class IncomingMessage:
    """One message the bot received, in a group or as a direct message."""

    platform: str
    """"wechat", "sandbox": with `message_id` it makes a message unique across platforms."""
    message_id: str
    kind: MessageKind
    sender_id: str
    sender_name: str
    room_id: str | None
    """None for a direct message to the bot."""
    room_topic: str = ""
    text: str = ""
    """The text of a text message; title and description of a URL card; a file's name."""
    filename: str | None = None
    mentions_self: bool = False
    recalled_message_id: str | None = None
    """For `RECALLED`: the id of the message the sender took back."""
    sent_at: float = 0.0
    """Unix time the platform says the message was sent (0 when unknown)."""
    is_self: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.message_id}"


MessageHandler = Callable[[IncomingMessage], Awaitable[None]]


class ChatConnector(Protocol):
    """What leaksentry needs from a chat platform: receive, fetch, say, DM, describe a room."""

    platform: str
    self_id: str | None
    """The bot's own contact id once logged in."""

    async def start(self, on_message: MessageHandler) -> None:
        """Connect and deliver every message to `on_message` until `stop()`; reconnect on
        drops. Returns once connected (the delivery runs in the background)."""
        ...

    async def stop(self) -> None: ...

    async def fetch(self, message: IncomingMessage) -> bytes:
        """The bytes of an image or file message (raises `FetchError` when they are gone)."""
        ...

    async def say_in_room(
        self, room_id: str, text: str, mention_ids: tuple[str, ...] = ()
    ) -> None: ...

    async def send_direct(self, contact_id: str, text: str) -> None: ...

    async def room_info(self, room_id: str) -> RoomInfo: ...


class FetchError(RuntimeError):
    """The platform could not hand over a message's bytes (expired, too large, gone)."""


class SendError(RuntimeError):
    """The platform refused or failed to deliver an outgoing message."""


class ConnectorError(RuntimeError):
    """The platform cannot be used: wrong credentials, unreachable, not logged in."""
