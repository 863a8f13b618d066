"""What the test servers share: the `async with` protocol, and for the platform stand-ins on
aiohttp a free local port, the WebSockets the bot holds open and the record of what the bot
sent, to wait on."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from types import TracebackType
from typing import Generic, Self, TypeVar

from aiohttp import web

Sent = TypeVar("Sent")


class Running(ABC):
    """Started on entering `async with`, closed on leaving it."""

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


class StandInServer(Running, Generic[Sent]):
    """An aiohttp application on a free local port until the context exits."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        """What the bot sent, in order."""
        self.connections = 0
        """WebSocket connections accepted so far."""
        self.port = 0
        self._sockets: set[web.WebSocketResponse] = set()
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    @abstractmethod
    def application(self) -> web.Application:
        """The stand-in's routes."""

    async def start(self) -> None:
        self._runner = web.AppRunner(self.application(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        await self.drop()
        if self._runner is not None:
            await self._runner.cleanup()

    async def drop(self) -> None:
        """Close every open WebSocket (the bot's client opens a new one by itself)."""
        for ws in list(self._sockets):
            await ws.close()
        self._sockets.clear()

    async def wait_for_sent(self, predicate: Callable[[Sent], bool], timeout: float) -> Sent:
        """The first message the bot sent (already or within `timeout` seconds) that
        satisfies `predicate`."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: any(predicate(s) for s in self.sent)), timeout
            )
        return next(s for s in self.sent if predicate(s))

    async def wait_for_connections(self, count: int, timeout: float) -> None:
        """Until `count` WebSocket connections were accepted, one of them still open."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: self.connections >= count and self._sockets),
                timeout,
            )

    async def _count_connection(self) -> None:
        async with self._changed:
            self.connections += 1
            self._changed.notify_all()

    async def _record_sent(self, sent: Sent) -> None:
        async with self._changed:
            self.sent.append(sent)
            self._changed.notify_all()
