"""The reconnect backoff of the connectors that hold a connection of their own (QQ's
WebSocket, WeChat's event stream; lark-oapi reconnects Feishu's long connection itself)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

log = logging.getLogger(__name__)

DEFAULT_RECONNECT_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)


class Backoff:
    """The waits before the 1st, 2nd, ... reconnect after failures in a row; the last one
    repeats."""

    def __init__(self, delays: Iterable[float] = DEFAULT_RECONNECT_DELAYS) -> None:
        self.delays = tuple(delays) or DEFAULT_RECONNECT_DELAYS

    def delay(self, failures: int) -> float:
        return self.delays[min(failures, len(self.delays) - 1)]

    async def wait(self, failures: int, peer: str) -> None:
        """Sleep before reconnecting to `peer` (named in the log) after `failures` failed
        attempts in a row."""
        delay = self.delay(failures)
        log.warning("reconnecting to %s in %.1f s", peer, delay)
        await asyncio.sleep(delay)
