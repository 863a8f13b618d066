"""Settings of the service, from `config/bot.yaml` and the environment, validated at start-up.

The scanner's own settings stay in `detectors.config`; this is what only the service reads.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from detectors.config import ConfigError, config_dir, load_yaml, validation_problems

DEFAULT_CONSOLE_HOST = "127.0.0.1"
DEFAULT_CONSOLE_PORT = 8080
OFFICERS_ENV = "LEAKSENTRY_OFFICERS"
CONSOLE_URL_ENV = "LEAKSENTRY_CONSOLE_URL"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PipelineSettings(_Frozen):
    workers: int = Field(ge=0, le=64)
    claim_idle_seconds: float = Field(gt=0)
    max_attempts: int = Field(ge=1)
    block_ms: int = Field(ge=1)
    job_ttl_hours: float = Field(default=72, gt=0)
    """How long a message id is remembered, so that a redelivered message is enqueued once."""


class RetentionSettings(_Frozen):
    evidence_days: float = Field(gt=0)
    clean_blob_hours: float = Field(gt=0)
    evidence_picture: bool = True
    """False: "findings only, no picture": an incident keeps what was found, and the item's
    bytes expire `clean_blob_hours` after it was posted, like a clean item's."""
    prune_interval_minutes: float = Field(default=60, gt=0)
    """How often a worker drops expired incidents from the console's indexes."""
    record_max_entries: int = Field(default=10_000, ge=1)
    """The intake's failure and unscanned lists and the dead letters keep at most this many,"""
    record_max_days: float = Field(default=90, gt=0)
    """and none older than this (by count at each addition, by age in the workers' housekeeping)."""


class AuditSettings(_Frozen):
    max_entries: int = Field(default=100_000, ge=1)
    """The console's audit log keeps about this many entries, the newest."""
    max_days: float = Field(default=365, gt=0)
    """and none older than this."""
    sample_window_seconds: float = Field(default=60, gt=0)
    """Failed or refused sign-ins: one entry per window per address and name, with the count."""


class OutboxSettings(_Frozen):
    messages_per_minute: int = Field(ge=1)
    min_interval_seconds: float = Field(ge=0)
    group_warning_interval_seconds: float = Field(ge=0)
    """Member warnings in one group at most this often; the warnings due meanwhile (every
    member, every document) go in one message that @-mentions them all."""
    warning_max_mentions: int = Field(default=20, ge=1)
    """A merged warning @-mentions at most this many members; more go in the next message."""
    batch_window_seconds: float = Field(ge=0)
    max_attempts: int = Field(ge=1)
    retry_base_seconds: float = Field(default=2.0, gt=0)
    """The first retry of a failed delivery waits this long, each next one twice as long,"""
    retry_max_seconds: float = Field(default=300, gt=0)
    """up to this."""
    send_timeout_seconds: float = Field(default=30, gt=0)
    """A chat send that takes longer counts as failed (and is retried)."""
    claim_idle_seconds: float = Field(default=120, gt=0)
    """Entries read by a sender that has been silent this long are taken over by another."""
    dedup_hours: float = Field(default=168, gt=0)
    """How long queued and delivered entry ids are remembered."""
    log_max_entries: int = Field(default=10_000, ge=100)
    """Delivery records kept for the latency benchmark and the console."""


class WebhookSettings(_Frozen):
    url_env: str
    secret_env: str
    timeout_seconds: float = Field(gt=0)
    max_attempts: int = Field(ge=1)
    retry_base_seconds: float = Field(default=1.0, gt=0)
    """Backoff after a 5xx, 429 or timeout: this, then twice as long each time."""


class EmailSettings(_Frozen):
    smtp_url_env: str
    from_address: str
    to_env: str
    timeout_seconds: float = Field(default=30, gt=0)


class ConsoleSettings(_Frozen):
    public_url: str = ""
    """Where officers reach the console, for the links in alerts; empty: the address that
    `leaksentry run` / `console` listen on (`with_console_url`), by default 127.0.0.1:8080."""
    incident_path: str = "/incidents/{incident_id}"
    """Appended to `public_url` for the link in an alert."""
    incidents_path: str = "/incidents"
    """Appended to `public_url` for the link in a batched alert."""
    session_idle_minutes: float = Field(default=120, gt=0)
    session_max_hours: float = Field(default=12, gt=0)
    login_free_failures: int = Field(default=5, ge=0)  # per address and per name, then delays
    login_first_delay_seconds: float = Field(default=1, gt=0)  # doubling at each failure
    login_max_delay_per_ip_seconds: float = Field(default=3600, gt=0)
    login_max_delay_per_user_seconds: float = Field(default=30, gt=0)  # mild: owner waits little
    login_forget_minutes: float = Field(default=15, gt=0)  # failures forgotten after this quiet
    login_known_address_days: float = Field(default=30, gt=0)  # spared the name's delay
    trusted_proxy: bool = False  # honour X-Forwarded-Proto / X-Forwarded-For
    max_upload_mb: float = Field(default=25, gt=0)
    metrics_token_env: str = "LEAKSENTRY_METRICS_TOKEN"  # names the /metrics bearer token
    language: Literal["zh_CN", "en"] = "zh_CN"
    """The console's language where neither the user nor the browser chose one."""
    browser_language: bool = True
    """Whether a browser's Accept-Language may choose English (false: only the switch does)."""
    _follows_bind: bool = PrivateAttr(default=False)

    @model_validator(mode="after")
    def _default_public_url(self) -> ConsoleSettings:
        if not self.public_url:
            object.__setattr__(
                self, "public_url", console_url_for(DEFAULT_CONSOLE_HOST, DEFAULT_CONSOLE_PORT)
            )
            self._follows_bind = True
        return self

    @property
    def follows_bind(self) -> bool:
        """Whether `public_url` was left empty, to be the address the console listens on."""
        return self._follows_bind


class DecisionSettings(_Frozen):
    tell_member: bool = True
    """On a false positive, tell the member in the group where they were warned (the warning
    promised it); everyone who got the alert hears of every decision in any case."""


class IntakeSettings(_Frozen):
    min_text_chars: int = Field(default=4, ge=1)
    max_item_bytes: int = Field(default=104_857_600, gt=0)
    spool_max_mb: float = Field(default=2048, gt=0)
    """Messages received while Redis is unreachable are kept on disk up to this size,"""
    spool_max_items: int = Field(default=20_000, ge=1)
    """and this many."""
    outage_alert_seconds: float = Field(default=60, ge=0)
    """The officers are told when Redis has been unreachable this long."""
    outage_poll_seconds: float = Field(default=1.0, gt=0)
    """How often the bot process checks that Redis answers."""


class BotSettings(_Frozen):
    officers: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()
    intake: IntakeSettings = IntakeSettings()
    alert_min_verdict: Literal["critical", "high", "medium", "low"]
    pipeline: PipelineSettings
    retention: RetentionSettings
    outbox: OutboxSettings
    webhook: WebhookSettings
    email: EmailSettings
    console: ConsoleSettings
    decisions: DecisionSettings = DecisionSettings()
    audit: AuditSettings = AuditSettings()
    source_dir: str = ""


def load_bot_settings(directory: str | os.PathLike[str] | None = None) -> BotSettings:
    """`config/bot.yaml`, with `LEAKSENTRY_OFFICERS` and `LEAKSENTRY_CONSOLE_URL` applied."""
    folder = config_dir(directory)
    path = folder / "bot.yaml"
    data = load_yaml(path)
    officers = os.environ.get(OFFICERS_ENV, "")
    if officers.strip():  # empty (as Compose passes an unset variable) keeps config/bot.yaml's
        data["officers"] = [o.strip() for o in officers.split(",") if o.strip()]
    console_url = os.environ.get(CONSOLE_URL_ENV)
    if console_url:
        data["console"] = {**_mapping(data.get("console")), "public_url": console_url}
    try:
        return BotSettings.model_validate({**data, "source_dir": str(Path(folder))})
    except ValidationError as exc:
        raise ConfigError(f"{path}: {validation_problems(exc)}") from exc


def console_url_for(host: str, port: int) -> str:
    """The URL of a console listening on `host:port`; a wildcard address is this machine's name."""
    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostname()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def with_console_url(settings: BotSettings, host: str, port: int) -> BotSettings:
    """`settings` whose alert links lead to the console on `host:port`, unless
    `console.public_url` (or LEAKSENTRY_CONSOLE_URL) names another place."""
    if not settings.console.follows_bind:
        return settings
    console = settings.console.model_copy(update={"public_url": console_url_for(host, port)})
    return settings.model_copy(update={"console": console})


def is_loopback_url(url: str) -> bool:
    """Whether `url` only works on this machine (a phone tapping it would reach nothing)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _mapping(value: object) -> dict[str, object]:
    return dict(value) if isinstance(value, dict) else {}
