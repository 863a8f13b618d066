"""A Feishu open-API server for tests, offline, and the event pushes of the Feishu platform.

    async with FeishuServer() as feishu:
        feishu.add_user("ou_owner", "群主")
        feishu.add_chat("oc_team", "项目组", owner="ou_owner", members=["ou_member"])
        connector = FeishuConnector(feishu.app_id, feishu.app_secret,
                                    verification_token=feishu.verification_token,
                                    encrypt_key=feishu.encrypt_key, base_url=feishu.base_url,
                                    listen=f"127.0.0.1:{port}")
        await connector.start(on_message)
        feishu.callback_url = connector.callback_url
        message_id = await feishu.post_image("oc_team", "ou_member", photo)
        sent = await feishu.wait_for_sent(lambda s: s.chat_id == "oc_team")

The API half answers what lark-oapi asks, in the open API's JSON shapes: the tenant access token
(`/auth/v3/tenant_access_token/internal`, checked on every other call as `Authorization: Bearer`,
code 99991663 when invalid), the bot's info, message resources (the bytes of an image or file by
message id and file key), sending and replying to messages, a chat and its members (paged). The
event half posts `im.message.receive_v1` and `im.message.recalled_v1` events (schema 2.0) to the
bot's callback URL as Feishu does: the body AES-256-CBC encrypted with the encrypt key
(`{"encrypt": ...}`), signed with `X-Lark-Signature` = sha256(timestamp + nonce + encrypt key +
body), the verification token in the event header.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from Crypto.Cipher import AES
from lark_oapi.ws.pb.pbbp2_pb2 import Frame

from tests.harness.stand_in import StandInServer

BOT_OPEN_ID = "ou_bot0000000000000000000000000001"
_TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
_ENDPOINT_PATH = "/callback/ws/endpoint"
_SOCKET_PATH = "/ws"
_DATA_FRAME, _CONTROL_FRAME = 1, 0
INVALID_TOKEN = 99991663


@dataclass(frozen=True)
class SentByBot:
    """A message the bot created or replied with."""

    chat_id: str | None
    open_id: str | None
    """The recipient of a direct message (None in a group)."""
    text: str
    at: tuple[str, ...]
    """Open ids of its `<at user_id=...>` mentions, in order."""
    reply_to: str | None
    message_id: str
    seen_at: float = field(default_factory=time.time)


@dataclass
class _Chat:
    name: str
    owner: str
    managers: tuple[str, ...]
    members: list[str]


class FeishuServer(StandInServer[SentByBot]):
    """Runs on a free local port until the context exits."""

    def __init__(self, *, page_size: int = 2, events: str = "callback") -> None:
        """`events`: `callback` (pushed to `callback_url`) or `long_connection` (sent over
        the WebSocket that lark-oapi's long-connection client opens)."""
        super().__init__()
        self.events = events
        self.app_id = f"cli_{secrets.token_hex(8)}"
        self.app_secret = secrets.token_hex(16)
        self.verification_token = secrets.token_hex(12)
        self.encrypt_key = secrets.token_hex(12)
        self.callback_url = ""
        """Where events go: the bot's callback (set once the bot serves it)."""
        self.page_size = page_size
        """Members per page at most, so that the bot must follow `page_token`."""
        self.calls: list[str] = []
        """"METHOD /path" of every API request, in order."""
        self.tokens_issued = 0
        self._token = ""
        self._names: dict[str, str] = {BOT_OPEN_ID: "保密提醒助手"}
        self._chats: dict[str, _Chat] = {}
        self._resources: dict[tuple[str, str], bytes] = {}
        self._chat_of: dict[str, str] = {}
        """Message id -> the chat it was posted in."""
        self._ids = itertools.count(1)
        self._refusing = False
        self._http: aiohttp.ClientSession | None = None
        self._answers: dict[str, asyncio.Future[int]] = {}
        """Event id -> the status the client answered it with (long connection)."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self._gate])
        route = app.router
        route.add_post(_TOKEN_PATH, self._tenant_token)
        route.add_get("/open-apis/bot/v3/info", self._bot_info)
        route.add_get("/open-apis/im/v1/messages/{message_id}/resources/{key}", self._resource)
        route.add_post("/open-apis/im/v1/messages", self._create)
        route.add_post("/open-apis/im/v1/messages/{message_id}/reply", self._reply)
        route.add_get("/open-apis/im/v1/chats/{chat_id}", self._chat)
        route.add_get("/open-apis/im/v1/chats/{chat_id}/members", self._members)
        route.add_post(_ENDPOINT_PATH, self._endpoint)
        route.add_get(_SOCKET_PATH, self._socket)
        return app

    async def start(self) -> None:
        await super().start()
        self._http = aiohttp.ClientSession()

    async def close(self) -> None:
        await super().close()
        if self._http is not None:
            await self._http.close()

    # --- the Feishu world --------------------------------------------------------------------

    def add_user(self, open_id: str, name: str) -> None:
        self._names[open_id] = name

    def add_chat(
        self,
        chat_id: str,
        name: str,
        *,
        owner: str,
        managers: tuple[str, ...] = (),
        members: list[str] | tuple[str, ...] = (),
    ) -> None:
        people = list(dict.fromkeys((owner, *managers, *members)))
        self._chats[chat_id] = _Chat(name, owner, managers, people)

    def expire_token(self) -> None:
        """The tenant token in use stops being valid (as after its two hours)."""
        self._token = ""

    def refuse(self, refusing: bool = True) -> None:
        """Answer every API call with 503 (an outage), or serve again."""
        self._refusing = refusing

    async def post_text(
        self, chat_id: str, sender: str, text: str, *, mentions: tuple[str, ...] = ()
    ) -> str:
        """A text message; each of `mentions` (open ids) is written `@_user_<n>` as Feishu does."""
        keys = [f"@_user_{n}" for n in range(1, len(mentions) + 1)]
        content = {"text": " ".join([*keys, text]) if keys else text}
        mention_list = [
            {"key": key, "id": {"open_id": open_id}, "name": self._names.get(open_id, "")}
            for key, open_id in zip(keys, mentions, strict=True)
        ]
        return await self.post_message(chat_id, sender, "text", content, mentions=mention_list)

    async def post_image(self, chat_id: str, sender: str, data: bytes) -> str:
        image_key = f"img_v3_{secrets.token_hex(8)}"
        message_id = self._message_id()
        self._resources[(message_id, image_key)] = data
        return await self.post_message(
            chat_id, sender, "image", {"image_key": image_key}, message_id=message_id
        )

    async def post_file(self, chat_id: str, sender: str, data: bytes, name: str) -> str:
        file_key = f"file_v3_{secrets.token_hex(8)}"
        message_id = self._message_id()
        self._resources[(message_id, file_key)] = data
        content = {"file_key": file_key, "file_name": name}
        return await self.post_message(chat_id, sender, "file", content, message_id=message_id)

    async def post_message(
        self,
        chat_id: str,
        sender: str,
        message_type: str,
        content: dict[str, Any],
        *,
        message_id: str | None = None,
        mentions: list[dict[str, Any]] | None = None,
    ) -> str:
        """An `im.message.receive_v1` event pushed to the bot; the message id."""
        message_id = message_id or self._message_id()
        chat = self._chats[chat_id]
        if sender not in chat.members:
            raise PermissionError(f"{sender} is not in {chat_id}")
        message: dict[str, Any] = {
            "message_id": message_id,
            "create_time": str(int(time.time() * 1000)),
            "chat_id": chat_id,
            "chat_type": "group",
            "message_type": message_type,
            "content": json.dumps(content, ensure_ascii=False),
        }
        if mentions:
            message["mentions"] = mentions
        self._chat_of[message_id] = chat_id
        event = {
            "sender": {
                "sender_id": {"open_id": sender, "union_id": f"on_{sender[3:]}"},
                "sender_type": "app" if sender == BOT_OPEN_ID else "user",
                "tenant_key": "tenant",
            },
            "message": message,
        }
        status, _ = await self.push("im.message.receive_v1", event)
        assert status == 200, status
        return message_id

    async def recall(self, chat_id: str, message_id: str) -> None:
        event = {
            "message_id": message_id,
            "chat_id": chat_id,
            "recall_time": str(int(time.time() * 1000)),
            "recall_type": "message_owner",
        }
        status, _ = await self.push("im.message.recalled_v1", event)
        assert status == 200, status

    async def push(
        self,
        event_type: str,
        event: dict[str, Any],
        *,
        token: str | None = None,
        encrypt_key: str | None = None,
        event_id: str | None = None,
    ) -> tuple[int, str]:
        """One event to the callback, as Feishu sends it; its HTTP status and body. `token` and
        `encrypt_key` replace the right ones (a forged event); `event_id` repeats an event."""
        envelope = {
            "schema": "2.0",
            "header": {
                "event_id": event_id or secrets.token_hex(16),
                "token": self.verification_token if token is None else token,
                "create_time": str(int(time.time() * 1000)),
                "event_type": event_type,
                "tenant_key": "tenant",
                "app_id": self.app_id,
            },
            "event": event,
        }
        if self.events == "long_connection":
            return await self._send_frame(envelope)
        return await self.post_callback(envelope, encrypt_key=encrypt_key)

    async def post_callback(
        self, payload: dict[str, Any], *, encrypt_key: str | None = None, sign: bool = True
    ) -> tuple[int, str]:
        key = self.encrypt_key if encrypt_key is None else encrypt_key
        body = json.dumps({"encrypt": _encrypt(json.dumps(payload, ensure_ascii=False), key)})
        timestamp, nonce = str(int(time.time())), secrets.token_hex(8)
        signature = hashlib.sha256((timestamp + nonce + key + body).encode()).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Lark-Request-Timestamp": timestamp,
            "X-Lark-Request-Nonce": nonce,
            "X-Lark-Signature": signature if sign else "0" * 64,
        }
        assert self._http is not None and self.callback_url, "no callback URL set"
        async with self._http.post(self.callback_url, data=body, headers=headers) as response:
            return response.status, await response.text()

    # --- the open API ------------------------------------------------------------------------

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Outages, and the tenant token on every call but the token's own."""
        self.calls.append(f"{request.method} {request.path}")
        if self._refusing:
            return web.Response(status=503, text="service unavailable")
        if request.path not in (_TOKEN_PATH, _ENDPOINT_PATH, _SOCKET_PATH):
            offered = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if not self._token or offered != self._token:
                return _answer(INVALID_TOKEN, "Invalid access token for authorization.", 400)
        response: web.StreamResponse = await handler(request)
        return response

    async def _tenant_token(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("app_id") != self.app_id or body.get("app_secret") != self.app_secret:
            return _answer(10014, "app secret invalid")
        self._token = f"t-{secrets.token_hex(12)}"
        self.tokens_issued += 1
        return web.json_response(
            {"code": 0, "msg": "ok", "tenant_access_token": self._token, "expire": 7200}
        )

    async def _bot_info(self, _request: web.Request) -> web.Response:
        bot = {"activate_status": 2, "app_name": "保密提醒助手", "open_id": BOT_OPEN_ID}
        return web.json_response({"code": 0, "msg": "ok", "bot": bot})

    async def _resource(self, request: web.Request) -> web.Response:
        found = self._resources.get((request.match_info["message_id"], request.match_info["key"]))
        if request.query.get("type") not in ("image", "file"):
            return _answer(234001, "Invalid request param.", 400)
        if found is None:
            return _answer(234003, "File not in msg.", 400)
        return web.Response(
            body=found,
            content_type="application/octet-stream",
            headers={"Content-Disposition": 'attachment; filename="resource"'},
        )

    async def _create(self, request: web.Request) -> web.Response:
        id_type = request.query.get("receive_id_type")
        body = await request.json()
        receive_id = str(body.get("receive_id"))
        if id_type == "chat_id" and receive_id in self._chats:
            return await self._record(body, chat_id=receive_id)
        if id_type == "open_id" and receive_id in self._names:
            return await self._record(body, open_id=receive_id)
        return _answer(230001, f"invalid receive_id {receive_id} of type {id_type}", 400)

    async def _reply(self, request: web.Request) -> web.Response:
        replied_to = request.match_info["message_id"]
        chat_id = self._chat_of.get(replied_to)
        if chat_id is None:
            return _answer(230011, "the message to reply to was not found", 400)
        body = await request.json()
        return await self._record(body, chat_id=chat_id, reply_to=replied_to)

    async def _chat(self, request: web.Request) -> web.Response:
        chat = self._chats.get(request.match_info["chat_id"])
        if chat is None:
            return _answer(232011, "chat not found or the bot is not in it", 400)
        data = {
            "name": chat.name,
            "owner_id": chat.owner,
            "owner_id_type": "open_id",
            "user_manager_id_list": list(chat.managers),
            "chat_mode": "group",
            "chat_type": "private",
            "user_count": str(len(chat.members)),
        }
        return web.json_response({"code": 0, "msg": "success", "data": data})

    async def _members(self, request: web.Request) -> web.Response:
        chat = self._chats.get(request.match_info["chat_id"])
        if chat is None:
            return _answer(232011, "chat not found or the bot is not in it", 400)
        size = min(int(request.query.get("page_size", "20")), self.page_size)
        start = int(request.query.get("page_token") or 0)
        page = chat.members[start : start + size]
        more = start + size < len(chat.members)
        items = [
            {"member_id_type": "open_id", "member_id": m, "name": self._names.get(m, "")}
            for m in page
        ]
        data = {
            "items": items,
            "has_more": more,
            "page_token": str(start + size) if more else "",
            "member_total": len(chat.members),
        }
        return web.json_response({"code": 0, "msg": "success", "data": data})

    # --- the long connection -----------------------------------------------------------------

    async def _endpoint(self, request: web.Request) -> web.Response:
        """Where the long connection goes, for the app's credentials (lark-oapi's `ws.Client`
        asks before each connection)."""
        body = await request.json()
        if body.get("AppID") != self.app_id or body.get("AppSecret") != self.app_secret:
            return _answer(514, "auth failed: app secret invalid")
        device = secrets.token_hex(4)
        url = f"ws://127.0.0.1:{self.port}{_SOCKET_PATH}?device_id={device}&service_id=7"
        config = {"ReconnectCount": -1, "ReconnectInterval": 1, "ReconnectNonce": 0}
        data = {"URL": url, "ClientConfig": {**config, "PingInterval": 30}}
        return web.json_response({"code": 0, "msg": "ok", "data": data})

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.add(ws)
        await self._count_connection()
        try:
            async for message in ws:
                if message.type is aiohttp.WSMsgType.BINARY:
                    await self._on_frame(ws, message.data)
        finally:
            self._sockets.discard(ws)
        return ws

    async def _on_frame(self, ws: web.WebSocketResponse, data: bytes) -> None:
        frame = Frame()
        frame.ParseFromString(data)
        headers = {h.key: h.value for h in frame.headers}
        if frame.method == _CONTROL_FRAME and headers.get("type") == "ping":
            pong = Frame(SeqID=frame.SeqID, LogID=0, service=frame.service, method=_CONTROL_FRAME)
            pong.headers.add(key="type", value="pong")
            await ws.send_bytes(pong.SerializeToString())
        elif frame.method == _DATA_FRAME:  # the client's answer to an event
            answer = self._answers.pop(headers.get("message_id", ""), None)
            if answer is not None and not answer.done():
                answer.set_result(int(json.loads(frame.payload or b"{}").get("code", 0)))

    async def _send_frame(self, envelope: dict[str, Any]) -> tuple[int, str]:
        """An event as a data frame, in plain JSON (the connection is what is authenticated)."""
        if not self._sockets:
            raise RuntimeError("no long connection is open: the event would be lost")
        event_id = str(envelope["header"]["event_id"])
        frame = Frame(SeqID=next(self._ids), LogID=0, service=7, method=_DATA_FRAME)
        for key, value in (
            ("type", "event"),
            ("message_id", event_id),
            ("sum", "1"),
            ("seq", "0"),
            ("trace_id", secrets.token_hex(8)),
        ):
            frame.headers.add(key=key, value=value)
        frame.payload = json.dumps(envelope, ensure_ascii=False).encode()
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._answers[event_id] = answer
        await next(iter(self._sockets)).send_bytes(frame.SerializeToString())
        return await asyncio.wait_for(answer, 10), ""

    # --- inside ------------------------------------------------------------------------------

    async def _record(
        self,
        body: dict[str, Any],
        *,
        chat_id: str | None = None,
        open_id: str | None = None,
        reply_to: str | None = None,
    ) -> web.Response:
        if body.get("msg_type") != "text":
            return _answer(230002, "only text is expected from this bot", 400)
        text = str(json.loads(body.get("content") or "{}").get("text", ""))
        at = tuple(re.findall(r'<at user_id="([^"]+)">', text))
        message_id = self._message_id()
        await self._record_sent(SentByBot(chat_id, open_id, text, at, reply_to, message_id))
        data = {"message_id": message_id, "chat_id": chat_id or "", "msg_type": "text"}
        return web.json_response({"code": 0, "msg": "success", "data": data})

    def _message_id(self) -> str:
        return f"om_{next(self._ids):06d}{secrets.token_hex(6)}"


def _answer(code: int, message: str, status: int = 200) -> web.Response:
    return web.json_response({"code": code, "msg": message}, status=status)


def _encrypt(plaintext: str, key: str) -> str:
    """Feishu's event encryption: AES-256-CBC, key sha256(encrypt key), a random IV in front,
    PKCS#7 padding, base64."""
    iv = secrets.token_bytes(16)
    data = plaintext.encode()
    pad = 16 - len(data) % 16
    cipher = AES.new(hashlib.sha256(key.encode()).digest(), AES.MODE_CBC, iv)
    return base64.b64encode(iv + cipher.encrypt(data + bytes([pad]) * pad)).decode()
