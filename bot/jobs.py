"""A scan job: what the bot process hands to the workers through the Redis Stream.

The bot never scans. It stores the message's bytes once under their SHA-256 (so a forwarded
copy costs nothing twice) and enqueues this small record; a worker anywhere picks it up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ScanJob:
    job_id: str
    """`platform:message_id`: the same message delivered twice is the same job."""
    platform: str
    message_id: str
    kind: str
    """A `MessageKind` value: image, file, text, url, chat_history."""
    room_id: str
    room_topic: str
    sender_id: str
    sender_name: str
    sha256: str
    """Content hash of the bytes (or of the UTF-8 text), the key of the stored blob."""
    filename: str
    size: int
    received_at: float
    """Unix time the bot received the message; the warning latency is measured from here."""

    def to_fields(self) -> dict[str, str]:
        """The stream entry: one JSON field, so that the record can grow without migrations."""
        return {"job": json.dumps(asdict(self), ensure_ascii=False)}

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> ScanJob:
        """The job of a stream entry read as text (`bot.redis_text.stream_entries`)."""
        raw = fields.get("job")
        if raw is None:
            raise ValueError("stream entry has no 'job' field")
        return cls(**json.loads(raw))
