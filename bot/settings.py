"""Settings of the service, from `config/bot.yaml` and the environment, validated at start-up.

The scanner's own settings stay in `detectors.config`; this is what only the service reads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from detectors.config import ConfigError, config_dir, load_yaml

OFFICERS_ENV = "LEAKSENTRY_OFFICERS"
CONSOLE_URL_ENV = "LEAKSENTRY_CONSOLE_URL"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PipelineSettings(_Frozen):
    workers: int = Field(ge=0, le=64)
    claim_idle_seconds: float = Field(gt=0)
    max_attempts: int = Field(ge=1)
    block_ms: int = Field(ge=1)


class RetentionSettings(_Frozen):
    evidence_days: float = Field(gt=0)
    clean_blob_hours: float = Field(gt=0)


class OutboxSettings(_Frozen):
    messages_per_minute: int = Field(ge=1)
    min_interval_seconds: float = Field(ge=0)
    group_warning_cooldown_seconds: float = Field(ge=0)
    batch_window_seconds: float = Field(ge=0)
    max_attempts: int = Field(ge=1)


class WebhookSettings(_Frozen):
    url_env: str
    secret_env: str
    timeout_seconds: float = Field(gt=0)
    max_attempts: int = Field(ge=1)


class EmailSettings(_Frozen):
    smtp_url_env: str
    from_address: str
    to_env: str


class ConsoleSettings(_Frozen):
    public_url: str


class BotSettings(_Frozen):
    officers: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()
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
    officers = os.environ.get(OFFICERS_ENV)
    if officers is not None:
        data["officers"] = [o.strip() for o in officers.split(",") if o.strip()]
    console_url = os.environ.get(CONSOLE_URL_ENV)
    if console_url:
        data["console"] = {**_mapping(data.get("console")), "public_url": console_url}
    try:
        return BotSettings.model_validate({**data, "source_dir": str(Path(folder))})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc


def _mapping(value: object) -> dict[str, object]:
    return dict(value) if isinstance(value, dict) else {}
