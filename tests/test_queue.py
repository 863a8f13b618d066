"""The scan queue and the blob store, against a real embedded Redis-protocol server."""

from __future__ import annotations

import time

import pytest
import redis

from bot import keys
from bot.blobs import Blobs, sha256_of
from bot.queue import DEAD, DONE, JobQueue, job_key
from bot.settings import BotSettings, load_bot_settings
from tests.conftest import scan_job

CLAIM_IDLE = 0.2


@pytest.fixture
def settings() -> BotSettings:
    base = load_bot_settings()
    pipeline = base.pipeline.model_copy(
        update={"claim_idle_seconds": CLAIM_IDLE, "max_attempts": 3}
    )
    return base.model_copy(update={"pipeline": pipeline})


@pytest.fixture
def queue(client: redis.Redis, settings: BotSettings) -> JobQueue:
    """The job queue with its consumer group."""
    queue = JobQueue(client, settings)
    queue.ensure_group()
    return queue


def test_a_message_delivered_twice_is_enqueued_once(
    client: redis.Redis, settings: BotSettings
) -> None:
    queue = JobQueue(client, settings)
    queue.ensure_group()
    queue.ensure_group()  # idempotent
    data = "机密★1年".encode()
    job = scan_job(data, "m1")
    assert queue.enqueue(job, data) is True
    assert queue.enqueue(job, data) is False
    assert client.xlen(keys.JOBS_STREAM) == 1
    assert Blobs(client, settings).get(job.sha256) == data
    assert queue.depth().waiting == 1
    other = scan_job(data, "m2")
    assert queue.enqueue(other) is True  # same bytes, another message: another job
    assert queue.depth().total == 2


def test_enqueue_refuses_bytes_that_do_not_match_the_job(
    client: redis.Redis, settings: BotSettings
) -> None:
    job = scan_job(b"one", "m1")
    with pytest.raises(ValueError, match="do not match"):
        JobQueue(client, settings).enqueue(job, b"two")
    assert client.exists(keys.JOBS_STREAM, job_key(job.job_id)) == 0


def test_read_finish_removes_the_job_and_remembers_it_done(
    queue: JobQueue, client: redis.Redis
) -> None:
    job = scan_job(b"hello", "m1")
    queue.enqueue(job, b"hello")
    [delivery] = queue.read("c1", block_ms=100)
    assert delivery.job == job
    assert delivery.attempts == 1
    assert queue.depth().pending == 1
    pipe = client.pipeline(transaction=True)
    queue.finish(pipe, delivery)
    pipe.execute()
    assert queue.depth().total == 0
    assert client.xlen(keys.JOBS_STREAM) == 0
    assert client.get(job_key(job.job_id)) == DONE.encode()
    assert JobQueue.is_finished(client, job.job_id)
    assert queue.enqueue(job) is False  # redelivered after it was done: still once
    assert queue.read("c1", block_ms=50) == []


def test_a_dead_consumers_job_is_reclaimed_after_the_idle_time(
    queue: JobQueue, client: redis.Redis
) -> None:
    queue.enqueue(scan_job(b"x", "m1"), b"x")
    [first] = queue.read("dies", block_ms=100)
    assert queue.reclaim("survivor") == []  # not idle long enough yet
    time.sleep(CLAIM_IDLE + 0.1)
    [again] = queue.reclaim("survivor")
    assert again.entry_id == first.entry_id
    assert again.attempts == 2
    assert (
        client.xpending_range(keys.JOBS_STREAM, keys.JOBS_GROUP, "-", "+", 1)[0]["consumer"]
        == b"survivor"
    )


def test_a_heartbeat_keeps_a_slow_job_from_being_reclaimed(queue: JobQueue) -> None:
    queue.enqueue(scan_job(b"slow", "m1"), b"slow")
    [mine] = queue.read("slow-worker", block_ms=100)
    for _ in range(4):
        time.sleep(CLAIM_IDLE / 2)
        assert queue.touch("slow-worker", mine) is True
        assert queue.reclaim("other") == []
    time.sleep(CLAIM_IDLE + 0.1)
    [taken] = queue.reclaim("other")
    assert queue.touch("slow-worker", mine) is False  # it is not ours any more
    assert taken.attempts == 2


def test_a_restarted_consumer_recovers_its_own_jobs_counting_a_delivery(queue: JobQueue) -> None:
    queue.enqueue(scan_job(b"r", "m1"), b"r")
    [first] = queue.read("w-1", block_ms=100)
    assert queue.recover("w-2") == []
    [again] = queue.recover("w-1")
    assert again.entry_id == first.entry_id
    assert again.attempts == 2


def test_dead_letter_after_max_attempts(
    queue: JobQueue, client: redis.Redis, settings: BotSettings
) -> None:
    job = scan_job(b"poison", "m1")
    queue.enqueue(job, b"poison")
    delivery = queue.read("c0", block_ms=100)[0]
    for attempt in range(2, 5):
        time.sleep(CLAIM_IDLE + 0.05)
        [delivery] = queue.reclaim(f"c{attempt}")
        assert delivery.attempts == attempt
        assert queue.exhausted(delivery) is (attempt > settings.pipeline.max_attempts)
    pipe = client.pipeline(transaction=True)
    queue.dead_letter(pipe, delivery, "gave up")
    pipe.execute()
    assert queue.depth().total == 0
    [dead] = queue.dead_letters()
    assert dead.job == job
    assert dead.reason == "gave up"
    assert dead.attempts == 4
    assert client.get(job_key(job.job_id)) == DEAD.encode()
    time.sleep(CLAIM_IDLE + 0.05)
    assert queue.reclaim("late") == []


def test_an_entry_that_is_no_job_goes_to_the_dead_letters(
    queue: JobQueue, client: redis.Redis
) -> None:
    client.xadd(keys.JOBS_STREAM, {"something": "else"})
    assert queue.read("c1", block_ms=100) == []
    [dead] = queue.dead_letters()
    assert dead.job is None
    assert "no 'job' field" in dead.reason
    assert queue.depth().total == 0


def test_blobs_keep_clean_bytes_for_hours_and_evidence_for_days(
    client: redis.Redis, settings: BotSettings
) -> None:
    blobs = Blobs(client, settings)
    digest = blobs.put(b"page")
    key = keys.BLOB + digest
    hours = settings.retention.clean_blob_hours * 3600
    assert hours - 5 < client.ttl(key) <= hours
    blobs.keep_as_evidence(client, digest)
    days = settings.retention.evidence_days * 86400
    assert days - 5 < client.ttl(key) <= days
    blobs.put(b"page")  # posted again: never shortens the evidence
    assert client.ttl(key) > hours
    assert blobs.get(digest) == b"page"
    assert blobs.get(sha256_of(b"never stored")) is None


def test_old_consumers_without_jobs_are_forgotten(queue: JobQueue, client: redis.Redis) -> None:
    queue.enqueue(scan_job(b"k", "m1"), b"k")
    queue.read("busy", block_ms=100)
    queue.read("idle", block_ms=10)
    time.sleep(0.3)
    assert queue.forget_idle_consumers(0.2) == 1
    names = {c["name"] for c in client.xinfo_consumers(keys.JOBS_STREAM, keys.JOBS_GROUP)}
    assert names == {b"busy"}
