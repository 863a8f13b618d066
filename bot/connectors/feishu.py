"""Feishu (Lark) groups through a Feishu app's bot, with the official SDK (PyPI `lark-oapi`).

A bot with the `im:message.group_msg` scope receives every message of the groups it is in as
an `im.message.receive_v1` event, which makes passive monitoring possible on an official API.
Events arrive over the HTTP callback ("request URL" in the app's event settings): this module
serves it and hands each request to lark-oapi's `EventDispatcherHandler`, which decrypts it with
the encrypt key, checks the verification token and the signature (`X-Lark-Signature`) and
answers the URL check. Images and files are fetched by message id and file key (the message
resource API), warnings are replies to the member's message that mention them, DMs go to
`open_id`s. Ids are written `feishu:<chat_id>` and `feishu:<open_id>`.

What it works around in lark-oapi 1.7:
- Its API calls are async (httpx), but it fetches the tenant access token with a blocking
  `requests` call inside them: the connector fetches and renews the token itself (async) and
  hands it to each call (`enable_set_token`).
- Its logger `Lark` prints to stdout by itself: it is routed into `logging`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import lark_oapi as lark
from aiohttp import web
from lark_oapi.api.im.v1 import (
    CreateMessageRequest,
    CreateMessageRequestBody,
    GetChatMembersRequest,
    GetChatRequest,
    GetMessageResourceRequest,
    P2ImMessageRecalledV1,
    P2ImMessageReceiveV1,
    ReplyMessageRequest,
    ReplyMessageRequestBody,
)

from bot.connectors.base import (
    ConnectorError,
    FetchError,
    IncomingMessage,
    MessageHandler,
    MessageKind,
    RoomInfo,
    SendError,
)
from bot.connectors.items import RecentItems, item_ids

log = logging.getLogger(__name__)

PLATFORM = "feishu"
ID_PREFIX = "feishu:"
APP_ID_ENV = "FEISHU_APP_ID"
APP_SECRET_ENV = "FEISHU_APP_SECRET"
VERIFICATION_TOKEN_ENV = "FEISHU_VERIFICATION_TOKEN"
ENCRYPT_KEY_ENV = "FEISHU_ENCRYPT_KEY"
BASE_URL_ENV = "FEISHU_BASE_URL"
LISTEN_ENV = "FEISHU_CALLBACK_LISTEN"
DEFAULT_BASE_URL = "https://open.feishu.cn"  # Lark (international): https://open.larksuite.com
DEFAULT_LISTEN = "127.0.0.1:8090"
CALLBACK_PATH = "/feishu/events"
EVENTS_ENV = "FEISHU_EVENTS"
CALLBACK, LONG_CONNECTION = "callback", "long_connection"

_TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
_BOT_INFO_PATH = "/open-apis/bot/v3/info"
_TOKEN_RENEW_SECONDS = 600  # renew this long before the token expires
_TOKEN_INVALID = {99991661, 99991663, 99991668}  # codes of a missing, invalid or expired token
_KINDS = {
    "text": MessageKind.TEXT,
    "post": MessageKind.TEXT,
    "image": MessageKind.IMAGE,
    "file": MessageKind.FILE,
    "media": MessageKind.VIDEO,
    "audio": MessageKind.VOICE,
    "merge_forward": MessageKind.CHAT_HISTORY,
}
_MENTION_KEY = re.compile(r"@_user_\d+")


def feishu_id(open_or_chat_id: str) -> str:
    return f"{ID_PREFIX}{open_or_chat_id}"


def feishu_native(leaksentry_id: str) -> str:
    """The chat id or open id of a `feishu:` id; `ValueError` for anything else."""
    native = leaksentry_id.removeprefix(ID_PREFIX)
    if native == leaksentry_id or not re.fullmatch(r"[A-Za-z0-9_\-]+", native):
        raise ValueError(f"not a Feishu id (feishu:<chat_id or open_id>): {leaksentry_id!r}")
    return native


class ApiError(RuntimeError):
    """The open API answered with a non-zero code (or not at all)."""

    def __init__(self, what: str, code: object, message: str) -> None:
        super().__init__(f"{what}: code {code}, {message}")
        self.code = code


@dataclass(frozen=True)
class _Item:
    kind: MessageKind
    text: str = ""
    file_key: str = ""
    filename: str | None = None


class FeishuConnector:
    """`ChatConnector` for Feishu groups: the open API for everything sent and fetched, the
    HTTP event callback (served on `listen`) for everything received."""

    platform = PLATFORM
    id_prefix = ID_PREFIX

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        *,
        verification_token: str = "",
        encrypt_key: str = "",
        events: str = CALLBACK,
        base_url: str = DEFAULT_BASE_URL,
        listen: str = DEFAULT_LISTEN,
        call_timeout: float = 30.0,
        max_fetch_bytes: int = 200 * 1024 * 1024,
        names_refresh_seconds: float = 600.0,
        reply_window_seconds: float = 600.0,
    ) -> None:
        """`events` is `callback` (the HTTP callback, served on `listen` at `/feishu/events`,
        which needs the verification token and the encrypt key) or `long_connection`;
        `base_url` the open API's origin (a private deployment's, or a stand-in's). A warning
        replies to the member's image or file of at most `reply_window_seconds` ago (a scan
        takes seconds): an older one is likely not what was flagged (a text)."""
        if events not in (CALLBACK, LONG_CONNECTION):
            raise ConnectorError(f"{EVENTS_ENV} is {CALLBACK} or {LONG_CONNECTION}, not {events!r}")
        required = [(APP_ID_ENV, app_id), (APP_SECRET_ENV, app_secret)]
        if events == CALLBACK:
            required += [
                (VERIFICATION_TOKEN_ENV, verification_token),
                (ENCRYPT_KEY_ENV, encrypt_key),
            ]
        missing = [name for name, value in required if not value.strip()]
        if missing:
            raise ConnectorError(
                f"the Feishu app is not fully configured: set {', '.join(missing)} (the app's "
                "credentials, and the event subscription's verification token and encrypt key)"
            )
        self.app_id, self.app_secret = app_id.strip(), app_secret.strip()
        self.events = events
        self.base_url = base_url.strip().rstrip("/")
        self.host, self.port = _listen_address(listen)
        self.call_timeout = call_timeout
        self.max_fetch_bytes = max_fetch_bytes
        self.names_refresh_seconds = names_refresh_seconds
        self.reply_window_seconds = reply_window_seconds
        self.self_id: str | None = None
        try:
            self._client = (
                lark.Client.builder()
                .app_id(self.app_id)
                .app_secret(self.app_secret)
                .domain(self.base_url)
                .timeout(call_timeout)
                .enable_set_token(True)
                .build()
            )
        except ValueError as error:  # lark-oapi refuses a base URL that is not an origin
            raise ConnectorError(f"{BASE_URL_ENV}: {error}") from None
        self._dispatcher = (
            lark.EventDispatcherHandler.builder(encrypt_key.strip(), verification_token.strip())
            .register_p2_im_message_receive_v1(self._on_receive)
            .register_p2_im_message_recalled_v1(self._on_recall)
            .build()
        )
        self._on_message: MessageHandler | None = None
        self._events: asyncio.Queue[IncomingMessage] = asyncio.Queue()
        self._dispatch: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._long_connection: _LongConnection | None = None
        self._token = ""
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()
        self._items_of = RecentItems()
        self._latest: dict[tuple[str, str], tuple[str, float]] = {}
        """(chat, sender) -> Feishu id and arrival of the sender's latest image or file there."""
        self._names: dict[str, str] = {}
        self._names_loaded: dict[str, float] = {}
        _route_sdk_logger()

    @classmethod
    def from_env(cls, **options: Any) -> FeishuConnector:
        env = os.environ.get
        return cls(
            env(APP_ID_ENV, ""),
            env(APP_SECRET_ENV, ""),
            verification_token=env(VERIFICATION_TOKEN_ENV, ""),
            encrypt_key=env(ENCRYPT_KEY_ENV, ""),
            events=env(EVENTS_ENV, "") or CALLBACK,
            base_url=env(BASE_URL_ENV, "") or DEFAULT_BASE_URL,
            listen=env(LISTEN_ENV, "") or DEFAULT_LISTEN,
            **options,
        )

    @property
    def callback_url(self) -> str:
        return f"http://{self.host}:{self.port}{CALLBACK_PATH}"

    # --- starting ----------------------------------------------------------------------------

    async def start(self, on_message: MessageHandler) -> None:
        """Checks the app's credentials (a tenant token and the bot's own open id), then
        serves the event callback or opens the long connection; `ConnectorError` when either
        fails."""
        if self._loop is not None:
            raise ConnectorError("already started")
        await self._renew_token()
        try:
            info = await self._get_json(_BOT_INFO_PATH)
        except ApiError as error:
            raise ConnectorError(
                f"the Feishu app has no bot (enable its bot feature): {error}"
            ) from None
        bot = info.get("bot") if isinstance(info.get("bot"), dict) else {}
        if not bot or not bot.get("open_id"):
            raise ConnectorError("the Feishu open API sent no open_id for the app's bot")
        self.self_id = feishu_id(str(bot["open_id"]))
        self._on_message = on_message
        self._loop = asyncio.get_running_loop()
        try:
            if self.events == LONG_CONNECTION:
                await self._open_long_connection()
            else:
                await self._serve_callback()
        except BaseException:
            self._loop = None
            raise
        self._dispatch = asyncio.create_task(self._deliver(), name="feishu-events")
        log.info("Feishu bot %s (%s) ready (%s)", bot.get("app_name"), self.self_id, self.events)

    async def _serve_callback(self) -> None:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post(CALLBACK_PATH, self._callback)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as error:
            await runner.cleanup()
            raise ConnectorError(
                f"cannot serve the Feishu event callback on {self.host}:{self.port} "
                f"({LISTEN_ENV}): {error.strerror or error}"
            ) from None
        self._runner = runner

    async def _open_long_connection(self) -> None:
        connection = _LongConnection(self, self._dispatcher)
        try:
            await connection.opened(self.call_timeout)
        except ConnectorError:
            await asyncio.to_thread(connection.close)
            raise
        self._long_connection = connection

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        connection, self._long_connection = self._long_connection, None
        if connection is not None:
            await asyncio.to_thread(connection.close)
        self._loop = None
        dispatch, self._dispatch = self._dispatch, None
        if dispatch is not None:
            dispatch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dispatch

    # --- receiving ---------------------------------------------------------------------------

    async def _callback(self, request: web.Request) -> web.Response:
        """One event request: lark-oapi checks it; what it delivers is queued, and the answer
        goes back at once (Feishu sends an event again when it waits over 3 s for one)."""
        raw = lark.RawRequest()
        raw.uri = request.path
        raw.body = await request.read()
        raw.headers = {_canonical(k): v for k, v in request.headers.items()}
        answer = self._dispatcher.do(raw)
        return web.Response(
            status=answer.status_code or 200,
            body=answer.content or b"",
            content_type="application/json",
        )

    def _on_receive(self, data: P2ImMessageReceiveV1) -> None:
        for message in self._receive_items(data):
            self._queue(message)

    def _on_recall(self, data: P2ImMessageRecalledV1) -> None:
        event = data.event
        if event is None or not event.message_id:
            return
        at = _seconds(event.recall_time)
        for item_id in self._items_of.of(event.message_id):
            self._queue(
                IncomingMessage(
                    platform=self.platform,
                    message_id=f"recall-{item_id}",
                    kind=MessageKind.RECALLED,
                    sender_id="",
                    sender_name="",
                    room_id=feishu_id(event.chat_id) if event.chat_id else None,
                    recalled_message_id=item_id,
                    sent_at=at,
                )
            )

    def _queue(self, message: IncomingMessage) -> None:
        """From lark-oapi's callbacks: in this loop's thread (the HTTP callback) or in the long
        connection's."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._events.put_nowait, message)

    async def _deliver(self) -> None:
        while True:
            message = await self._events.get()
            handler = self._on_message
            if handler is None:
                continue
            try:
                await handler(await self._named(message))
            except Exception:
                log.exception("handling Feishu message %s failed", message.message_id)

    def _receive_items(self, data: P2ImMessageReceiveV1) -> Iterator[IncomingMessage]:
        event = data.event
        message = event.message if event else None
        sender = event.sender if event else None
        if message is None or not message.message_id or sender is None:
            return
        open_id = sender.sender_id.open_id if sender.sender_id else None
        sender_id = feishu_id(open_id) if open_id else ""
        room_id = (
            feishu_id(message.chat_id) if message.chat_type == "group" and message.chat_id else None
        )
        mentions = {m.key: m for m in message.mentions or [] if m.key}
        mentions_self = any(
            m.id is not None and feishu_id(str(m.id.open_id)) == self.self_id
            for m in mentions.values()
        )
        items = list(_items(message.message_type or "", message.content or "{}"))
        ids = item_ids(message.message_id, [None] * len(items))
        self._items_of.remember(message.message_id, ids)
        for item, item_id in zip(items, ids, strict=True):
            if item.file_key and room_id:
                self._latest[(room_id, sender_id)] = (message.message_id, time.monotonic())
            text = _MENTION_KEY.sub(lambda m: f"@{_mention_name(mentions, m.group())}", item.text)
            yield IncomingMessage(
                platform=self.platform,
                message_id=item_id,
                kind=item.kind,
                sender_id=sender_id,
                sender_name="",
                room_id=room_id,
                text=text or (item.filename or ""),
                filename=item.filename,
                mentions_self=mentions_self,
                sent_at=_seconds(message.create_time),
                is_self=sender_id == self.self_id,
                extra={"file_key": item.file_key, "message_type": message.message_type or ""},
            )

    async def _named(self, message: IncomingMessage) -> IncomingMessage:
        """Events name neither the sender nor the group: both are looked up (and kept)."""
        if message.room_id is None or not message.sender_id:
            return message
        if message.sender_id not in self._names or message.room_id not in self._names:
            await self._load_names(message.room_id)
        return replace(
            message,
            sender_name=self._names.get(message.sender_id, ""),
            room_topic=self._names.get(message.room_id, ""),
        )

    async def _load_names(self, room_id: str) -> None:
        if time.monotonic() - self._names_loaded.get(room_id, -1e9) < self.names_refresh_seconds:
            return
        self._names_loaded[room_id] = time.monotonic()
        try:
            await self.room_info(room_id)
        except ConnectorError as error:
            log.warning("no names for Feishu group %s: %s", room_id, error)

    # --- fetching ----------------------------------------------------------------------------

    async def fetch(self, message: IncomingMessage) -> bytes:
        file_key = message.extra.get("file_key", "")
        native = message.message_id.split("#")[0]  # the Feishu message the item came in
        if message.kind not in (MessageKind.IMAGE, MessageKind.FILE) or not file_key:
            raise FetchError(f"a {message.kind.value} message carries no file")
        request = (
            GetMessageResourceRequest.builder()
            .message_id(native)
            .file_key(file_key)
            .type("image" if message.kind is MessageKind.IMAGE else "file")
            .build()
        )
        try:
            response = await self._call(
                "fetching the file", self._client.im.v1.message_resource.aget, request
            )
        except ApiError as error:
            raise FetchError(str(error)) from None
        data = response.file.read() if response.file is not None else b""
        if len(data) > self.max_fetch_bytes:
            raise FetchError(f"the file is larger than {self.max_fetch_bytes} bytes")
        return data

    # --- sending -----------------------------------------------------------------------------

    async def say_in_room(self, room_id: str, text: str, mention_ids: tuple[str, ...] = ()) -> None:
        """`text` in the group. With mentions: a reply to the first mentioned member's latest
        image or file there (the item warned about) when it came within `reply_window_seconds`,
        else a message of its own; either @mentions each of them."""
        chat_id = _native(room_id, SendError)
        ats = "".join(
            f'<at user_id="{_native(m, SendError)}">{self._names.get(m, "")}</at> '
            for m in mention_ids
        )
        content = json.dumps({"text": ats + text}, ensure_ascii=False)
        latest = self._latest.get((room_id, mention_ids[0])) if mention_ids else None
        fresh = latest is not None and time.monotonic() - latest[1] < self.reply_window_seconds
        replied_to = latest[0] if latest is not None and fresh else None
        if replied_to is not None:
            body = ReplyMessageRequestBody.builder().msg_type("text").content(content).build()
            request: Any = (
                ReplyMessageRequest.builder().message_id(replied_to).request_body(body).build()
            )
            await self._send(f"group {room_id}", self._client.im.v1.message.areply, request)
        else:
            await self._create("chat_id", chat_id, content, f"group {room_id}")

    async def send_direct(self, contact_id: str, text: str) -> None:
        content = json.dumps({"text": text}, ensure_ascii=False)
        await self._create("open_id", _native(contact_id, SendError), content, contact_id)

    async def _create(self, id_type: str, receive_id: str, content: str, to: str) -> None:
        body = (
            CreateMessageRequestBody.builder()
            .receive_id(receive_id)
            .msg_type("text")
            .content(content)
            .build()
        )
        request = CreateMessageRequest.builder().receive_id_type(id_type).request_body(body).build()
        await self._send(to, self._client.im.v1.message.acreate, request)

    async def _send(self, to: str, method: Any, request: Any) -> None:
        try:
            await self._call(f"sending to {to}", method, request)
        except ApiError as error:
            raise SendError(str(error)) from None

    # --- describing a group ------------------------------------------------------------------

    async def room_info(self, room_id: str) -> RoomInfo:
        """Name, owner, managers (`user_manager_id_list`) and members, as open ids."""
        chat_id = _native(room_id, ConnectorError)
        try:
            chat = await self._call(
                f"group {room_id}",
                self._client.im.v1.chat.aget,
                GetChatRequest.builder().chat_id(chat_id).user_id_type("open_id").build(),
            )
            members = await self._members(room_id, chat_id)
        except ApiError as error:
            raise ConnectorError(f"no information on group {room_id}: {error}") from None
        data = chat.data
        topic = str(data.name or "") if data else ""
        self._names[room_id] = topic
        owner = data.owner_id if data and data.owner_id_type == "open_id" else None
        return RoomInfo(
            room_id=room_id,
            topic=topic,
            owner_id=feishu_id(owner) if owner else None,
            admin_ids=tuple(feishu_id(m) for m in (data.user_manager_id_list or []) if data),
            member_ids=tuple(members),
        )

    async def _members(self, room_id: str, chat_id: str) -> list[str]:
        members: list[str] = []
        page_token = ""
        while True:
            builder = GetChatMembersRequest.builder().chat_id(chat_id).member_id_type("open_id")
            builder = builder.page_size(100)
            if page_token:
                builder = builder.page_token(page_token)
            page = await self._call(
                f"members of {room_id}", self._client.im.v1.chat_members.aget, builder.build()
            )
            for member in (page.data.items if page.data else None) or []:
                if member.member_id:
                    member_id = feishu_id(member.member_id)
                    members.append(member_id)
                    self._names[member_id] = member.name or ""
            if not (page.data and page.data.has_more and page.data.page_token):
                return members
            page_token = page.data.page_token

    # --- the open API ------------------------------------------------------------------------

    async def _call(self, what: str, method: Any, request: Any) -> Any:
        """A lark-oapi call with the tenant token; renewed and tried again once when the API
        says it is no longer valid. `ApiError` on any failure."""
        for attempt in range(2):
            option = (
                lark.RequestOption.builder().tenant_access_token(await self._tenant_token()).build()
            )
            try:
                response = await asyncio.wait_for(method(request, option), self.call_timeout)
            except (TimeoutError, OSError) as error:
                raise ApiError(what, "-", f"no answer ({error!r})") from None
            except Exception as error:  # httpx's errors, lark-oapi's own
                raise ApiError(what, "-", repr(error)) from None
            if response.success():
                return response
            code, message = _failure(response)
            if code in _TOKEN_INVALID and attempt == 0:
                self._token_expires = 0.0
                continue
            raise ApiError(what, code, message)
        raise AssertionError("unreachable")

    async def _tenant_token(self) -> str:
        if time.time() > self._token_expires - _TOKEN_RENEW_SECONDS:
            async with self._token_lock:
                if time.time() > self._token_expires - _TOKEN_RENEW_SECONDS:
                    try:
                        await self._renew_token()
                    except ConnectorError as error:
                        raise ApiError("tenant access token", "-", str(error)) from None
        return self._token

    async def _renew_token(self) -> None:
        body = {"app_id": self.app_id, "app_secret": self.app_secret}
        try:
            answer = await self._raw("POST", _TOKEN_PATH, body=body, token=False)
        except ApiError as error:
            raise ConnectorError(
                f"cannot reach the Feishu open API at {self.base_url}: {error}"
            ) from None
        if answer.get("code") != 0 or not answer.get("tenant_access_token"):
            raise ConnectorError(
                f"the Feishu open API refused the app's credentials ({APP_ID_ENV}, "
                f"{APP_SECRET_ENV}): code {answer.get('code')}, {answer.get('msg')}"
            )
        self._token = str(answer["tenant_access_token"])
        self._token_expires = time.time() + float(answer.get("expire") or 7200)

    async def _get_json(self, path: str) -> dict[str, Any]:
        answer = await self._raw("GET", path, token=True)
        if answer.get("code") != 0:
            raise ApiError(path, answer.get("code"), str(answer.get("msg") or ""))
        return answer

    async def _raw(
        self, method: str, path: str, *, body: dict[str, Any] | None = None, token: bool
    ) -> dict[str, Any]:
        """An open-API call lark-oapi has no method for, through its generic `arequest`."""
        builder = (
            lark.BaseRequest.builder()
            .http_method(lark.HttpMethod[method])
            .uri(path)
            .token_types({lark.AccessTokenType.TENANT} if token else set())
        )
        if body is not None:
            builder = builder.body(body)
        option = lark.RequestOption.builder()
        if token:
            option = option.tenant_access_token(self._token)
        try:
            response = await asyncio.wait_for(
                self._client.arequest(builder.build(), option.build()), self.call_timeout
            )
            answer = json.loads(response.raw.content or b"{}")
        except (TimeoutError, OSError, ValueError) as error:
            raise ApiError(path, "-", f"no answer ({error!r})") from None
        except Exception as error:  # httpx's connection errors
            raise ApiError(path, "-", repr(error)) from None
        return answer if isinstance(answer, dict) else {}


class _LongConnection:
    """lark-oapi's long connection (`lark_oapi.ws.Client`) in a thread of its own.

    Its client blocks in `start()` and runs on an event loop of its module, taken at import:
    it gets a new loop in its thread (one long connection per process), and is stopped by
    stopping that loop. It asks for the connection URL with the app's credentials, keeps the
    WebSocket open with pings and reconnects by itself; the events it receives go through the
    same dispatcher as the HTTP callback's (without the callback's token and signature: the
    connection itself is authenticated)."""

    def __init__(self, connector: FeishuConnector, dispatcher: Any) -> None:
        self._client = lark.ws.Client(
            connector.app_id,
            connector.app_secret,
            event_handler=dispatcher,
            domain=connector.base_url,
            log_level=lark.LogLevel.WARNING,
        )
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="feishu-long-connection")
        self._thread.daemon = True
        self._thread.start()

    async def opened(self, timeout: float) -> None:
        """Once the WebSocket is open; `ConnectorError` when it fails or takes too long."""
        deadline = time.monotonic() + timeout
        while self._client._conn is None:
            if self._failure is not None:
                raise ConnectorError(f"the Feishu long connection failed: {self._failure}")
            if time.monotonic() > deadline:
                raise ConnectorError(f"no Feishu long connection within {timeout} s")
            await asyncio.sleep(0.05)

    def close(self) -> None:
        self._closing = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        import lark_oapi.ws.client as ws_client

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        ws_client.loop = loop
        self._loop = loop
        try:
            self._client.start()
        except Exception as error:  # wrong credentials; or our stop() ending its loop
            if not self._closing:
                self._failure = error
                log.error("the Feishu long connection ended: %s", error)
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(self._client._disconnect())
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()


# --- message content -----------------------------------------------------------------------


def _items(message_type: str, content: str) -> Iterator[_Item]:
    """The items of a message: its text (a rich-text post's title and text runs), then each
    image and file."""
    try:
        body = json.loads(content)
    except json.JSONDecodeError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    kind = _KINDS.get(message_type, MessageKind.OTHER)
    if message_type == "text":
        if str(body.get("text", "")).strip():
            yield _Item(MessageKind.TEXT, str(body["text"]))
    elif message_type == "post":
        yield from _post_items(body)
    elif message_type == "image":
        yield _Item(MessageKind.IMAGE, file_key=str(body.get("image_key") or ""))
    elif message_type == "file":
        name = str(body.get("file_name") or "") or None
        yield _Item(MessageKind.FILE, file_key=str(body.get("file_key") or ""), filename=name)
    else:
        yield _Item(kind, filename=str(body.get("file_name") or "") or None)


def _post_items(body: Mapping[str, Any]) -> Iterator[_Item]:
    """A rich-text post: `{"title": ..., "content": [[{"tag": "text", ...}, ...], ...]}`."""
    lines, images = [str(body.get("title") or "")], []
    for paragraph in body.get("content") or []:
        line = []
        for element in paragraph if isinstance(paragraph, list) else []:
            if not isinstance(element, dict):
                continue
            if element.get("tag") in ("text", "a", "md"):
                line.append(str(element.get("text") or ""))
            elif element.get("tag") == "img" and element.get("image_key"):
                images.append(_Item(MessageKind.IMAGE, file_key=str(element["image_key"])))
        lines.append("".join(line))
    text = "\n".join(line for line in lines if line)
    if text.strip():
        yield _Item(MessageKind.TEXT, text)
    yield from images


def _failure(response: Any) -> tuple[object, str]:
    """The code and message of a failed call. lark-oapi reads them from an error's JSON body
    only when the `Content-Type` header is spelt so, and httpx hands it over in lower case
    (the resource API's errors come back with code None): read the body here then."""
    if response.code is not None:
        return response.code, str(response.msg or "")
    raw = getattr(response, "raw", None)
    try:
        body = json.loads(raw.content) if raw is not None and raw.content else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    status = getattr(raw, "status_code", "?")
    return body.get("code", f"HTTP {status}"), str(body.get("msg") or "")


def _mention_name(mentions: Mapping[str, Any], key: str) -> str:
    mention = mentions.get(key)
    return str(mention.name or "") if mention is not None else ""


def _seconds(milliseconds: str | None) -> float:
    try:
        return int(milliseconds or 0) / 1000
    except ValueError:
        return 0.0


def _native(leaksentry_id: str, error: type[Exception]) -> str:
    try:
        return feishu_native(leaksentry_id)
    except ValueError as exc:
        raise error(str(exc)) from None


def _listen_address(listen: str) -> tuple[str, int]:
    match = re.fullmatch(r"\s*\[?([^\s\]]+?)\]?:(\d{1,5})\s*", listen or "")
    if not match or not 0 < int(match.group(2)) < 65536:
        raise ConnectorError(f"{LISTEN_ENV} must be HOST:PORT, not {listen!r}")
    return match.group(1), int(match.group(2))


def _canonical(header: str) -> str:
    """`x-lark-signature` -> `X-Lark-Signature`: lark-oapi looks headers up by that case."""
    return "-".join(part.capitalize() for part in header.split("-"))


def _route_sdk_logger() -> None:
    sdk = logging.getLogger("Lark")
    sdk.handlers.clear()
    sdk.propagate = True


__all__ = ["FeishuConnector", "feishu_id", "feishu_native"]
