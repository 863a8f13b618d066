"""Scan workers against a real embedded Redis, real scans (RapidOCR on a rendered page) and real
processes: the result cache, dead letters, a worker killed mid-scan, Redis restarted mid-run."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import yaml
from PIL import Image, ImageDraw, ImageFont

from bot import keys, metrics
from bot.groups import Groups
from bot.incidents import Incidents
from bot.jobs import ScanJob
from bot.queue import JobQueue
from bot.redis_server import connect, stop_embedded
from bot.settings import BotSettings, load_bot_settings
from bot.worker import Supervisor, run_worker
from detectors import ScanConfig, load_config
from tests.conftest import exposed_metrics, scan_job

REPO = Path(__file__).resolve().parent.parent
FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
OFFICER = "wxid_officer"
ADMIN = "wxid_admin"
CLAIM_IDLE = 1.0
WAIT = 180.0  # generous: two cores shared with other test processes


def marked_page(title: str = "关于做好春节期间安全工作的通知") -> bytes:
    """A white A4 page at 150 dpi with a classification marking top left, as a PNG."""
    page = Image.new("RGB", (1240, 1754), "white")
    draw = ImageDraw.Draw(page)
    draw.text((120, 110), "机密★1年", font=ImageFont.truetype(FONT, 44), fill="black")
    draw.text((220, 330), title, font=ImageFont.truetype(FONT, 48), fill="black")
    body = ImageFont.truetype(FONT, 32)
    for row, line in enumerate(
        ["各单位：", "现将有关事项通知如下，请认真贯彻执行。", "一、加强值班值守。"]
    ):
        draw.text((120, 480 + row * 60), line, font=body, fill="black")
    out = io.BytesIO()
    page.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def page() -> bytes:
    return marked_page()


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A data folder (the embedded Redis in it) and a config folder with quick reclaims and an
    officer. Yields the config folder; the environment points every process at both."""
    config_dir = tmp_path / "config"
    shutil.copytree(REPO / "config", config_dir)
    bot_yaml = config_dir / "bot.yaml"
    data = yaml.safe_load(bot_yaml.read_text(encoding="utf-8"))
    data["officers"] = [OFFICER]
    data["pipeline"].update(claim_idle_seconds=CLAIM_IDLE, max_attempts=3, block_ms=200)
    bot_yaml.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("LEAKSENTRY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("REDIS_URL", raising=False)
    for name in ("LEAKSENTRY_OFFICERS", "LEAKSENTRY_WEBHOOK_URL", "LEAKSENTRY_SMTP_URL"):
        monkeypatch.delenv(name, raising=False)
    yield config_dir
    stop_embedded(tmp_path / "data" / "redis")


@pytest.fixture
def client(setup: Path, tmp_path: Path) -> redis.Redis:
    return connect(tmp_path / "data" / "redis")


@pytest.fixture
def settings(setup: Path) -> BotSettings:
    return load_bot_settings(setup)


@pytest.fixture
def scan_config(setup: Path) -> ScanConfig:
    return load_config(setup)


def image_job(
    data: bytes, message_id: str, room: str = "room-a", filename: str = "photo.png"
) -> ScanJob:
    return scan_job(data, message_id, room, kind="image", filename=filename)


def enroll(client: redis.Redis, settings: BotSettings, *rooms: str) -> None:
    for room in rooms:
        Groups(client, settings).enroll(room, topic=f"{room} 工作群", admins=(ADMIN,))


def outbox(client: redis.Redis) -> list[dict[str, object]]:
    """Every queued notification, warnings first."""
    entries = []
    for stream in (keys.OUTBOX_URGENT_STREAM, keys.OUTBOX_STREAM):
        for _id, fields in client.xrange(stream):
            entries.append(json.loads(fields[b"entry"]))
    return entries


def scans(client: redis.Redis) -> int:
    return sum(int(v) for v in client.hgetall(keys.METRICS + metrics.SCANS).values())


def wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def finished(client: redis.Redis, *jobs: ScanJob) -> Callable[[], bool]:
    return lambda: all(JobQueue.is_finished(client, job.job_id) for job in jobs)


@pytest.fixture
def thread_worker(
    client: redis.Redis, settings: BotSettings, scan_config: ScanConfig, tmp_path: Path
) -> Iterator[Callable[[], None]]:
    """Starts `run_worker` in a thread of this process (on demand); stops it at the end."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start() -> None:
        factory = lambda: connect(tmp_path / "data" / "redis")  # noqa: E731
        thread = threading.Thread(
            target=run_worker, args=(factory, scan_config, settings, "in-thread", stop), daemon=True
        )
        thread.start()
        threads.append(thread)

    yield start
    stop.set()
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()


def worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    return env


def test_the_same_bytes_twice_are_scanned_once_and_make_one_spread_incident(
    client: redis.Redis, settings: BotSettings, thread_worker: Callable[[], None], page: bytes
) -> None:
    enroll(client, settings, "room-a", "room-b")
    queue = JobQueue(client, settings)
    first, forward = image_job(page, "m1", "room-a"), image_job(page, "m2", "room-b")
    queue.enqueue(first, page)
    queue.enqueue(forward, page)
    thread_worker()
    wait_for(finished(client, first, forward), "both jobs")
    assert scans(client) == 1
    assert client.hget(keys.JOB_STATS, "cache_hits") == b"1"
    # /metrics counts the one scan performed, not the cache hit, and how long it took.
    exposed = exposed_metrics(client)
    assert exposed['leaksentry_scans_total{verdict="critical"}'] == 1
    assert exposed["leaksentry_scan_duration_seconds_count"] == 1
    assert 0 < exposed["leaksentry_scan_duration_seconds_sum"] < WAIT
    [incident] = Incidents(client, settings).list()
    assert incident.verdict == "critical"
    assert [s.room_id for s in incident.sightings] == ["room-a", "room-b"]
    sent = outbox(client)
    assert sorted((e["kind"], e["recipient"]) for e in sent) == sorted(
        [
            ("warning", "room-a"),
            ("warning", "room-b"),
            ("alert", ADMIN),
            ("alert", OFFICER),
            ("spread", ADMIN),
            ("spread", OFFICER),
        ]
    )
    assert all("机密★1年" not in str(e) for e in sent)  # the finding, never the page's text
    assert queue.depth().total == 0


def test_an_item_whose_bytes_are_gone_is_dead_lettered_with_a_notice(
    client: redis.Redis, settings: BotSettings, thread_worker: Callable[[], None]
) -> None:
    enroll(client, settings, "room-a")
    queue = JobQueue(client, settings)
    job = image_job(b"never stored", "m1")
    queue.enqueue(job)  # no bytes
    thread_worker()
    wait_for(finished(client, job), "the dead letter")
    [dead] = queue.dead_letters()
    assert dead.job == job and dead.reason.startswith("fetch:")
    assert [(e["kind"], e["recipient"]) for e in outbox(client)] == [("dead_letter", OFFICER)]
    assert scans(client) == 0


def test_a_corrupt_item_is_reported_to_the_officer_not_an_incident(
    client: redis.Redis, settings: BotSettings, thread_worker: Callable[[], None], page: bytes
) -> None:
    enroll(client, settings, "room-a")
    queue = JobQueue(client, settings)
    broken = page[: len(page) // 3]
    job = image_job(broken, "m1")
    queue.enqueue(job, broken)
    thread_worker()
    wait_for(finished(client, job), "the scan")
    [dead] = queue.dead_letters()
    assert dead.reason.startswith("corrupt:")
    assert Incidents(client, settings).list() == []
    assert [e["kind"] for e in outbox(client)] == ["dead_letter"]


def test_a_job_delivered_too_often_is_dead_lettered_without_a_scan(
    client: redis.Redis, settings: BotSettings, thread_worker: Callable[[], None], page: bytes
) -> None:
    enroll(client, settings, "room-a")
    queue = JobQueue(client, settings)
    queue.ensure_group()
    job = image_job(page, "m1")
    queue.enqueue(job, page)
    queue.read("crashed-1", block_ms=100)  # three workers that took it and died
    for name in ("crashed-2", "crashed-3"):
        time.sleep(CLAIM_IDLE + 0.1)
        assert len(queue.reclaim(name)) == 1
    thread_worker()
    wait_for(finished(client, job), "the dead letter")
    [dead] = queue.dead_letters()
    assert dead.attempts == 4
    assert dead.reason == "retries: gave up after 3 attempts to scan it"
    assert scans(client) == 0
    assert [(e["kind"], e["recipient"]) for e in outbox(client)] == [("dead_letter", OFFICER)]


def test_a_worker_killed_mid_scan_is_replaced_and_its_job_finished_once(
    client: redis.Redis, settings: BotSettings, setup: Path, page: bytes
) -> None:
    enroll(client, settings, "room-a")
    queue = JobQueue(client, settings)
    queue.ensure_group()
    supervisor = Supervisor(2, "t", config_dir=setup, env=worker_env())
    supervisor.start()
    try:
        job = image_job(page, "m1")
        queue.enqueue(job, page)
        holder: list[str] = []

        def taken() -> bool:
            rows = client.xpending_range(keys.JOBS_STREAM, keys.JOBS_GROUP, "-", "+", 1)
            holder[:] = [rows[0]["consumer"].decode()] if rows else []
            return bool(holder)

        wait_for(taken, "a worker to take the job")
        killed = supervisor.pids[holder[0]]
        os.kill(killed, signal.SIGKILL)
        assert not JobQueue.is_finished(client, job.job_id)  # it died mid-scan

        def restarted() -> bool:
            supervisor.check()
            return supervisor.pids.get(holder[0]) not in (None, killed)

        wait_for(restarted, "the killed worker's restart")
        assert supervisor.restarts == 1
        wait_for(finished(client, job), "the job")
    finally:
        supervisor.stop()
    assert supervisor.pids == {}
    [incident] = Incidents(client, settings).list()
    assert len(incident.sightings) == 1
    assert sorted((e["kind"], e["recipient"]) for e in outbox(client)) == [
        ("alert", ADMIN),
        ("alert", OFFICER),
        ("warning", "room-a"),
    ]
    assert queue.depth().total == 0
    assert queue.dead_letters() == []


def test_redis_restarted_mid_run_loses_nothing(
    client: redis.Redis, settings: BotSettings, setup: Path, tmp_path: Path, page: bytes
) -> None:
    enroll(client, settings, "room-a")
    queue = JobQueue(client, settings)
    queue.ensure_group()
    before = [
        image_job(page, "m1"),
        image_job("机密★1年\n第一号通知".encode(), "m2", filename="message.txt"),
    ]
    queue.enqueue(before[0], page)
    queue.enqueue(before[1], "机密★1年\n第一号通知".encode())
    worker = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "worker", "--name", "w", "--config", str(setup)],
        env=worker_env(),
    )
    try:
        wait_for(
            lambda: client.xpending(keys.JOBS_STREAM, keys.JOBS_GROUP)["pending"] > 0,
            "the worker to take a job",
        )
        redis_dir = tmp_path / "data" / "redis"
        stop_embedded(redis_dir)  # an orderly shutdown: the append-only file is complete
        time.sleep(0.5)
        client = connect(redis_dir)  # started again (by us or by the worker) from that file
        text = "秘密★6个月\n第二号通知".encode()
        after = image_job(text, "m3", filename="message.txt")
        assert JobQueue(client, settings).enqueue(after, text)
        wait_for(finished(client, *before, after), "every job")
        assert len(Incidents(client, settings).list()) == 3
        assert JobQueue(client, settings).depth().total == 0
        assert (
            sorted(e["kind"] for e in outbox(client) if e["recipient"] == OFFICER) == ["alert"] * 3
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0
