"""A Python driver for the offline puppet-service server in `tests/harness/puppet_server.js`.

    async with PuppetHarness() as harness:
        await harness.create_contact("alice", "Alice")
        await harness.create_room("team@chatroom", "Team", owner="alice")
        await harness.login("bot")
        connector = WechatyConnector(harness.token, harness.endpoint)
        await connector.start(on_message)
        message_id = await harness.post_text("alice", "hello", room="team@chatroom")
        reply = await harness.wait_for_sent(lambda sent: sent.room_id == "team@chatroom")

The server is the real npm `wechaty-puppet-service` gRPC server (pinned in
`tests/harness/package.json`, installed by `scripts/install.sh`) around the mock puppet, so the
client under test talks the same wire protocol as against a real puppet service. One harness
serves one connected client at a time; files over 20 KB reach the client as UUID FileBoxes, as
from real services.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import shutil
import signal
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness.stand_in import Running

HARNESS_DIR = Path(__file__).resolve().parent / "harness"
SERVER_SCRIPT = HARNESS_DIR / "puppet_server.js"
COMMAND_TIMEOUT = 10.0


class HarnessError(RuntimeError):
    """The harness could not start, or refused a command (the server's message is kept)."""


@dataclass(frozen=True)
class SentMessage:
    """Something the bot sent, as the puppet service saw it."""

    message_id: str
    kind: str
    """"text", "file", "url" or "contact"."""
    room_id: str | None
    to_id: str | None
    """The contact of a direct message (None in a room)."""
    text: str
    mention_ids: tuple[str, ...]
    name: str | None = None
    """A sent file's name."""
    seen_at: float = 0.0
    """Unix time the harness reported it (the rate limit and latency are checked on this)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PuppetHarness(Running):
    """Runs the harness server on a free port with a random token until the context exits."""

    def __init__(self, *, token: str | None = None, start_timeout: float = 30.0) -> None:
        self.token = token or f"harness-{secrets.token_hex(8)}"
        self.port = free_port()
        self.start_timeout = start_timeout
        self.sent: list[SentMessage] = []
        """Everything the bot sent, in order."""
        self.logins = 0
        """How many times the bot was logged in (one per client connection)."""
        self.errors: list[str] = []
        """Errors the server reported outside any command."""
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._stderr_reader: asyncio.Task[None] | None = None
        self._stderr_tail: deque[str] = deque(maxlen=40)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_req = 0
        self._ready: asyncio.Future[None] | None = None
        self._changed = asyncio.Condition()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        node = shutil.which("node")
        if node is None:
            raise HarnessError("node is not installed (Node 18 or later runs the harness)")
        if not (HARNESS_DIR / "node_modules" / "wechaty-puppet-service").is_dir():
            raise HarnessError(
                f"the harness's npm packages are missing: run `npm install --prefix {HARNESS_DIR}`"
                " (scripts/install.sh does)"
            )
        self._ready = asyncio.get_running_loop().create_future()
        self._process = await asyncio.create_subprocess_exec(
            node,
            str(SERVER_SCRIPT),
            "--port",
            str(self.port),
            "--token",
            self.token,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=HARNESS_DIR,
        )
        self._reader = asyncio.create_task(self._read_events())
        self._stderr_reader = asyncio.create_task(self._read_stderr())
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), self.start_timeout)
        except (TimeoutError, HarnessError) as error:
            await self.close()
            raise HarnessError(
                f"the harness did not start: {error}\n{self.stderr_tail()}"
            ) from None

    async def close(self) -> None:
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            process.send_signal(signal.SIGCONT)  # in case it was frozen
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._write({"cmd": "stop"})
        self._process = None
        if process.returncode is None:
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                process.kill()
                await process.wait()
        for task in (self._reader, self._stderr_reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def stderr_tail(self) -> str:
        return "\n".join(self._stderr_tail)

    # Setting up the world.

    async def create_contact(self, contact_id: str, name: str | None = None) -> None:
        await self._call("contact", id=contact_id, name=name or contact_id)

    async def create_room(
        self,
        room_id: str,
        topic: str,
        *,
        owner: str,
        admins: Iterable[str] = (),
        members: Iterable[str] = (),
    ) -> None:
        """A group; its members must exist (`create_contact`; the bot's contact exists after
        `login`). Room ids end in "@chatroom", as WeChat's do. Again with the same id: replaced."""
        await self._call(
            "room",
            id=room_id,
            topic=topic,
            owner=owner,
            admins=list(admins),
            members=list(members),
        )

    async def rename_room(self, room_id: str, topic: str, *, by: str) -> None:
        """`by` renames the group: the bot gets a room-topic event."""
        await self._call("topic", room=room_id, topic=topic, by=by)

    async def login(self, bot_id: str, name: str = "leaksentry", qrcode: str | None = None) -> None:
        """The bot's account, logged in whenever a client connects (after a scan event carrying
        `qrcode`, when given)."""
        fields: dict[str, Any] = {"id": bot_id, "name": name}
        if qrcode is not None:
            fields["qrcode"] = qrcode
        await self._call("login", **fields)

    async def wait_for_login(self, count: int = 1, timeout: float = COMMAND_TIMEOUT) -> None:
        """Until the bot has been logged in `count` times in all (reconnects count)."""
        await self._wait_until(lambda: self.logins >= count, timeout, f"login #{count}")

    async def drop_clients(self) -> None:
        """End every client stream, as a network drop or a gateway restart does."""
        await self._call("drop")

    def freeze(self) -> None:
        """Stops the server process (SIGSTOP): connections stay open, nothing answers, as when
        a network path dies silently."""
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, signum: int) -> None:
        if self._process is None or self._process.returncode is not None:
            raise HarnessError("the harness is not running")
        self._process.send_signal(signum)

    # Messages from members (each returns the new message's id).

    async def post_text(
        self,
        sender: str,
        text: str,
        *,
        room: str | None = None,
        mentions: Iterable[str] = (),
    ) -> str:
        return await self.post("text", sender, room=room, text=text, mentions=list(mentions))

    async def post_image(
        self, sender: str, data: bytes, *, name: str = "photo.jpg", room: str | None = None
    ) -> str:
        """An image with these bytes (over 20 KB they travel as a UUID FileBox)."""
        return await self.post("image", sender, room=room, name=name, data=_b64(data))

    async def post_file(
        self, sender: str, data: bytes, *, name: str, room: str | None = None
    ) -> str:
        return await self.post("file", sender, room=room, name=name, data=_b64(data))

    async def post_remote_image(
        self, sender: str, url: str, *, name: str = "photo.jpg", room: str | None = None
    ) -> str:
        """An image the puppet hands over as a URL FileBox (the client downloads it)."""
        return await self.post("image", sender, room=room, name=name, url=url)

    async def post_url(
        self,
        sender: str,
        url: str,
        *,
        title: str,
        description: str = "",
        room: str | None = None,
    ) -> str:
        return await self.post(
            "url", sender, room=room, url=url, title=title, description=description
        )

    async def recall(self, sender: str, message_id: str, *, room: str | None = None) -> str:
        """The notice that `sender` took back `message_id`."""
        return await self.post("recalled", sender, room=room, recalled=message_id)

    async def post(self, kind: str, sender: str, *, room: str | None = None, **fields: Any) -> str:
        """Any message type the server knows (video, voice, emoticon, chat_history, ...)."""
        if room is not None:
            fields["room"] = room
        answer = await self._call("message", type=kind, **{"from": sender}, **fields)
        return str(answer["id"])

    # What the bot sent.

    async def wait_for_sent(
        self,
        predicate: Callable[[SentMessage], bool] = lambda _sent: True,
        timeout: float = COMMAND_TIMEOUT,
    ) -> SentMessage:
        """The first sent message (already seen or still to come) that satisfies `predicate`."""
        found: list[SentMessage] = []

        def matched() -> bool:
            found[:] = [sent for sent in self.sent if predicate(sent)][:1]
            return bool(found)

        await self._wait_until(matched, timeout, "a matching sent message")
        return found[0]

    # Plumbing.

    async def _wait_until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(condition), timeout)
            except TimeoutError:
                raise HarnessError(
                    f"no {what} within {timeout} s (sent so far: {self.sent})"
                ) from None

    async def _call(self, command: str, **fields: Any) -> dict[str, Any]:
        self._next_req += 1
        req = self._next_req
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[req] = answer
        try:
            await self._write({"cmd": command, "req": req, **fields})
            result = await asyncio.wait_for(answer, COMMAND_TIMEOUT)
        except TimeoutError:
            raise HarnessError(f"{command}: no answer within {COMMAND_TIMEOUT} s") from None
        finally:
            self._pending.pop(req, None)
        if result["event"] == "error":
            raise HarnessError(f"{command}: {result.get('message')}")
        return result

    async def _write(self, command: dict[str, Any]) -> None:
        process = self._process
        if process is None or process.stdin is None or process.returncode is not None:
            raise HarnessError(f"the harness is not running\n{self.stderr_tail()}")
        process.stdin.write((json.dumps(command) + "\n").encode())
        await process.stdin.drain()

    async def _read_events(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout
        while line := await stdout.readline():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                self._stderr_tail.append(line.decode(errors="replace").rstrip())
                continue
            await self._dispatch(event)
        ended = HarnessError(f"the harness exited\n{self.stderr_tail()}")
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(ended)
        for answer in self._pending.values():
            if not answer.done():
                answer.set_exception(ended)

    async def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        req = event.get("req")
        if kind == "ready" and self._ready is not None and not self._ready.done():
            self._ready.set_result(None)
        elif kind in ("ok", "error") and req in self._pending:
            if not self._pending[req].done():
                self._pending[req].set_result(event)
        elif kind == "error":
            self.errors.append(str(event.get("message")))
        elif kind == "sent":
            self.sent.append(
                SentMessage(
                    message_id=event["id"],
                    kind=event["kind"],
                    room_id=event.get("room"),
                    to_id=event.get("to"),
                    text=event.get("text") or "",
                    mention_ids=tuple(event.get("mentions") or ()),
                    name=event.get("name"),
                    seen_at=time.time(),
                )
            )
        elif kind == "login":
            self.logins += 1
        async with self._changed:
            self._changed.notify_all()

    async def _read_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        stderr = self._process.stderr  # close() forgets the process before this task ends
        while line := await stderr.readline():
            self._stderr_tail.append(line.decode(errors="replace").rstrip())


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
