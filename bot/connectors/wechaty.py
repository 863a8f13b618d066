"""WeChat through a Wechaty puppet service, with the python-wechaty client (PyPI `wechaty` 0.10.7).

This is the only module that imports wechaty. What it works around (found by running the
stack; see the project's WECHATY notes):
- On Python 3.11 `import wechaty` fails until `PuppetOptions` is hashable (python-wechaty#422).
- `Wechaty.start()` sleeps 60 s after a dropped stream, only prints a wrong-token error and stops
  the whole event loop on some others. The connector drives the same steps itself
  (`init_puppet`, `init_puppet_event_bridge`, `puppet.start()`) with its own reconnect backoff,
  and checks the token and the endpoint with a deadline first (`wechaty_rpc.service_version`).
- Files over 20 KB come as UUID FileBoxes the client cannot read, and URL FileBoxes name their
  field `url` where the client expects `remoteUrl`: `fetch` parses the FileBox JSON itself and
  downloads UUIDs with the `Download` RPC (`wechaty_rpc.download_uuid`).
- The client's loggers write to stderr by themselves at INFO (message texts included) and log
  the token at WARNING: they are routed into `logging` here, at WARNING, token redacted.
- On login the client checks that `WechatyOptions.port` (default 5000, for a plugin web server
  that never starts without plugins) is free: each connection gets a free port.
- Its plugin scheduler would keep a `job.db` in `$CACHE_DIR` (default `./.wechaty`): the
  connector gives it an in-memory scheduler, so nothing is written. (Importing `wechaty_puppet`
  still creates an empty `./.wechaty` folder in the working directory, whatever `CACHE_DIR` is.)
- python-wechaty also reads the bare variables `TOKEN`/`token`/`ENDPOINT`/`endpoint`: the
  connector always passes both token and endpoint, which take precedence over them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import os
import re
import socket
import urllib.parse
from collections.abc import Iterable
from typing import Any

import aiohttp
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from bot.connectors import wechaty_rpc
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
from bot.connectors.reconnect import DEFAULT_RECONNECT_DELAYS, Backoff
from bot.templates import flatten

MENTION_NAME_MAX_CHARS = 32
"""An @mention's name, as written before a group message, is flattened and cut to this."""


def _import_wechaty_client() -> list[logging.Logger]:
    """Applies the Python 3.11 import fix, imports the client, returns the loggers it made."""
    from wechaty_puppet.schemas.puppet import PuppetOptions

    if PuppetOptions.__hash__ is None:  # a dataclass default must be hashable on 3.11+
        PuppetOptions.__hash__ = object.__hash__
    before = set(logging.root.manager.loggerDict)
    import wechaty  # noqa: F401
    import wechaty_puppet_service  # noqa: F401  (imported lazily by wechaty otherwise)

    return [
        logger
        for name, logger in logging.root.manager.loggerDict.items()
        if name not in before and isinstance(logger, logging.Logger) and not logger.propagate
    ]


_CLIENT_LOGGERS = _import_wechaty_client()

from wechaty import Contact, Message, Room, Wechaty, WechatyOptions  # noqa: E402
from wechaty.config import AT_SEPARATOR  # noqa: E402
from wechaty_puppet import MessageType, PuppetOptions, ScanStatus  # noqa: E402
from wechaty_puppet_service import PuppetService  # noqa: E402

log = logging.getLogger(__name__)

TOKEN_ENV = "WECHATY_PUPPET_SERVICE_TOKEN"
ENDPOINT_ENV = "WECHATY_PUPPET_SERVICE_ENDPOINT"
QR_RENDER_URL = "https://wechaty.js.org/qrcode/"

_KINDS: dict[MessageType, MessageKind] = {
    MessageType.MESSAGE_TYPE_TEXT: MessageKind.TEXT,
    MessageType.MESSAGE_TYPE_IMAGE: MessageKind.IMAGE,
    MessageType.MESSAGE_TYPE_ATTACHMENT: MessageKind.FILE,
    MessageType.MESSAGE_TYPE_URL: MessageKind.URL,
    MessageType.MESSAGE_TYPE_CHAT_HISTORY: MessageKind.CHAT_HISTORY,
    MessageType.MESSAGE_TYPE_VIDEO: MessageKind.VIDEO,
    MessageType.MESSAGE_TYPE_AUDIO: MessageKind.VOICE,
    MessageType.MESSAGE_TYPE_RECALLED: MessageKind.RECALLED,
}
"""Everything else (emoticons, contact cards, locations, mini programs...) is OTHER."""

_FETCHABLE = {MessageKind.IMAGE, MessageKind.FILE, MessageKind.VIDEO, MessageKind.VOICE}

# FileBox JSON types (npm file-box 1.x `FileBoxType`).
_BOX_BASE64, _BOX_URL, _BOX_QRCODE, _BOX_UUID = 1, 2, 3, 7
_IMAGE_ARTWORK = 3  # the original image, not the thumbnail


class WechatyConnector:
    """`ChatConnector` for WeChat over a Wechaty puppet service (gRPC, no TLS, token)."""

    platform = "wechat"

    def __init__(
        self,
        token: str,
        endpoint: str,
        *,
        name: str = "leaksentry",
        connect_timeout: float = 10.0,
        login_timeout: float | None = None,
        call_timeout: float = 30.0,
        max_fetch_bytes: int = 200 * 1024 * 1024,
        reconnect_delays: Iterable[float] = DEFAULT_RECONNECT_DELAYS,
        keepalive_interval: float = 60.0,
    ) -> None:
        """`endpoint` is "host:port". `login_timeout` bounds how long `start()` waits for the
        login (None: as long as it takes someone to scan the QR code). `reconnect_delays` are
        the waits before the 1st, 2nd, ... reconnect (the last one repeats). Every
        `keepalive_interval` the service must answer within `call_timeout`, or the connection
        is taken for dead (a silent network drop never ends the event stream by itself)."""
        token = token.strip()
        if not token:
            raise ConnectorError(f"no puppet service token (set {TOKEN_ENV})")
        self._host, self._port = _parse_endpoint(endpoint)
        self.token = token
        self.endpoint = endpoint.strip()
        self.name = name
        self.connect_timeout = connect_timeout
        self.login_timeout = login_timeout
        self.call_timeout = call_timeout
        self.max_fetch_bytes = max_fetch_bytes
        self._backoff = Backoff(reconnect_delays)
        self.keepalive_interval = keepalive_interval
        self.self_id: str | None = None
        self.logins = 0
        """Logins so far, the first one included: it grows by one per reconnect."""
        self.last_qr_code: str | None = None
        self._bot: Wechaty | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._on_message: MessageHandler | None = None
        self._runner: asyncio.Task[None] | None = None
        self._logged_in = asyncio.Event()
        self._first_failure: asyncio.Future[None] | None = None
        self._http: aiohttp.ClientSession | None = None
        _quiet_client_loggers(token)

    @classmethod
    def from_env(cls, **options: Any) -> WechatyConnector:
        """From WECHATY_PUPPET_SERVICE_TOKEN and WECHATY_PUPPET_SERVICE_ENDPOINT."""
        return cls(os.environ.get(TOKEN_ENV, ""), os.environ.get(ENDPOINT_ENV, ""), **options)

    @property
    def connected(self) -> bool:
        """Logged in on a live event stream."""
        return self._logged_in.is_set()

    async def start(self, on_message: MessageHandler) -> None:
        """Connects, and returns once logged in; raises `ConnectorError` on a wrong token, an
        unreachable endpoint (within `connect_timeout`) or no login within `login_timeout`."""
        if self._runner is not None:
            raise ConnectorError("already started")
        self._on_message = on_message
        self._first_failure = asyncio.get_running_loop().create_future()
        self._runner = asyncio.create_task(self._run(), name="wechaty-connector")
        login: asyncio.Future[Any] = asyncio.ensure_future(self._logged_in.wait())
        try:
            done, _ = await asyncio.wait(
                {login, self._first_failure},
                timeout=self.login_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            login.cancel()
        if login in done:
            return
        error: BaseException = ConnectorError(
            f"not logged in within {self.login_timeout} s: scan the login QR code in the log"
        )
        if self._first_failure in done and self._first_failure.exception() is not None:
            error = self._first_failure.exception() or error
        await self.stop()
        raise error

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        if self._http is not None:
            await self._http.close()
            self._http = None

    # Receiving.

    async def _run(self) -> None:
        """Connect, listen until the stream ends, reconnect after a growing delay; forever."""
        failures = 0
        while True:
            logins_before = self.logins
            try:
                await self._connect_and_listen()
                log.warning("puppet service %s ended the event stream", self.endpoint)
            except asyncio.CancelledError:
                await self._disconnect(graceful=True)
                raise
            except Exception as error:
                reported = (
                    error
                    if isinstance(error, ConnectorError)
                    else ConnectorError(f"puppet service at {self.endpoint}: {error!r}")
                )
                if self._fail_first(reported):
                    await self._disconnect(graceful=False)
                    return
                log.warning("lost the connection: %s", reported)
            await self._disconnect(graceful=False)
            failures = 0 if self.logins > logins_before else failures + 1
            await self._backoff.wait(failures, "the puppet service")

    def _fail_first(self, error: ConnectorError) -> bool:
        """Reports an error of the very first connection to `start()` (True) and stops there."""
        first = self._first_failure
        if first is None or first.done() or self.logins > 0:
            return False
        first.set_exception(error)
        return True

    async def _connect_and_listen(self) -> None:
        await self._check_service()
        self._scheduler = AsyncIOScheduler()
        bot = Wechaty(
            WechatyOptions(
                name=self.name,
                puppet_options=PuppetOptions(token=self.token, end_point=self.endpoint),
                host="127.0.0.1",
                port=_free_port(),
                scheduler=self._scheduler,
            )
        )
        bot.on("scan", self._on_scan)
        bot.on("login", self._on_login)
        bot.on("logout", self._on_logout)
        bot.on("message", self._on_wechaty_message)
        bot.on("room-topic", self._on_room_topic)
        await bot.init_puppet()
        # python-wechaty keeps contacts and rooms in pools shared by every connection, each
        # object bound to the puppet that loaded it: give this connection pools of its own.
        for accessory in (bot.Contact, bot.ContactSelf, bot.Room):
            accessory._pool = {}
        await bot.init_puppet_event_bridge(bot.puppet)
        self._bot = bot
        log.info("connecting to the puppet service at %s", self.endpoint)
        listen = asyncio.ensure_future(bot.puppet.start())  # ends with the event stream
        keepalive = asyncio.ensure_future(self._keep_alive(bot.puppet))
        try:
            done, _ = await asyncio.wait({listen, keepalive}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (listen, keepalive):
                task.cancel()
            await asyncio.gather(listen, keepalive, return_exceptions=True)
        for task in done:
            task.result()

    async def _keep_alive(self, puppet: PuppetService) -> None:
        """Returns (raises) when the service stops answering on the connection."""
        while True:
            await asyncio.sleep(self.keepalive_interval)
            if not self._logged_in.is_set():
                continue
            try:
                await self._call(puppet.puppet_stub.version())
            except GRPCError:
                continue  # an answer, even a refusal, proves the connection alive
            except (TimeoutError, OSError) as error:
                raise ConnectorError(
                    f"puppet service at {self.endpoint} stopped answering: {_reason(error)}"
                ) from None

    async def _check_service(self) -> None:
        """Reachable, speaking gRPC and accepting the token, within `connect_timeout`."""
        try:
            await wechaty_rpc.service_version(
                self._host, self._port, self.token, timeout=self.connect_timeout
            )
        except GRPCError as error:
            if error.status == Status.UNAUTHENTICATED:
                raise ConnectorError("puppet service rejected the token") from None
            raise ConnectorError(
                f"puppet service at {self.endpoint} failed: {_reason(error)}"
            ) from None
        except TimeoutError:
            raise ConnectorError(
                f"puppet service at {self.endpoint} did not answer within {self.connect_timeout} s"
            ) from None
        except OSError as error:
            raise ConnectorError(
                f"cannot reach the puppet service at {self.endpoint}: {error.strerror or error}"
            ) from None

    async def _disconnect(self, *, graceful: bool) -> None:
        """Forgets the connection; `graceful` also tells the service to stop the puppet."""
        self._logged_in.clear()
        bot, self._bot = self._bot, None
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)
        if bot is None:
            return
        puppet = bot.puppet
        assert isinstance(puppet, PuppetService)
        if graceful and puppet.login_user_id is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(puppet.puppet_stub.stop(), 5)
        puppet._event_stream.remove_all_listeners()
        if puppet.channel is not None:
            puppet.channel.close()
            puppet.channel = None

    async def _on_scan(self, qr_code: str, status: ScanStatus, _data: str | None) -> None:
        if status in (ScanStatus.Waiting, ScanStatus.Timeout) and qr_code:
            self.last_qr_code = qr_code
            url = QR_RENDER_URL + urllib.parse.quote(qr_code, safe="")
            # python-wechaty has just printed the QR code on stdout (with the `qrcode` package).
            log.warning("log in to WeChat: scan the QR code printed above or open %s", url)
        else:
            log.info("login QR code: %s", status.name)

    async def _on_login(self, contact: Contact) -> None:
        self.self_id = contact.contact_id
        self.logins += 1
        self._logged_in.set()
        log.info("logged in to WeChat as %s (%s)", contact.name, contact.contact_id)

    async def _on_logout(self, contact: Contact) -> None:
        self._logged_in.clear()
        log.warning("logged out of WeChat (%s): waiting for a new login", contact.contact_id)

    async def _on_room_topic(self, room: Room, new_topic: str, *_details: Any) -> None:
        # The pooled room keeps its first payload (`ready()` does not reload): refresh it.
        if room.payload is not None:
            room.payload.topic = new_topic

    async def _on_wechaty_message(self, message: Message) -> None:
        handler = self._on_message
        if handler is None:
            return
        try:
            incoming = await self._to_incoming(message)
        except Exception:
            log.exception("could not read WeChat message %s", message.message_id)
            return
        try:
            await handler(incoming)
        except Exception:
            log.exception("handling WeChat message %s failed", message.message_id)

    async def _to_incoming(self, message: Message) -> IncomingMessage:
        payload = message.payload
        kind = _KINDS.get(message.type(), MessageKind.OTHER)
        talker = message.talker()
        room = message.room()
        text = message.text()
        extra: dict[str, str] = {"wechat_type": message.type().name}
        recalled_id: str | None = None
        if kind is MessageKind.URL:
            link = await self._call(message.to_url_link())
            text = "\n".join(part for part in (link.title, link.description) if part)
            extra["url"] = link.url
        elif kind is MessageKind.RECALLED:
            # WeChat puts the id of the recalled message in the text of the recall notice.
            recalled_id, text = text.strip() or None, ""
        elif kind in _FETCHABLE:
            text = payload.filename  # puppets put the media's XML description in the text
        mention_ids = tuple(payload.mention_ids or ())
        return IncomingMessage(
            platform=self.platform,
            message_id=message.message_id,
            kind=kind,
            sender_id=talker.contact_id if talker else payload.from_id,
            sender_name=talker.name if talker else "",
            room_id=room.room_id if room else None,
            room_topic=(room.payload.topic or "") if room and room.payload else "",
            text=text,
            filename=payload.filename or None,
            mentions_self=self.self_id is not None and self.self_id in mention_ids,
            recalled_message_id=recalled_id,
            sent_at=_unix_time(payload.timestamp),
            is_self=talker is not None and talker.contact_id == self.self_id,
            extra=extra,
        )

    # Fetching.

    async def fetch(self, message: IncomingMessage) -> bytes:
        if message.kind not in _FETCHABLE:
            raise FetchError(f"a {message.kind.value} message carries no file")
        puppet = self._puppet()
        if puppet is None:
            raise FetchError("not connected to the puppet service")
        try:
            if message.kind is MessageKind.IMAGE:
                reply = await self._call(
                    puppet.puppet_stub.message_image(id=message.message_id, type=_IMAGE_ARTWORK)
                )
            else:
                reply = await self._call(puppet.puppet_stub.message_file(id=message.message_id))
        except GRPCError as error:
            raise FetchError(f"the puppet service has no file: {_reason(error)}") from None
        except (TimeoutError, OSError) as error:
            raise FetchError(f"the puppet service did not hand over the file: {error}") from None
        return await self._open_file_box(puppet, reply.filebox)

    async def _open_file_box(self, puppet: PuppetService, file_box_json: str) -> bytes:
        try:
            box = json.loads(file_box_json)
        except json.JSONDecodeError:
            box = None
        if not isinstance(box, dict):
            raise FetchError("the puppet service sent a malformed FileBox")
        box_type = box.get("type", box.get("boxType"))
        if box_type == _BOX_BASE64:
            try:
                data = base64.b64decode(box.get("base64") or "", validate=True)
            except binascii.Error:
                raise FetchError("the FileBox's base64 is malformed") from None
        elif box_type == _BOX_UUID:
            data = await self._download_uuid(puppet, str(box.get("uuid") or ""))
        elif box_type == _BOX_URL:
            url = box.get("url") or box.get("remoteUrl")  # file-box 1.x / 0.x
            data = await self._download_url(str(url or ""), box.get("headers") or {})
        elif box_type == _BOX_QRCODE:
            raise FetchError("the puppet service sent a QR code, not the file")
        else:
            raise FetchError(f"unsupported FileBox type {box_type!r}")
        if len(data) > self.max_fetch_bytes:
            raise FetchError(f"the file is larger than {self.max_fetch_bytes} bytes")
        return data

    async def _download_uuid(self, puppet: PuppetService, uuid: str) -> bytes:
        if not uuid or puppet.channel is None:
            raise FetchError("a UUID FileBox without a UUID or a connection")
        try:
            return await wechaty_rpc.download_uuid(
                puppet.channel,
                self.token,
                uuid,
                max_bytes=self.max_fetch_bytes,
                timeout=self.call_timeout,
            )
        except wechaty_rpc.TooLargeError:
            raise FetchError(f"the file is larger than {self.max_fetch_bytes} bytes") from None
        except GRPCError as error:
            raise FetchError(f"download of FileBox {uuid} refused: {_reason(error)}") from None
        except (TimeoutError, OSError) as error:
            raise FetchError(f"download of FileBox {uuid} failed: {error!r}") from None

    async def _download_url(self, url: str, headers: dict[str, str]) -> bytes:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return await download(
            self._http,
            url,
            headers=headers,
            max_bytes=self.max_fetch_bytes,
            timeout=self.call_timeout,
        )

    # Sending.

    async def say_in_room(self, room_id: str, text: str, mention_ids: tuple[str, ...] = ()) -> None:
        """Says `text` in the group, prefixed with an @mention of each of `mention_ids`."""
        bot = self._require_bot(SendError)
        try:
            names = [await self._display_name(bot, contact_id) for contact_id in mention_ids]
            prefix = "".join(f"@{name}{AT_SEPARATOR}" for name in names)
            await self._call(
                bot.puppet.message_send_text(
                    conversation_id=room_id,
                    message=prefix + text,
                    mention_ids=list(mention_ids) or None,
                )
            )
        except (GRPCError, TimeoutError, OSError) as error:
            raise SendError(f"sending to group {room_id} failed: {_reason(error)}") from None

    async def send_direct(self, contact_id: str, text: str) -> None:
        bot = self._require_bot(SendError)
        try:
            await self._call(bot.puppet.message_send_text(conversation_id=contact_id, message=text))
        except (GRPCError, TimeoutError, OSError) as error:
            raise SendError(f"sending to {contact_id} failed: {_reason(error)}") from None

    async def _display_name(self, bot: Wechaty, contact_id: str) -> str:
        """The name to @mention, as one line (a name is chosen by its owner, see
        `bot.templates.flatten`): an unknown contact (one who left) still gets the message."""
        contact = bot.Contact.load(contact_id)
        try:
            await self._call(contact.ready())
        except GRPCError as error:
            log.warning("no name for contact %s: %s", contact_id, _reason(error))
        name = flatten(contact.name if contact.is_ready() else "", MENTION_NAME_MAX_CHARS)
        return name or contact_id

    # Describing a group.

    async def room_info(self, room_id: str) -> RoomInfo:
        """The group as the service describes it now (not python-wechaty's cached payload)."""
        bot = self._require_bot(ConnectorError)
        try:
            payload = await self._call(bot.puppet.room_payload(room_id))
            member_ids = list(payload.member_ids) or await self._call(
                bot.puppet.room_members(room_id)
            )
        except (GRPCError, TimeoutError, OSError) as error:
            raise ConnectorError(f"no information on group {room_id}: {_reason(error)}") from None
        return RoomInfo(
            room_id=room_id,
            topic=payload.topic or "",
            owner_id=payload.owner_id or None,
            admin_ids=tuple(payload.admin_ids),
            member_ids=tuple(member_ids),
        )

    # Helpers.

    def _puppet(self) -> PuppetService | None:
        bot = self._bot
        if bot is None or not self._logged_in.is_set():
            return None
        puppet = bot.puppet
        return puppet if isinstance(puppet, PuppetService) else None

    def _require_bot(self, error: type[Exception]) -> Wechaty:
        if self._bot is None or self._puppet() is None:
            raise error("not connected to WeChat (the puppet service is down or logged out)")
        return self._bot

    async def _call(self, call: Any) -> Any:
        """A client call with a deadline (python-wechaty's have none)."""
        return await asyncio.wait_for(call, self.call_timeout)


def _parse_endpoint(endpoint: str) -> tuple[str, int]:
    match = re.fullmatch(r"\s*\[?([^\s\]]+?)\]?:(\d{1,5})\s*", endpoint or "")
    if not match or not 0 < int(match.group(2)) < 65536:
        raise ConnectorError(
            f"the puppet service endpoint must be HOST:PORT, not {endpoint!r} (set {ENDPOINT_ENV})"
        )
    return match.group(1), int(match.group(2))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _unix_time(timestamp: int) -> float:
    """Puppets send seconds or milliseconds."""
    if timestamp <= 0:
        return 0.0
    return timestamp / 1000 if timestamp > 100_000_000_000 else float(timestamp)


def _reason(error: BaseException) -> str:
    if isinstance(error, GRPCError):
        detail = (error.message or "").strip().splitlines()[:1]  # Node services add a stack
        return " ".join([error.status.name, *detail])
    if isinstance(error, TimeoutError):
        return "no answer in time"
    return repr(error)


_CLIENT_NOISE = (
    "internal error <>",  # its plugin manager asserts that a scan status is a str, on every scan
    "there is not registed blueprint",  # on every login: no plugin web server, as intended
    "set payload more than once",  # a room's topic refreshed by `_on_room_topic`
    "and the endpoint will be used",  # on every connection: we pass both, on purpose
)


class _ClientLogFilter(logging.Filter):
    """Redacts the token and drops the client's known noise."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(noise in message for noise in _CLIENT_NOISE):
            return False
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "<token>"), None
        return True


def _quiet_client_loggers(token: str) -> None:
    """python-wechaty's loggers print to stderr themselves, INFO and up (message texts, and the
    token at WARNING): route them into `logging` at WARNING, token redacted."""
    for logger in _CLIENT_LOGGERS:
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.WARNING)
        logger.filters = [f for f in logger.filters if not isinstance(f, _ClientLogFilter)]
        logger.addFilter(_ClientLogFilter(token))


__all__ = ["WechatyConnector"]
