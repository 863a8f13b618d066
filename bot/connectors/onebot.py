"""QQ groups through a OneBot v11 server (NapCat, LLOneBot, Lagrange.OneBot, go-cqhttp), over its
forward WebSocket.

A small client on aiohttp's WebSocket rather than a client library: the OneBot clients on PyPI
are either frameworks that want to own the process and its event loop (NoneBot2, AliceBot) or
unmaintained since 2023 (aiocqhttp), and the part leaksentry needs is small: one socket that
carries events one way and action requests and their `echo`-matched responses both ways.

Ids are written `qq:<number>` for groups and users alike, so that they never collide with WeChat
ids in enrollments, officer lists and Redis. A QQ message can carry several items (a text and two
images): each becomes an `IncomingMessage` of its own (`bot.connectors.items`). A group file is
keyed by its file id (`file-<id>`), so that a server that reports an upload both as a `file`
segment and as a `group_upload` notice has it scanned once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp

from bot.connectors.base import (
    ConnectorError,
    FetchError,
    IncomingMessage,
    MessageHandler,
    MessageKind,
    RoomInfo,
    SendError,
)
from bot.connectors.download import download
from bot.connectors.items import RecentItems, item_ids
from bot.connectors.reconnect import DEFAULT_RECONNECT_DELAYS, Backoff

log = logging.getLogger(__name__)

PLATFORM = "qq"
ID_PREFIX = "qq:"
URL_ENV = "ONEBOT_WS_URL"
TOKEN_ENV = "ONEBOT_ACCESS_TOKEN"

_FILE_SEGMENTS = {"image": MessageKind.IMAGE, "file": MessageKind.FILE}
_OTHER_SEGMENTS = {
    "video": MessageKind.VIDEO,
    "record": MessageKind.VOICE,
    "forward": MessageKind.CHAT_HISTORY,
    "share": MessageKind.URL,
}
_CQ_CODE = re.compile(r"\[CQ:(\w+)((?:,[^\]]*)?)\]")


def qq_id(number: object) -> str:
    """`qq:<number>`, the id of a QQ group or user in leaksentry."""
    return f"{ID_PREFIX}{number}"


def qq_number(leaksentry_id: str) -> int:
    """The number of a `qq:<number>` id; `ValueError` for anything else."""
    if not leaksentry_id.startswith(ID_PREFIX) or not leaksentry_id[3:].isdigit():
        raise ValueError(f"not a QQ id (qq:<number>): {leaksentry_id!r}")
    return int(leaksentry_id[3:])


class ActionFailed(RuntimeError):
    """The OneBot server answered an action with `status: failed`."""

    def __init__(self, action: str, retcode: object, message: str) -> None:
        super().__init__(f"{action} failed (retcode {retcode}): {message}")
        self.retcode = retcode


class NotConnected(RuntimeError):
    """No open WebSocket to the OneBot server right now."""


@dataclass(frozen=True)
class _Item:
    kind: MessageKind
    text: str = ""
    filename: str | None = None
    extra: Mapping[str, str] | None = None
    item_id: str | None = None
    """An id of its own (a group file's `file-<id>`), else one made from the message id."""


class OneBotConnector:
    """`ChatConnector` for QQ over a OneBot v11 forward WebSocket (Bearer access token)."""

    platform = PLATFORM
    id_prefix = ID_PREFIX

    def __init__(
        self,
        url: str,
        token: str = "",
        *,
        connect_timeout: float = 10.0,
        call_timeout: float = 30.0,
        max_fetch_bytes: int = 200 * 1024 * 1024,
        reconnect_delays: Iterable[float] = DEFAULT_RECONNECT_DELAYS,
        heartbeat: float = 30.0,
    ) -> None:
        """`url` is the server's forward WebSocket (`ws://127.0.0.1:3001`). `reconnect_delays`
        are the waits before the 1st, 2nd, ... reconnect (the last one repeats); a ping that
        gets no pong within `heartbeat` seconds drops the connection (a silent network drop
        never closes a socket by itself)."""
        url = url.strip()
        if not re.match(r"wss?://[^/\s]+", url):
            raise ConnectorError(
                f"the OneBot WebSocket URL must be ws://HOST:PORT or wss://..., not {url!r} "
                f"(set {URL_ENV})"
            )
        self.url = url
        self.token = token.strip()
        self.connect_timeout = connect_timeout
        self.call_timeout = call_timeout
        self.max_fetch_bytes = max_fetch_bytes
        self._backoff = Backoff(reconnect_delays)
        self.heartbeat = heartbeat
        self.self_id: str | None = None
        self.connections = 0
        """Connections opened so far, the first one included: one more per reconnect."""
        self._on_message: MessageHandler | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._echoes = itertools.count(1)
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._items_of = RecentItems()
        self._topics: dict[str, str] = {}
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    def from_env(cls, **options: Any) -> OneBotConnector:
        """From ONEBOT_WS_URL and ONEBOT_ACCESS_TOKEN."""
        return cls(os.environ.get(URL_ENV, ""), os.environ.get(TOKEN_ENV, ""), **options)

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._ws.closed

    # --- connecting --------------------------------------------------------------------------

    async def start(self, on_message: MessageHandler) -> None:
        """Connects and asks who the bot is; raises `ConnectorError` on a rejected token, an
        unreachable server (within `connect_timeout`) or a server that is not logged in."""
        if self._tasks:
            raise ConnectorError("already started")
        self._on_message = on_message
        self._session = aiohttp.ClientSession()
        try:
            self._tasks.append(asyncio.create_task(self._dispatch(), name="onebot-events"))
            await self._connect()
            await self._log_in()
        except BaseException:
            await self.stop()
            raise
        self._tasks.append(asyncio.create_task(self._run(), name="onebot-connection"))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        if self._reader is not None:
            tasks.append(self._reader)
            self._reader = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()
        self._fail_pending()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _connect(self) -> None:
        """Opens the socket and starts reading it (`_reader`)."""
        assert self._session is not None
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            ws = await asyncio.wait_for(
                self._session.ws_connect(
                    self.url,
                    headers=headers,
                    heartbeat=self.heartbeat,
                    max_msg_size=64 * 1024 * 1024,
                ),
                self.connect_timeout,
            )
        except aiohttp.WSServerHandshakeError as error:
            if error.status in (401, 403):
                raise ConnectorError(
                    f"the OneBot server at {self.url} rejected the access token "
                    f"(HTTP {error.status}; set {TOKEN_ENV} to its access token)"
                ) from None
            raise ConnectorError(
                f"the OneBot server at {self.url} refused the WebSocket: HTTP {error.status}"
            ) from None
        except (aiohttp.ClientConnectionError, OSError) as error:
            raise ConnectorError(f"cannot reach the OneBot server at {self.url}: {error}") from None
        except TimeoutError:
            raise ConnectorError(
                f"the OneBot server at {self.url} did not answer within {self.connect_timeout} s"
            ) from None
        self._ws = ws
        self.connections += 1
        self._reader = asyncio.create_task(self._read(ws), name="onebot-reader")

    async def _log_in(self) -> None:
        try:
            data = await self.call("get_login_info")
        except (ActionFailed, NotConnected, TimeoutError) as error:
            raise ConnectorError(
                f"the OneBot server at {self.url} gave no login info (is QQ logged in?): {error}"
            ) from None
        if not isinstance(data, dict) or not str(data.get("user_id", "")).isdigit():
            raise ConnectorError(f"the OneBot server at {self.url} sent no QQ number: {data!r}")
        self.self_id = qq_id(data["user_id"])
        log.info("connected to QQ as %s (%s) at %s", data.get("nickname"), self.self_id, self.url)

    async def _run(self) -> None:
        """Wait for the connection to drop, reconnect after a growing delay; forever."""
        failures = 0
        while True:
            if self._reader is not None:
                await asyncio.gather(self._reader, return_exceptions=True)
            self._ws = None
            self._fail_pending()
            log.warning("lost the connection to the OneBot server at %s", self.url)
            while True:
                await self._backoff.wait(failures, "the OneBot server")
                try:
                    await self._connect()
                except ConnectorError as error:
                    failures += 1
                    log.warning("%s", error)
                    continue
                try:
                    await self._log_in()
                except ConnectorError as error:
                    log.warning("%s", error)
                failures = 0
                break

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Responses go to their callers, events to the dispatcher's queue: the reader never
        waits on a handler, which may itself call actions."""
        async for frame in ws:
            if frame.type is not aiohttp.WSMsgType.TEXT:
                continue
            try:
                payload = json.loads(frame.data)
            except json.JSONDecodeError:
                log.warning("a OneBot frame that is not JSON: %.80r", frame.data)
                continue
            if not isinstance(payload, dict):
                continue
            if "post_type" in payload:
                self._events.put_nowait(payload)
            elif "echo" in payload:
                future = self._pending.pop(str(payload["echo"]), None)
                if future is not None and not future.done():
                    future.set_result(payload)

    def _fail_pending(self) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(NotConnected("the connection dropped before the answer"))

    # --- actions -----------------------------------------------------------------------------

    async def call(self, action: str, **params: Any) -> Any:
        """A OneBot action over the socket; its `data`. `ActionFailed`, `NotConnected` or
        `TimeoutError` (after `call_timeout`)."""
        ws = self._ws
        if ws is None or ws.closed:
            raise NotConnected(f"not connected to the OneBot server at {self.url}")
        echo = f"leaksentry-{next(self._echoes)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[echo] = future
        try:
            await ws.send_json({"action": action, "params": params, "echo": echo})
            response = await asyncio.wait_for(future, self.call_timeout)
        except (aiohttp.ClientError, ConnectionResetError) as error:
            raise NotConnected(f"sending {action} failed: {error!r}") from None
        finally:
            self._pending.pop(echo, None)
        if response.get("status") not in ("ok", "async"):
            reason = response.get("wording") or response.get("message") or response.get("msg")
            raise ActionFailed(action, response.get("retcode"), str(reason or "no reason given"))
        return response.get("data")

    # --- receiving ---------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        while True:
            event = await self._events.get()
            try:
                messages = await self._to_incoming(event)
            except Exception:
                log.exception("could not read a OneBot %s event", event.get("post_type"))
                continue
            for message in messages:
                handler = self._on_message
                if handler is None:
                    break
                try:
                    await handler(message)
                except Exception:
                    log.exception("handling QQ message %s failed", message.message_id)

    async def _to_incoming(self, event: Mapping[str, Any]) -> list[IncomingMessage]:
        post_type, notice = event.get("post_type"), event.get("notice_type")
        if post_type == "message":
            messages = list(self._message_items(event))
        elif post_type == "notice" and notice == "group_upload":
            messages = [self._group_upload(event)]
        elif post_type == "notice" and notice in ("group_recall", "friend_recall"):
            messages = list(self._recalls(event))
        else:
            return []  # heartbeats, lifecycle, other notices and requests
        return [await self._named(message) for message in messages]

    async def _named(self, message: IncomingMessage) -> IncomingMessage:
        """Events name neither the group (only its number) nor, for notices, the sender:
        the group's name is asked once, a sender's with `get_group_member_info`."""
        if message.room_id is None:
            return message
        topic = self._topics.get(message.room_id)
        if topic is None:
            info = await self._quietly("get_group_info", group_id=qq_number(message.room_id))
            topic = self._topics[message.room_id] = str(info.get("group_name") or "")
        name = message.sender_name
        if not name:
            member = await self._quietly(
                "get_group_member_info",
                group_id=qq_number(message.room_id),
                user_id=_number(message.sender_id, ValueError),
            )
            name = str(member.get("card") or member.get("nickname") or "")
        return replace(message, room_topic=message.room_topic or topic, sender_name=name)

    async def _quietly(self, action: str, **params: Any) -> dict[str, Any]:
        """An action whose answer only makes a message nicer: `{}` when it fails."""
        try:
            data = await self.call(action, **params)
        except (ActionFailed, NotConnected, TimeoutError) as error:
            log.warning("%s: %s", action, error or "no answer in time")
            return {}
        return data if isinstance(data, dict) else {}

    def _message_items(self, event: Mapping[str, Any]) -> Iterator[IncomingMessage]:
        message_id = str(event.get("message_id", ""))
        if not message_id:
            return
        segments = _segments(event.get("message"))
        items = _items(segments)
        ids = item_ids(message_id, [item.item_id for item in items])
        self._items_of.remember(message_id, ids)
        mentions_self = any(
            kind == "at" and self.self_id is not None and qq_id(data.get("qq")) == self.self_id
            for kind, data in segments
        )
        for item, item_id in zip(items, ids, strict=True):
            yield self._incoming(event, item_id, item, mentions_self=mentions_self)

    def _group_upload(self, event: Mapping[str, Any]) -> IncomingMessage:
        file = _mapping(event.get("file"))
        item = _file_item(
            MessageKind.FILE,
            {"file_id": file.get("id"), "name": file.get("name"), **file},
        )
        return self._incoming(event, item.item_id or "", item)

    def _recalls(self, event: Mapping[str, Any]) -> Iterator[IncomingMessage]:
        message_id = str(event.get("message_id", ""))
        if not message_id:
            return
        for item_id in self._items_of.of(message_id):
            recall = _Item(MessageKind.RECALLED, extra={"operator": str(event.get("operator_id"))})
            incoming = self._incoming(event, f"recall-{item_id}", recall)
            yield replace(incoming, recalled_message_id=item_id)

    def _incoming(
        self,
        event: Mapping[str, Any],
        message_id: str,
        item: _Item,
        *,
        mentions_self: bool = False,
    ) -> IncomingMessage:
        sender = _mapping(event.get("sender"))
        sender_id = qq_id(event.get("user_id", sender.get("user_id", "")))
        group = event.get("group_id")
        return IncomingMessage(
            platform=self.platform,
            message_id=message_id,
            kind=item.kind,
            sender_id=sender_id,
            sender_name=str(sender.get("card") or sender.get("nickname") or ""),
            room_id=qq_id(group) if group else None,
            room_topic=str(event.get("group_name") or ""),
            text=item.text or (item.filename or ""),
            filename=item.filename,
            mentions_self=mentions_self,
            sent_at=float(event.get("time") or 0),
            is_self=sender_id == self.self_id,
            extra={k: v for k, v in (item.extra or {}).items() if v},
        )

    # --- fetching ----------------------------------------------------------------------------

    async def fetch(self, message: IncomingMessage) -> bytes:
        if message.kind not in (MessageKind.IMAGE, MessageKind.FILE):
            raise FetchError(f"a {message.kind.value} message carries no file")
        url = message.extra.get("url", "")
        try:
            if not url.startswith(("http://", "https://")):
                url = await self._file_url(message)
        except (ActionFailed, NotConnected, TimeoutError) as error:
            raise FetchError(f"the OneBot server has no file: {error}") from None
        if url.startswith("base64://"):
            return self._checked(_base64(url.removeprefix("base64://")))
        if url.startswith("/"):  # a server on this machine may give a path to its cache
            return self._checked(await asyncio.to_thread(_read_local, Path(url)))
        assert self._session is not None
        return await download(
            self._session, url, max_bytes=self.max_fetch_bytes, timeout=self.call_timeout
        )

    async def _file_url(self, message: IncomingMessage) -> str:
        """Where a file without a URL in its event can be had: `get_image` for an image,
        `get_group_file_url` for a group file, `get_file` for another file."""
        extra = message.extra
        if message.kind is MessageKind.IMAGE:
            data = await self.call("get_image", file=extra.get("file", ""))
        elif message.room_id is not None and extra.get("file_id"):
            params: dict[str, Any] = {"group_id": qq_number(message.room_id)}
            params["file_id"] = extra["file_id"]
            if extra.get("busid", "").isdigit():
                params["busid"] = int(extra["busid"])
            data = await self.call("get_group_file_url", **params)
        else:
            data = await self.call("get_file", file_id=extra.get("file_id") or extra.get("file"))
        if not isinstance(data, dict):
            raise FetchError("the OneBot server answered with no file")
        if data.get("base64"):
            return f"base64://{data['base64']}"
        return str(data.get("url") or data.get("file") or "")

    def _checked(self, data: bytes) -> bytes:
        if len(data) > self.max_fetch_bytes:
            raise FetchError(f"the file is larger than {self.max_fetch_bytes} bytes")
        return data

    # --- sending -----------------------------------------------------------------------------

    async def say_in_room(self, room_id: str, text: str, mention_ids: tuple[str, ...] = ()) -> None:
        """`text` in the group, after an @ of each of `mention_ids` (QQ shows their names)."""
        segments: list[dict[str, Any]] = []
        for contact_id in mention_ids:
            segments.append({"type": "at", "data": {"qq": str(_number(contact_id, SendError))}})
        segments.append({"type": "text", "data": {"text": (" " if segments else "") + text}})
        group_id = _number(room_id, SendError)
        await self._send("send_group_msg", f"group {room_id}", group_id=group_id, message=segments)

    async def send_direct(self, contact_id: str, text: str) -> None:
        user_id = _number(contact_id, SendError)
        message = [{"type": "text", "data": {"text": text}}]
        await self._send("send_private_msg", contact_id, user_id=user_id, message=message)

    async def _send(self, action: str, to: str, **params: Any) -> None:
        try:
            await self.call(action, **params)
        except (ActionFailed, NotConnected, TimeoutError) as error:
            raise SendError(f"sending to {to} failed: {error or 'no answer in time'}") from None

    # --- describing a group ------------------------------------------------------------------

    async def room_info(self, room_id: str) -> RoomInfo:
        """Name, owner, admins and members as the server tells them now (each member's `role`
        is `owner`, `admin` or `member`)."""
        group_id = _number(room_id, ConnectorError)
        try:
            info = await self.call("get_group_info", group_id=group_id)
            members = await self.call("get_group_member_list", group_id=group_id)
        except (ActionFailed, NotConnected, TimeoutError) as error:
            raise ConnectorError(f"no information on group {room_id}: {error}") from None
        if not isinstance(info, dict) or not isinstance(members, list):
            raise ConnectorError(f"no information on group {room_id}: malformed answer")
        roles = {
            qq_id(m.get("user_id")): str(m.get("role", "member"))
            for m in members
            if isinstance(m, dict)
        }
        self._topics[room_id] = str(info.get("group_name") or "")  # a renamed group's new name
        return RoomInfo(
            room_id=room_id,
            topic=self._topics[room_id],
            owner_id=next((m for m, role in roles.items() if role == "owner"), None),
            admin_ids=tuple(m for m, role in roles.items() if role == "admin"),
            member_ids=tuple(roles),
        )


# --- message segments ----------------------------------------------------------------------


def _segments(message: object) -> list[tuple[str, dict[str, Any]]]:
    """A message as (type, data) pairs: the array format, or the string format's CQ codes."""
    if isinstance(message, str):
        return list(_cq_segments(message))
    if not isinstance(message, list):
        return []
    return [(str(s.get("type")), _mapping(s.get("data"))) for s in message if isinstance(s, dict)]


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _cq_segments(message: str) -> Iterator[tuple[str, dict[str, Any]]]:
    position = 0
    for code in _CQ_CODE.finditer(message):
        if code.start() > position:
            yield "text", {"text": _cq_unescape(message[position : code.start()])}
        data = {}
        for pair in code.group(2).split(",")[1:]:
            key, _, value = pair.partition("=")
            data[key] = _cq_unescape(value)
        yield code.group(1), data
        position = code.end()
    if position < len(message):
        yield "text", {"text": _cq_unescape(message[position:])}


def _cq_unescape(text: str) -> str:
    return (
        text.replace("&#44;", ",").replace("&#91;", "[").replace("&#93;", "]").replace("&amp;", "&")
    )


def _items(segments: list[tuple[str, dict[str, Any]]]) -> list[_Item]:
    """A text item for the message's text (if any), then one per image, file and the like."""
    text = "".join(str(data.get("text", "")) for kind, data in segments if kind == "text")
    items = [_Item(MessageKind.TEXT, text)] if text.strip() else []
    for kind, data in segments:
        if kind in _FILE_SEGMENTS:
            items.append(_file_item(_FILE_SEGMENTS[kind], data))
        elif kind in _OTHER_SEGMENTS:
            title = " ".join(str(data.get(k, "")) for k in ("title", "content") if data.get(k))
            items.append(_Item(_OTHER_SEGMENTS[kind], title))
    return items


def _file_item(kind: MessageKind, data: Mapping[str, Any]) -> _Item:
    file_id = str(data.get("file_id") or "")
    name = str(data.get("name") or data.get("file_name") or data.get("file") or "")
    extra = {
        "url": str(data.get("url") or ""),
        "file": str(data.get("file") or ""),
        "file_id": file_id,
        "busid": str(data.get("busid") or ""),
    }
    item_id = f"file-{file_id}" if kind is MessageKind.FILE and file_id else None
    return _Item(kind, filename=name or None, extra=extra, item_id=item_id)


def _number(leaksentry_id: str, error: type[Exception]) -> int:
    try:
        return qq_number(leaksentry_id)
    except ValueError as exc:
        raise error(str(exc)) from None


def _base64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise FetchError("the OneBot server sent malformed base64") from None


def _read_local(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise FetchError(f"the OneBot server's file {path} cannot be read: {error}") from None


__all__ = ["OneBotConnector", "qq_id", "qq_number"]
