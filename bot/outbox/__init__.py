"""Notifications: an outbox in Redis, and the sender that delivers it.

Three parts: `compose` turns what happened into self-contained entries (texts rendered from
`config/messages.yaml`), `store` queues them once inside the writer's MULTI/EXEC and reads back
what was delivered, `sender` delivers them (rate-limited, retried, batched, nothing lost).

Writers (a worker after a scan, the intake for command replies) call `Outbox.queue_*` inside
their own transaction: `queue_for_incident` adds the member's warning in the group, a DM to
each admin and officer of the group, a webhook call and an e-mail.

Every leaker is warned, once per document: `Incidents.record` decides whether a sighting's
member was warned of the same content in the same group before (then no warning is queued).
The sender merges the warnings of one group: at most one message per
`outbox.group_warning_interval_seconds`; the warnings due meanwhile, of any members and
documents, go in one message that @-mentions each member concerned. When a warning is sent (or
given up on), the sender records it on the incident's sighting.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Mapping, Sequence

import redis
import redis.asyncio
from redis.client import Pipeline

from bot.connectors.base import ChatConnector
from bot.groups import Group
from bot.incidents import IncidentEvent
from bot.mailer import Mailer
from bot.outbox.compose import Composer, Posted
from bot.outbox.sender import Sender, async_twin
from bot.outbox.store import (
    DeliveryRecord,
    FailedDelivery,
    OutboxEntry,
    OutboxStore,
)
from bot.settings import BotSettings
from bot.templates import Templates
from bot.webhook import WebhookClient

__all__ = ["DeliveryRecord", "FailedDelivery", "Outbox", "OutboxEntry", "Posted"]


class Outbox:
    """Queues notifications (inside the caller's transaction) and runs the sender."""

    def __init__(
        self,
        client: redis.Redis,
        settings: BotSettings,
        templates: Templates,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self._redis = client
        self._settings = settings
        self.webhook: WebhookClient | None = WebhookClient.from_settings(settings.webhook, env)
        self.mailer: Mailer | None = Mailer.from_settings(settings.email, env)
        self._compose = Composer(
            settings, templates, webhook=self.webhook is not None, email=self.mailer is not None
        )
        self._store = OutboxStore(client, settings.outbox)

    # --- queueing (inside the caller's MULTI) ------------------------------------------------

    def queue_for_incident(
        self, pipe: Pipeline | redis.Redis, event: IncidentEvent, group: Group | None
    ) -> list[str]:
        """Queue everything one incident sighting sends: the member's warning in the group
        (unless they were warned of this content there before), an alert DM (or a spread note)
        to each admin and officer, a webhook call, an e-mail. Returns the ids."""
        warning = [self._compose.incident_warning(event, group)] if event.warn_member else []
        return self._add(pipe, [*warning, *self._compose.incident_alerts(event, group)])

    def queue_dead_letter_notice(
        self, pipe: Pipeline | redis.Redis, posted: Posted, reason: str, group: Group | None
    ) -> list[str]:
        """Tell the group's officers that the item `posted` could not be scanned."""
        return self._add(pipe, self._compose.dead_letter_notice(posted, reason, group))

    def queue_recall_notice(
        self,
        pipe: Pipeline | redis.Redis,
        incident_id: str,
        posted: Posted,
        recalled_at: float,
        group: Group | None,
    ) -> list[str]:
        """Tell the group's admins and officers that the member recalled the message."""
        return self._add(pipe, self._compose.recall_notice(incident_id, posted, recalled_at, group))

    def queue_text(
        self,
        pipe: Pipeline | redis.Redis,
        dedup_key: str,
        message: str,
        *,
        room_id: str | None = None,
        contact_id: str | None = None,
        mention_ids: tuple[str, ...] = (),
    ) -> str:
        """Queue a reply (rendered by the caller from `Templates`) to a room or a contact.
        `dedup_key` makes it once-only, e.g. the key of the message being answered."""
        entry = self._compose.text(
            dedup_key, message, room_id=room_id, contact_id=contact_id, mention_ids=mention_ids
        )
        return self._store.add(pipe, entry)

    def _add(self, pipe: Pipeline | redis.Redis, entries: Sequence[OutboxEntry]) -> list[str]:
        return [self._store.add(pipe, entry) for entry in entries]

    # --- who is told, links ------------------------------------------------------------------

    def recipients(self, group: Group | None) -> tuple[str, ...]:
        """The group's admins and officers, each once (someone may be both)."""
        return self._compose.recipients(group)

    def incident_link(self, incident_id: str) -> str:
        return self._compose.incident_link(incident_id)

    def incidents_link(self) -> str:
        return self._compose.incidents_link()

    def batch_text(self, entries: Sequence[OutboxEntry]) -> str:
        return self._compose.batch_text(entries)

    # --- reading back ------------------------------------------------------------------------

    def delivery_log(self, count: int = 1000) -> list[DeliveryRecord]:
        """The newest delivered entries, newest first."""
        return self._store.delivery_log(count)

    def failed_deliveries(self, count: int = 100) -> list[FailedDelivery]:
        """The newest entries given up on, newest first."""
        return self._store.failed_deliveries(count)

    def backlog(self) -> int:
        """Entries not delivered yet: in the streams, or held for a batched DM."""
        return self._store.backlog()

    # --- sending -----------------------------------------------------------------------------

    async def run_sender(
        self,
        connector: ChatConnector,
        stop: asyncio.Event,
        *,
        consumer: str | None = None,
        client: redis.asyncio.Redis | None = None,
    ) -> None:
        """Deliver the outbox until `stop` is set. `consumer` must be stable across restarts
        of one sender (its pending entries are re-read on start) and differ between senders
        running at the same time."""
        async_client = client or async_twin(self._redis)
        sender = Sender(
            self._settings,
            self._compose,
            (self.webhook, self.mailer),
            async_client,
            connector,
            consumer or f"sender-{socket.gethostname()}",
        )
        try:
            await sender.run(stop)
        finally:
            if client is None:
                await async_client.aclose()
