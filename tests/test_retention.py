"""The record streams' retention: intake failures, unscanned items and dead letters are trimmed
by age and by count, by the workers' housekeeping. A real embedded Redis."""

from __future__ import annotations

import time

import redis

from bot import keys
from bot.retention import RECORD_STREAMS, trim_record_streams
from bot.settings import load_bot_settings
from bot.templates import load_templates
from bot.worker import Worker
from detectors import ScanConfig, Scanner

DAY_MS = 86_400_000


def fill(client: redis.Redis, stream: str, *, days_ago: float, count: int) -> None:
    start_ms = int(time.time() * 1000 - days_ago * DAY_MS)
    for number in range(count):
        client.xadd(stream, {"message_key": f"m{number}", "at": "0"}, id=f"{start_ms}-{number}")


def test_records_older_than_record_max_days_go_and_the_newest_stay(client: redis.Redis) -> None:
    settings = load_bot_settings()
    retention = settings.retention.model_copy(update={"record_max_days": 7})
    for stream in RECORD_STREAMS:
        fill(client, stream, days_ago=30, count=5)
        fill(client, stream, days_ago=1, count=3)
    assert trim_record_streams(client, retention) == 15
    for stream in RECORD_STREAMS:
        assert client.xlen(stream) == 3
        [(oldest, _)] = client.xrange(stream, count=1)
        assert int(oldest.split(b"-")[0]) > time.time() * 1000 - 7 * DAY_MS


def test_records_beyond_record_max_entries_go_oldest_first(client: redis.Redis) -> None:
    retention = load_bot_settings().retention.model_copy(update={"record_max_entries": 4})
    fill(client, keys.DEAD_LETTER_STREAM, days_ago=1, count=10)
    assert trim_record_streams(client, retention) == 6
    kept = [fields[b"message_key"] for _, fields in client.xrange(keys.DEAD_LETTER_STREAM)]
    assert kept == [b"m6", b"m7", b"m8", b"m9"]


def test_the_workers_housekeeping_trims_the_records(
    client: redis.Redis, config: ScanConfig
) -> None:
    settings = load_bot_settings()
    fill(client, keys.INTAKE_FAILURES, days_ago=settings.retention.record_max_days + 1, count=2)
    fill(client, keys.INTAKE_FAILURES, days_ago=0, count=1)
    worker = Worker(client, Scanner(config), load_templates(), settings, "keeper")
    worker.queue.ensure_group()  # as a started worker has it
    worker._housekeeping()
    assert client.xlen(keys.INTAKE_FAILURES) == 1
