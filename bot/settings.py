"""Settings of the service, from `config/bot.yaml` and the environment, validated at start-up.

The scanner's own settings stay in `detectors.config`; this is what only the service reads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from detectors.config import ConfigError, config_dir, load_yaml, validation_problems

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
    prune_interval_minutes: float = Field(default=60, gt=0)
    """How often a worker drops expired incidents from the console's indexes."""


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
    public_url: str
    incident_path: str = "/incidents/{incident_id}"
    """Appended to `public_url` for the link in an alert."""
    incidents_path: str = "/incidents"
    """Appended to `public_url` for the link in a batched alert."""
    session_idle_minutes: float = Field(default=120, gt=0)
    session_max_hours: float = Field(default=12, gt=0)
    login_max_failures: int = Field(default=5, ge=1)  # per user name, in the window
    login_max_failures_per_ip: int = Field(default=20, ge=1)
    login_window_minutes: float = Field(default=15, gt=0)
    trusted_proxy: bool = False  # honour X-Forwarded-Proto / X-Forwarded-For
    max_upload_mb: float = Field(default=25, gt=0)
    metrics_token_env: str = "LEAKSENTRY_METRICS_TOKEN"  # names the /metrics bearer token


class IntakeSettings(_Frozen):
    min_text_chars: int = Field(default=4, ge=1)
    max_item_bytes: int = Field(default=104_857_600, gt=0)


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


def _mapping(value: object) -> dict[str, object]:
    return dict(value) if isinstance(value, dict) else {}
