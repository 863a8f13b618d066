"""Shared fixtures: the real config from `config/`, pages built from lines of text, a real
embedded Redis of each test's own, and scan jobs as the intake makes them."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import redis
from prometheus_client import generate_latest

from bot.blobs import sha256_of
from bot.jobs import ScanJob
from bot.metrics import collector_registry
from bot.redis_server import REDIS_URL_ENV, connect, stop_embedded
from detectors import Page, ScanConfig, TextLine, load_config
from detectors.context import PageContext


@pytest.fixture(scope="session")
def config() -> ScanConfig:
    return load_config()


@pytest.fixture
def redis_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The folder of an embedded Redis-protocol server of this test's own, running until the
    test ends, whatever `REDIS_URL` says."""
    monkeypatch.delenv(REDIS_URL_ENV, raising=False)
    directory = tmp_path / "redis"
    connect(directory).close()
    yield directory
    stop_embedded(directory)


@pytest.fixture
def client(redis_dir: Path) -> Iterator[redis.Redis]:
    """A client on this test's own server."""
    found = connect(redis_dir)
    yield found
    found.close()


def scan_job(
    data: bytes,
    message_id: str,
    room: str = "room-a",
    topic: str | None = None,
    at: float | None = None,
    sender_id: str | None = None,
    *,
    platform: str = "test",
    kind: str = "text",
    filename: str = "message.txt",
) -> ScanJob:
    """The job the intake would queue for `data`, posted in `room` (now, unless `at`)."""
    sender = sender_id or f"wxid_{message_id}"
    return ScanJob(
        job_id=f"{platform}:{message_id}",
        platform=platform,
        message_id=message_id,
        kind=kind,
        room_id=room,
        room_topic=f"{room} 工作群" if topic is None else topic,
        sender_id=sender,
        sender_name=f"name of {sender}",
        sha256=sha256_of(data),
        filename=filename,
        size=len(data),
        received_at=time.time() if at is None else at,
    )


def text_page(lines: Sequence[str], number: int = 1) -> Page:
    """A page without layout (a DOCX body, a pasted text): lines in order."""
    return Page(source="test.txt", number=number, lines=[TextLine(t) for t in lines])


def laid_out_page(rows: Sequence[tuple[str, tuple[int, int, int, int]]]) -> Page:
    """An OCR'd A4 page of 1240 x 1754 px: each row is (text, bbox)."""
    import numpy as np

    image = np.full((1754, 1240, 3), 255, dtype=np.uint8)
    return Page(
        source="photo.jpg",
        number=1,
        image=image,
        lines=[TextLine(text, bbox=bbox, confidence=0.95) for text, bbox in rows],
    )


def context(page: Page, config: ScanConfig) -> PageContext:
    return PageContext(page=page, config=config)


def exposed_metrics(client: redis.Redis) -> dict[str, float]:
    """The samples `/metrics` serves now, by name and labels as Prometheus writes them
    (`leaksentry_alerts_sent_total{channel="room"}`)."""
    exposition = generate_latest(collector_registry(client)).decode()
    lines = [line for line in exposition.splitlines() if line and not line.startswith("#")]
    return {name: float(value) for name, value in (line.rsplit(" ", 1) for line in lines)}
