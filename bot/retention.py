"""Retention of the record streams: the intake's failures and unscanned items, the dead letters.

Their entries hold no content (names, ids, reasons), yet they are records of people's messages
and must not grow or stay for ever: each addition caps a stream at `retention.record_max_entries`
(approximately), and `trim_record_streams`, run by the workers' housekeeping, drops entries older
than `retention.record_max_days` (a stream entry id is its time in milliseconds).
"""

from __future__ import annotations

import time

import redis

from bot import keys
from bot.settings import RetentionSettings

RECORD_STREAMS = (keys.INTAKE_FAILURES, keys.INTAKE_UNSCANNED, keys.DEAD_LETTER_STREAM)
DAY = 86_400


def trim_record_streams(
    client: redis.Redis, retention: RetentionSettings, now: float | None = None
) -> int:
    """Drop the record streams' entries past their age or count; how many went."""
    oldest_ms = int(((now or time.time()) - retention.record_max_days * DAY) * 1000)
    pipe = client.pipeline(transaction=False)
    for stream in RECORD_STREAMS:
        pipe.xtrim(stream, minid=oldest_ms, approximate=False)
        pipe.xtrim(stream, maxlen=retention.record_max_entries, approximate=False)
    return sum(int(n) for n in pipe.execute())
