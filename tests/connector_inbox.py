"""The handler the connector tests start a connector with: it keeps what the connector
delivered, in order, and fails on the text `Inbox.FAIL` (after keeping it), as a bug in the
intake would."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.connectors.base import IncomingMessage

WAIT = 10.0


class Inbox:
    """What the connector delivered, in order."""

    FAIL = "fail"

    def __init__(self) -> None:
        self.messages: list[IncomingMessage] = []
        self._changed = asyncio.Condition()

    async def handle(self, message: IncomingMessage) -> None:
        async with self._changed:
            self.messages.append(message)
            self._changed.notify_all()
        if message.text == self.FAIL:
            raise RuntimeError("a bug in the intake")

    async def wait(self, condition: Callable[[IncomingMessage], bool]) -> IncomingMessage:
        """The first delivered message (already or within `WAIT` seconds) that satisfies
        `condition`."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: any(condition(m) for m in self.messages)), WAIT
            )
        return next(m for m in self.messages if condition(m))

    async def get(self, message_id: str) -> IncomingMessage:
        """The message with this id, as delivered last."""
        await self.wait(lambda m: m.message_id == message_id)
        return [m for m in self.messages if m.message_id == message_id][-1]

    def of(self, message_id: str | int) -> list[IncomingMessage]:
        """The items of one platform message (ids `ID` and `ID#N`)."""
        prefix = str(message_id)
        return [m for m in self.messages if m.message_id.split("#")[0] == prefix]
