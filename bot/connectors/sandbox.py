"""A chat platform inside the process: leaksentry without WeChat.

The console's "try it" page and the service tests talk to the bot through this connector: a
demo group with an owner, an admin, a member and a security officer, in which anyone can post
as one of them and read back what the bot said. It is a real (local) chat, not a stand-in: the
bot receives, fetches, says and DMs through the same `ChatConnector` protocol as on WeChat, and
every outgoing message still passes the outbox and its rate limiter.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from bot.connectors.base import (
    FetchError,
    IncomingMessage,
    MessageHandler,
    MessageKind,
    RoomInfo,
    SendError,
)

log = logging.getLogger(__name__)

DEMO_ROOM = "sandbox-demo-room"
DEMO_TOPIC = "演示工作群"
DEMO_OWNER = "sandbox-owner"
DEMO_ADMIN = "sandbox-admin"
DEMO_MEMBER = "sandbox-member"
DEMO_OFFICER = "sandbox-officer"
BOT_ID = "sandbox-bot"

_DEMO_NAMES = {
    DEMO_OWNER: "群主老王",
    DEMO_ADMIN: "管理员小李",
    DEMO_MEMBER: "成员小张",
    DEMO_OFFICER: "保密员老陈",
    BOT_ID: "leaksentry",
}

# What a long-running demo keeps: the last lines of each chat and the bytes of recent posts.
_LINES_KEPT = 500
_PAYLOADS_KEPT = 200


@dataclass(frozen=True)
class ChatLine:
    """One message in a sandbox chat, posted by a person or said by the bot."""

    sender_id: str
    sender_name: str
    text: str
    kind: MessageKind = MessageKind.TEXT
    mention_ids: tuple[str, ...] = ()
    message_id: str = ""
    at: float = field(default_factory=time.time)

    @property
    def from_bot(self) -> bool:
        return self.sender_id == BOT_ID


class SandboxConnector:
    """An in-process chat with one demo group (more can be added with `add_room`)."""

    platform = "sandbox"

    def __init__(self) -> None:
        self.self_id: str | None = None
        self._handler: MessageHandler | None = None
        self._names: dict[str, str] = dict(_DEMO_NAMES)
        self._rooms: dict[str, RoomInfo] = {}
        self._room_lines: dict[str, deque[ChatLine]] = {}
        self._direct_lines: dict[str, deque[ChatLine]] = {}
        self._payloads: OrderedDict[str, bytes] = OrderedDict()
        self._ids = itertools.count(1)
        self._changed: asyncio.Condition | None = None
        self.add_room(
            DEMO_ROOM,
            topic=DEMO_TOPIC,
            owner_id=DEMO_OWNER,
            admin_ids=(DEMO_ADMIN,),
            member_ids=(DEMO_MEMBER, DEMO_OFFICER),
        )

    # --- the ChatConnector protocol ----------------------------------------------------------

    async def start(self, on_message: MessageHandler) -> None:
        self._handler = on_message
        self._changed = asyncio.Condition()
        self.self_id = BOT_ID
        log.info("sandbox chat ready: demo group %s (%s)", DEMO_ROOM, DEMO_TOPIC)

    async def stop(self) -> None:
        self._handler = None

    async def fetch(self, message: IncomingMessage) -> bytes:
        data = self._payloads.get(message.message_id)
        if data is None:
            raise FetchError(f"sandbox message {message.message_id} has no bytes (expired)")
        return data

    async def say_in_room(self, room_id: str, text: str, mention_ids: tuple[str, ...] = ()) -> None:
        if room_id not in self._rooms:
            raise SendError(f"no sandbox room {room_id}")
        await self._record(self._room_lines[room_id], self._bot_line(text, mention_ids))

    async def send_direct(self, contact_id: str, text: str) -> None:
        if contact_id not in self._names:
            raise SendError(f"no sandbox contact {contact_id}")
        lines = self._direct_lines.setdefault(contact_id, deque(maxlen=_LINES_KEPT))
        await self._record(lines, self._bot_line(text, ()))

    async def room_info(self, room_id: str) -> RoomInfo:
        try:
            return self._rooms[room_id]
        except KeyError:
            raise LookupError(f"no sandbox room {room_id}") from None

    # --- the people in the sandbox -----------------------------------------------------------

    def add_room(
        self,
        room_id: str,
        *,
        topic: str,
        owner_id: str,
        admin_ids: tuple[str, ...] = (),
        member_ids: tuple[str, ...] = (),
    ) -> RoomInfo:
        """A group the bot is in; its people must be known contacts or get their id as name."""
        for contact_id in (owner_id, *admin_ids, *member_ids):
            self._names.setdefault(contact_id, contact_id)
        members = tuple(dict.fromkeys((owner_id, *admin_ids, *member_ids, BOT_ID)))
        info = RoomInfo(room_id, topic, owner_id, admin_ids, members)
        self._rooms[room_id] = info
        self._room_lines.setdefault(room_id, deque(maxlen=_LINES_KEPT))
        return info

    async def post(
        self,
        sender_id: str,
        kind: MessageKind = MessageKind.TEXT,
        *,
        text: str = "",
        data: bytes | None = None,
        filename: str | None = None,
        room_id: str = DEMO_ROOM,
    ) -> IncomingMessage:
        """`sender_id` posts in a group; returns once the bot has taken the message in. An
        image or file posted without `data` cannot be fetched, like expired WeChat media."""
        info = self._rooms.get(room_id)
        if info is None:
            raise LookupError(f"no sandbox room {room_id}")
        if sender_id not in info.member_ids:
            raise PermissionError(f"{sender_id} is not a member of {room_id}")
        message = self._message(sender_id, kind, text, filename, room_id, info.topic)
        if data is not None:
            self._keep(message.message_id, data)
        line = ChatLine(
            sender_id, message.sender_name, text or filename or "", kind, (), message.message_id
        )
        await self._record(self._room_lines[room_id], line)
        await self.deliver(message)
        return message

    async def direct(self, sender_id: str, text: str) -> IncomingMessage:
        """`sender_id` writes to the bot in a direct message."""
        message = self._message(sender_id, MessageKind.TEXT, text, None, None, "")
        line = ChatLine(
            sender_id, message.sender_name, text, MessageKind.TEXT, (), message.message_id
        )
        lines = self._direct_lines.setdefault(sender_id, deque(maxlen=_LINES_KEPT))
        await self._record(lines, line)
        await self.deliver(message)
        return message

    async def recall(self, posted: IncomingMessage) -> IncomingMessage:
        """The sender takes a message back (WeChat's 撤回)."""
        self._payloads.pop(posted.message_id, None)
        message = self._message(
            posted.sender_id, MessageKind.RECALLED, "", None, posted.room_id, posted.room_topic
        )
        message = replace(message, recalled_message_id=posted.message_id)
        await self.deliver(message)
        return message

    async def deliver(self, message: IncomingMessage) -> None:
        """Hand a message to the bot (again, to test a platform that delivers twice)."""
        if self._handler is None:
            raise RuntimeError("the sandbox connector is not started")
        await self._handler(message)

    def expire(self, message_id: str) -> None:
        """Drop a message's bytes, as WeChat does with old media: fetching it then fails."""
        self._payloads.pop(message_id, None)

    # --- what was said -----------------------------------------------------------------------

    def transcript(self, room_id: str = DEMO_ROOM) -> list[ChatLine]:
        return list(self._room_lines.get(room_id, ()))

    def direct_messages(self, contact_id: str) -> list[ChatLine]:
        """The direct chat between the bot and `contact_id`, both ways."""
        return list(self._direct_lines.get(contact_id, ()))

    def name_of(self, contact_id: str) -> str:
        return self._names.get(contact_id, contact_id)

    async def wait_for(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Wait until `condition()` holds after some new line (True), or `timeout` (False)."""
        if self._changed is None:
            raise RuntimeError("the sandbox connector is not started")
        changed = self._changed
        async with changed:
            try:
                await asyncio.wait_for(changed.wait_for(condition), timeout)
            except TimeoutError:
                return False
        return True

    # --- inside ------------------------------------------------------------------------------

    def _message(
        self,
        sender_id: str,
        kind: MessageKind,
        text: str,
        filename: str | None,
        room_id: str | None,
        topic: str,
    ) -> IncomingMessage:
        return IncomingMessage(
            platform=self.platform,
            message_id=f"sbx-{next(self._ids)}-{time.time_ns()}",
            kind=kind,
            sender_id=sender_id,
            sender_name=self.name_of(sender_id),
            room_id=room_id,
            room_topic=topic,
            text=text or (filename or ""),
            filename=filename,
            sent_at=time.time(),
            is_self=sender_id == BOT_ID,
        )

    def _bot_line(self, text: str, mention_ids: tuple[str, ...]) -> ChatLine:
        return ChatLine(BOT_ID, self.name_of(BOT_ID), text, MessageKind.TEXT, mention_ids)

    def _keep(self, message_id: str, data: bytes) -> None:
        self._payloads[message_id] = data
        while len(self._payloads) > _PAYLOADS_KEPT:
            self._payloads.popitem(last=False)

    async def _record(self, lines: deque[ChatLine], line: ChatLine) -> None:
        lines.append(line)
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()
