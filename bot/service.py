"""The bot process: a chat connector, the intake and the outbox sender.

The bot only receives and sends; scanning runs in worker processes (`bot.worker`). `BotService`
starts the connector with `Intake.handle` as its message handler and runs the outbox sender
(one rate limiter for every outgoing message) until it is stopped: by `stop()`, or by SIGINT or
SIGTERM in `serve()`. Stopping lets the message in hand finish; what is still in the outbox stays
in Redis for the next start.

`leaksentry bot` serves every configured chat platform (WeChat, QQ through OneBot v11, Feishu);
`leaksentry run` does too, or the in-process sandbox chat when none is configured, and starts
the workers beside it (`run_all`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import redis

from bot.connectors.base import ChatConnector, IncomingMessage
from bot.groups import Groups
from bot.incidents import Incidents
from bot.intake import Intake
from bot.outage import OutageWatch
from bot.outbox import Outbox
from bot.paths import data_dir
from bot.queue import JobQueue
from bot.settings import BotSettings
from bot.spool import Spool
from bot.templates import Templates, load_templates

log = logging.getLogger(__name__)

TOKEN_ENV = "WECHATY_PUPPET_SERVICE_TOKEN"  # as in bot.connectors.wechaty, not imported here
SENDER_RESTART_SECONDS = 5.0

Attachment = Callable[["BotService"], Awaitable[None]]
"""Something that runs beside the bot in `leaksentry run` (the console of issue 5 attaches
here): started after the connector, cancelled when the service stops."""


class BotService:
    def __init__(
        self,
        client: redis.Redis,
        settings: BotSettings,
        connector: ChatConnector,
        *,
        templates: Templates | None = None,
        spool: Spool | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.connector = connector
        self.templates = templates or load_templates(settings.source_dir or None)
        self.groups = Groups(client, settings)
        self.incidents = Incidents(client, settings)
        self.queue = JobQueue(client, settings)
        self.outbox = Outbox(client, settings, self.templates)
        self.intake = Intake(
            client,
            settings,
            connector,
            self.queue,
            self.incidents,
            self.groups,
            self.outbox,
            self.templates,
            spool,
        )
        self.outage = OutageWatch(
            client, settings, connector, self.intake, self.groups, self.outbox, self.templates
        )
        self._stop = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._attached: list[asyncio.Task[None]] = []

    async def start(self, attachments: tuple[Attachment, ...] = ()) -> None:
        """Connect (returns once the connector is up) and start sending."""
        self.queue.ensure_group()
        self.intake.remember_enrolled()
        self.outage.remember_recipients()
        self._stop.clear()
        self._watch = asyncio.create_task(self.outage.run(self._stop), name="outage-watch")
        await self.connector.start(self._on_message)
        self._sender = asyncio.create_task(self._send(), name="outbox-sender")
        self._attached = [
            asyncio.create_task(_logged(attach(self)), name=getattr(attach, "__name__", "part"))
            for attach in attachments
        ]
        log.info("bot service up on %s", self.connector.platform)

    async def stop(self) -> None:
        """Stop sending (the message being sent is finished, the rest stays in the outbox for
        the next start), then stop the attached parts and the connector."""
        self._stop.set()
        if self._sender is not None:
            await self._sender
            self._sender = None
        if self._watch is not None:
            await self._watch
            self._watch = None
        for task in self._attached:
            task.cancel()
        await asyncio.gather(*self._attached, return_exceptions=True)
        self._attached = []
        await self.connector.stop()
        log.info("bot service stopped")

    async def serve(self, attachments: tuple[Attachment, ...] = ()) -> None:
        """Start, run until SIGINT or SIGTERM (or `stop()` from elsewhere), stop."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._stop.set)
        try:
            await self.start(attachments)
            await self._stop.wait()
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            await self.stop()

    async def _on_message(self, message: IncomingMessage) -> None:
        await self.intake.handle(message)

    async def _send(self) -> None:
        """The outbox sender, started again should a bug end it: alerts must keep going out."""
        while not self._stop.is_set():
            try:
                await self.outbox.run_sender(self.connector, self._stop)
            except Exception:
                log.exception("outbox sender failed; restarting in %.0f s", SENDER_RESTART_SECONDS)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), SENDER_RESTART_SECONDS)


async def _logged(work: Awaitable[None]) -> None:
    try:
        await work
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("a part attached to the bot service failed")


# --- the commands ------------------------------------------------------------------------------


class SetupError(RuntimeError):
    """The bot cannot start as configured (message for the person who started it)."""


def wechat_connector() -> ChatConnector:
    """The WeChat connector from the environment. Imported here, and only here, so that the rest
    of `bot/` never loads the WeChat client."""
    from bot.connectors.wechaty import ConnectorError, WechatyConnector

    try:
        return WechatyConnector.from_env()
    except ConnectorError as exc:
        raise SetupError(
            f"{exc}. Get a token and the service's address from your puppet service provider "
            f"and set {TOKEN_ENV} and WECHATY_PUPPET_SERVICE_ENDPOINT (HOST:PORT)."
        ) from exc


def wechat_configured() -> bool:
    return bool(os.environ.get(TOKEN_ENV, "").strip())


ONEBOT_URL_ENV = "ONEBOT_WS_URL"  # as in bot.connectors.onebot
FEISHU_APP_ENV = "FEISHU_APP_ID"  # as in bot.connectors.feishu


def qq_connector() -> ChatConnector:
    from bot.connectors.base import ConnectorError
    from bot.connectors.onebot import OneBotConnector

    try:
        return OneBotConnector.from_env()
    except ConnectorError as exc:
        raise SetupError(f"{exc}. Point it at your OneBot v11 server (NapCat...).") from exc


def feishu_connector() -> ChatConnector:
    """The Feishu connector (it loads lark-oapi, a large SDK: only when Feishu is set up)."""
    from bot.connectors.base import ConnectorError
    from bot.connectors.feishu import FeishuConnector

    try:
        return FeishuConnector.from_env()
    except ConnectorError as exc:
        raise SetupError(
            f"{exc}. They are on the app's pages of the Feishu developer console."
        ) from exc


def platforms_configured() -> list[str]:
    """The chat platforms the environment sets up, in the order they are served."""
    configured = {
        "wechat": wechat_configured(),
        "qq": bool(os.environ.get(ONEBOT_URL_ENV, "").strip()),
        "feishu": bool(os.environ.get(FEISHU_APP_ENV, "").strip()),
    }
    return [platform for platform, on in configured.items() if on]


def platform_connector() -> ChatConnector:
    """Every configured platform behind one connector (`leaksentry bot` and `run`)."""
    from bot.connectors.multi import MultiConnector

    makers = {"wechat": wechat_connector, "qq": qq_connector, "feishu": feishu_connector}
    connectors = [makers[platform]() for platform in platforms_configured()]
    if not connectors:
        raise SetupError(
            f"no chat platform is configured: set {TOKEN_ENV} (WeChat), {ONEBOT_URL_ENV} (QQ) "
            f'or {FEISHU_APP_ENV} (Feishu); see the README ("QQ and Feishu groups").'
        )
    return connectors[0] if len(connectors) == 1 else MultiConnector(connectors)


def run_bot(client: redis.Redis, settings: BotSettings, connector: ChatConnector) -> None:
    """`leaksentry bot`: serve until SIGINT/SIGTERM."""
    asyncio.run(BotService(client, settings, connector, spool=data_spool(settings)).serve())


def data_spool(settings: BotSettings) -> Spool:
    """The intake's spool in the data folder (`spool/`)."""
    return Spool(
        data_dir() / "spool",
        max_bytes=round(settings.intake.spool_max_mb * 1024 * 1024),
        max_items=settings.intake.spool_max_items,
    )


def run_all(
    client: redis.Redis,
    settings: BotSettings,
    connector: ChatConnector,
    *,
    workers: int,
    config_dir: Path | None = None,
    attachments: tuple[Attachment, ...] = (),
) -> None:
    """`leaksentry run`: `workers` scan processes and the embedded Redis (both restarted when
    they die, `bot.supervision`) and the bot. The workers get the server's URL, so that they
    wait for it to come back rather than start one of their own."""
    from bot.redis_server import REDIS_URL_ENV, redis_url
    from bot.supervision import RedisKeeper, Supervision
    from bot.worker import Supervisor

    target = redis_url()
    env = {**os.environ, REDIS_URL_ENV: target.url}
    keeper = RedisKeeper(data_dir() / "redis", target.url) if target.embedded else None
    supervision = Supervision(
        Supervisor(workers, "local-worker", config_dir=config_dir, env=env), keeper
    )
    stop_workers = threading.Event()
    watcher = threading.Thread(
        target=supervision.run, args=(stop_workers,), name="supervisor", daemon=True
    )
    watcher.start()
    try:
        service = BotService(client, settings, connector, spool=data_spool(settings))
        asyncio.run(service.serve(attachments))
    finally:
        stop_workers.set()
        watcher.join()
