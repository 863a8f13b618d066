"""The console beside the bot in `leaksentry run`: one event loop, one Redis client.

`console_attachment` is an `Attachment` for `BotService.start`: it serves the console until the
service stops it. With the sandbox chat it adds the sandbox page and enrolls the demo group, so
that a fresh machine shows the whole product without WeChat.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.connectors.sandbox import SandboxConnector
from bot.service import BotService
from bot.settings import BotSettings
from bot.web.app import create_app, start_console
from bot.web.sandbox import enroll_demo_group, sandbox_pages
from bot.web.state import CONSOLE
from detectors import ScanConfig

log = logging.getLogger(__name__)


def console_attachment(
    scan_config: ScanConfig, settings: BotSettings, host: str, port: int
) -> Callable[[BotService], Awaitable[None]]:
    async def serve_console(service: BotService) -> None:
        pages = []
        if isinstance(service.connector, SandboxConnector):
            await asyncio.to_thread(enroll_demo_group, service.client, settings)
            pages.append(sandbox_pages(service.connector))
        app = create_app(service.client, scan_config, settings, pages=pages)
        runner = await start_console(app, host, port)
        log.info("console on http://%s:%d/", host, port)
        if await asyncio.to_thread(app[CONSOLE].users.count) == 0:
            log.warning(
                "no console users yet: create one with `leaksentry users add NAME --role admin`"
            )
        try:
            await asyncio.Event().wait()  # until the service cancels it
        finally:
            await runner.cleanup()

    return serve_console
