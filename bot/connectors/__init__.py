"""Chat platforms, each an adapter behind `ChatConnector` (see `base`).

Nothing outside this package imports a chat platform's SDK: the intake, the outbox and the
tests are written against the protocol, so WeChat, the console's sandbox and any later platform
plug in the same way.
"""

from bot.connectors.base import ChatConnector, IncomingMessage, MessageKind, RoomInfo

__all__ = ["ChatConnector", "IncomingMessage", "MessageKind", "RoomInfo"]
