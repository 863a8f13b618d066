"""A OneBot v11 server for tests: the forward WebSocket of NapCat or go-cqhttp, offline.

    async with OneBotServer(token="secret") as server:
        server.add_user(10001, "保密员")
        server.add_group(20001, "项目一组", owner=10002, members=[10003])
        connector = OneBotConnector(server.ws_url, "secret")
        await connector.start(on_message)
        message_id = await server.post_image(20001, 10003, photo)
        sent = await server.wait_for_sent(lambda s: s.group_id == 20001)

It speaks the wire protocol of the OneBot v11 standard on a real socket (aiohttp): the bearer
token is checked at the handshake (401 otherwise, as NapCat answers); events are JSON objects
with `post_type` (`message` with the array message format, `notice` `group_upload` and
`group_recall`, `meta_event` lifecycle and heartbeats); action requests carry `echo`, which
their responses (`status`, `retcode`, `data`) return. Images and group files are served over
HTTP from the same port, as a real server's file URLs point at QQ's file servers. `drop()`
closes every socket and `refuse()` turns new ones away, to test reconnects.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.harness.stand_in import StandInServer

BOT_QQ = 3_000_000_001
HEARTBEAT_MS = 5000


@dataclass(frozen=True)
class SentByBot:
    """A message the bot sent with `send_group_msg` or `send_private_msg`."""

    group_id: int | None
    user_id: int | None
    """The recipient of a private message (None in a group)."""
    text: str
    at: tuple[int, ...]
    """QQ numbers of its `at` segments, in order."""
    message_id: int
    seen_at: float = field(default_factory=time.time)


@dataclass
class _Group:
    name: str
    roles: dict[int, str]
    """QQ number -> owner, admin or member."""


class OneBotServer(StandInServer[SentByBot]):
    """Runs on a free local port until the context exits."""

    def __init__(self, *, token: str | None = None, self_id: int = BOT_QQ) -> None:
        super().__init__()
        self.token = token if token is not None else f"onebot-{secrets.token_hex(8)}"
        self.self_id = self_id
        self.actions: list[str] = []
        """Every action the bot asked for, in order."""
        self.rejected = 0
        """Handshakes turned away for a wrong token (or by `refuse()`)."""
        self._users: dict[int, str] = {self_id: "保密提醒助手"}
        self._groups: dict[int, _Group] = {}
        self._files: dict[str, tuple[str, bytes]] = {}
        """File id -> (name, bytes), served at /files/<id>."""
        self._images: dict[str, str] = {}
        """An image segment's `file` -> its file id."""
        self._message_ids = itertools.count(1001)
        self._refusing = False

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self._websocket)
        app.router.add_get("/files/{file_id}", self._file)
        return app

    # --- the QQ world ------------------------------------------------------------------------

    def add_user(self, user_id: int, nickname: str) -> None:
        self._users[user_id] = nickname

    def add_group(
        self,
        group_id: int,
        name: str,
        *,
        owner: int,
        admins: tuple[int, ...] = (),
        members: tuple[int, ...] | list[int] = (),
    ) -> None:
        roles = {user: "member" for user in members}
        roles.update({user: "admin" for user in admins})
        roles[owner] = "owner"
        roles[self.self_id] = roles.get(self.self_id, "member")
        self._groups[group_id] = _Group(name, roles)

    async def post_text(self, group_id: int, user_id: int, text: str) -> int:
        return await self.post_message(group_id, user_id, [_segment("text", text=text)])

    async def post_image(
        self, group_id: int, user_id: int, data: bytes, *, with_url: bool = True
    ) -> int:
        """An image message; without `with_url` the bot must ask `get_image` for it."""
        return await self.post_message(group_id, user_id, [self.image_segment(data, with_url)])

    def image_segment(self, data: bytes, with_url: bool = True) -> dict[str, Any]:
        file_id = self._keep("image.jpg", data)
        file = f"{file_id}.image"
        self._images[file] = file_id
        segment: dict[str, Any] = {"file": file, "summary": "[图片]"}
        if with_url:
            segment["url"] = self._url(file_id)
        return _segment("image", **segment)

    async def upload_file(self, group_id: int, user_id: int, data: bytes, name: str) -> str:
        """A group file: the `group_upload` notice (no URL; `get_group_file_url` has it)."""
        file_id = "/" + self._keep(name, data)  # QQ's group file ids start with a slash
        self._files[file_id] = self._files.pop(file_id[1:])
        await self._emit(
            {
                "post_type": "notice",
                "notice_type": "group_upload",
                "group_id": group_id,
                "user_id": user_id,
                "file": {"id": file_id, "name": name, "size": len(data), "busid": 102},
            }
        )
        return file_id

    async def recall(self, group_id: int, user_id: int, message_id: int) -> None:
        await self._emit(
            {
                "post_type": "notice",
                "notice_type": "group_recall",
                "group_id": group_id,
                "user_id": user_id,
                "operator_id": user_id,
                "message_id": message_id,
            }
        )

    def refuse(self, refusing: bool = True) -> None:
        """Turn new connections away with 503 (or accept them again)."""
        self._refusing = refusing

    # --- the wire ----------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        authorization = request.headers.get("Authorization", "")
        offered = authorization.removeprefix("Bearer ").strip() or request.query.get(
            "access_token", ""
        )
        if self._refusing:
            self.rejected += 1
            return web.Response(status=503, text="restarting")
        if self.token and offered != self.token:
            self.rejected += 1
            return web.json_response({"status": "failed", "retcode": 1403}, status=401)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.add(ws)
        await ws.send_json(self._meta("lifecycle", sub_type="connect"))
        await self._count_connection()
        heartbeat = asyncio.create_task(self._heartbeats(ws))
        try:
            async for frame in ws:
                if frame.type is WSMsgType.TEXT:
                    await self._answer(ws, frame.data)
        finally:
            heartbeat.cancel()
            self._sockets.discard(ws)
        return ws

    async def _heartbeats(self, ws: web.WebSocketResponse) -> None:
        while not ws.closed:
            await asyncio.sleep(HEARTBEAT_MS / 1000)
            status = {"online": True, "good": True}
            await ws.send_json(self._meta("heartbeat", status=status, interval=HEARTBEAT_MS))

    async def _answer(self, ws: web.WebSocketResponse, frame: str) -> None:
        try:
            request = json.loads(frame)
            action, params = request["action"], request.get("params") or {}
        except (json.JSONDecodeError, KeyError, TypeError):
            await ws.send_json({"status": "failed", "retcode": 1400, "data": None})
            return
        self.actions.append(action)
        handler = getattr(self, f"_action_{action}", None)
        if handler is None:
            response = {"status": "failed", "retcode": 1404, "data": None, "message": "no action"}
        else:
            try:
                response = {"status": "ok", "retcode": 0, "data": await handler(params)}
            except LookupError as error:
                response = {
                    "status": "failed",
                    "retcode": 1200,
                    "data": None,
                    "wording": str(error),
                }
        if "echo" in request:
            response["echo"] = request["echo"]
        await ws.send_json(response)

    async def _action_get_login_info(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {"user_id": self.self_id, "nickname": self._users[self.self_id]}

    async def _action_send_group_msg(self, params: dict[str, Any]) -> dict[str, Any]:
        group_id = int(params["group_id"])
        if group_id not in self._groups:
            raise LookupError(f"群 {group_id} 不存在")
        return await self._record(group_id, None, params["message"])

    async def _action_send_private_msg(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = int(params["user_id"])
        if user_id not in self._users:
            raise LookupError(f"用户 {user_id} 不存在")
        return await self._record(None, user_id, params["message"])

    async def _action_get_group_info(self, params: dict[str, Any]) -> dict[str, Any]:
        group_id, group = self._group(params)
        return {"group_id": group_id, "group_name": group.name, "member_count": len(group.roles)}

    async def _action_get_group_member_list(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        group_id, group = self._group(params)
        return [self._member(group_id, group, user) for user in group.roles]

    async def _action_get_group_member_info(self, params: dict[str, Any]) -> dict[str, Any]:
        group_id, group = self._group(params)
        user_id = int(params["user_id"])
        if user_id not in group.roles:
            raise LookupError(f"{user_id} 不在群 {group_id}")
        return self._member(group_id, group, user_id)

    async def _action_get_image(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = self._images.get(str(params.get("file")))
        if file_id is None:
            raise LookupError("图片不存在")
        _name, data = self._files[file_id]
        return {"file": f"/tmp/napcat/{file_id}", "url": self._url(file_id), "size": len(data)}

    async def _action_get_group_file_url(self, params: dict[str, Any]) -> dict[str, Any]:
        self._group(params)
        file_id = str(params.get("file_id"))
        if file_id not in self._files:
            raise LookupError("文件不存在或已过期")
        return {"url": self._url(file_id)}

    async def _file(self, request: web.Request) -> web.StreamResponse:
        found = self._files.get(request.match_info["file_id"]) or self._files.get(
            "/" + request.match_info["file_id"]
        )
        if found is None:
            raise web.HTTPNotFound()
        return web.Response(body=found[1], content_type="application/octet-stream")

    # --- inside ------------------------------------------------------------------------------

    async def post_message(self, group_id: int, user_id: int, message: list[Any] | str) -> int:
        """A group message of segments (the array format) or a CQ-code string."""
        group = self._groups[group_id]
        if user_id not in group.roles:
            raise PermissionError(f"{user_id} is not in group {group_id}")
        message_id = next(self._message_ids)
        await self._emit(
            {
                "post_type": "message",
                "message_type": "group",
                "sub_type": "normal",
                "message_id": message_id,
                "group_id": group_id,
                "user_id": user_id,
                "anonymous": None,
                "message": message,
                "raw_message": message if isinstance(message, str) else _raw(message),
                "font": 0,
                "sender": {
                    "user_id": user_id,
                    "nickname": self._users.get(user_id, str(user_id)),
                    "card": "",
                    "role": group.roles[user_id],
                },
            }
        )
        return message_id

    async def _emit(self, event: dict[str, Any]) -> None:
        """To every open socket; like a real server, nothing is kept for a closed one."""
        event = {"time": int(time.time()), "self_id": self.self_id, **event}
        if not self._sockets:
            raise RuntimeError("no client is connected: the event would be lost")
        for ws in list(self._sockets):
            await ws.send_json(event)

    async def _record(
        self, group_id: int | None, user_id: int | None, message: object
    ) -> dict[str, Any]:
        segments = message if isinstance(message, list) else [_segment("text", text=message)]
        text = "".join(s["data"].get("text", "") for s in segments if s.get("type") == "text")
        at = tuple(int(s["data"]["qq"]) for s in segments if s.get("type") == "at")
        message_id = next(self._message_ids)
        await self._record_sent(SentByBot(group_id, user_id, text, at, message_id))
        return {"message_id": message_id}

    def _group(self, params: dict[str, Any]) -> tuple[int, _Group]:
        group_id = int(params.get("group_id", 0))
        if group_id not in self._groups:
            raise LookupError(f"群 {group_id} 不存在")
        return group_id, self._groups[group_id]

    def _member(self, group_id: int, group: _Group, user_id: int) -> dict[str, Any]:
        name = self._users.get(user_id, str(user_id))
        return {
            "group_id": group_id,
            "user_id": user_id,
            "nickname": name,
            "card": "",
            "role": group.roles[user_id],
        }

    def _meta(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {
            "time": int(time.time()),
            "self_id": self.self_id,
            "post_type": "meta_event",
            "meta_event_type": kind,
            **fields,
        }

    def _keep(self, name: str, data: bytes) -> str:
        file_id = secrets.token_hex(8)
        self._files[file_id] = (name, data)
        return file_id

    def _url(self, file_id: str) -> str:
        return f"http://127.0.0.1:{self.port}/files/{file_id.lstrip('/')}"


def _segment(kind: str, **data: Any) -> dict[str, Any]:
    return {"type": kind, "data": data}


def _raw(message: list[dict[str, Any]]) -> str:
    """The message in CQ-code form, as `raw_message` carries it."""
    parts = []
    for segment in message:
        if segment["type"] == "text":
            parts.append(segment["data"]["text"])
        else:
            fields = ",".join(f"{k}={v}" for k, v in segment["data"].items())
            parts.append(f"[CQ:{segment['type']},{fields}]")
    return "".join(parts)
