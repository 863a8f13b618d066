"""Several chat platforms behind one `ChatConnector`: one bot serving WeChat, QQ and Feishu.

Ids tell the platforms apart: QQ's are written `qq:<number>`, Feishu's `feishu:<id>`, WeChat's
(and the sandbox's) bare. A connector says its prefix in `id_prefix` (none: bare ids); a group
or contact id goes to the connector whose prefix it has, and a message is fetched by the
connector of its `platform`. So an organisation-wide officer on WeChat gets the alerts of QQ and
Feishu groups too, over WeChat.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence

from bot.connectors.base import (
    ChatConnector,
    ConnectorError,
    FetchError,
    IncomingMessage,
    MessageHandler,
    RoomInfo,
    SendError,
)

_PREFIXED = re.compile(r"[a-z]+:")


def id_prefix(connector: ChatConnector) -> str:
    return str(getattr(connector, "id_prefix", ""))


class MultiConnector:
    """Starts, stops and routes to each of `connectors` (one per platform)."""

    self_id: str | None = None
    """Each platform's own id differs: the connectors mark the bot's messages `is_self`."""

    def __init__(self, connectors: Sequence[ChatConnector]) -> None:
        platforms = [c.platform for c in connectors]
        prefixes = [id_prefix(c) for c in connectors]
        if not connectors or len(set(platforms)) < len(platforms):
            raise ConnectorError(f"one connector per platform is needed, not {platforms}")
        if len(set(prefixes)) < len(prefixes):
            raise ConnectorError(f"two platforms write their ids alike: {platforms}")
        self.connectors = tuple(connectors)
        self.platform = "+".join(platforms)
        self._started: list[ChatConnector] = []

    async def start(self, on_message: MessageHandler) -> None:
        """Starts every platform, or none: the first that fails is named in the error."""
        for connector in self.connectors:
            try:
                await connector.start(on_message)
            except Exception as error:
                await self.stop()
                raise ConnectorError(f"{connector.platform}: {error}") from error
            self._started.append(connector)

    async def stop(self) -> None:
        started, self._started = self._started, []
        await asyncio.gather(*(c.stop() for c in reversed(started)), return_exceptions=True)

    async def fetch(self, message: IncomingMessage) -> bytes:
        for connector in self.connectors:
            if connector.platform == message.platform:
                return await connector.fetch(message)
        raise FetchError(f"no connector for platform {message.platform!r}")

    async def say_in_room(self, room_id: str, text: str, mention_ids: tuple[str, ...] = ()) -> None:
        await self._owner(room_id, SendError).say_in_room(room_id, text, mention_ids)

    async def send_direct(self, contact_id: str, text: str) -> None:
        await self._owner(contact_id, SendError).send_direct(contact_id, text)

    async def room_info(self, room_id: str) -> RoomInfo:
        return await self._owner(room_id, ConnectorError).room_info(room_id)

    def _owner(self, some_id: str, error: type[Exception]) -> ChatConnector:
        """The connector whose prefix `some_id` has; a bare id's is the one without prefix."""
        prefixed = _PREFIXED.match(some_id)
        prefix = prefixed.group() if prefixed else ""
        for connector in self.connectors:
            if id_prefix(connector) == prefix:
                return connector
        raise error(f"no platform served here has the id {some_id!r}")
