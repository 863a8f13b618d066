"""The worker that opens an incident draws its evidence pictures: the officer tapping the
alert's link gets them from Redis, without OCR in the console."""

from __future__ import annotations

from collections.abc import Callable

import redis

from bot import keys
from bot.incidents import Incidents
from bot.queue import JobQueue
from bot.settings import BotSettings
from bot.web.evidence import EvidencePictures, evidence_views
from tests.test_worker import client as client
from tests.test_worker import enroll, finished, image_job, wait_for
from tests.test_worker import page as page
from tests.test_worker import scan_config as scan_config
from tests.test_worker import settings as settings
from tests.test_worker import setup as setup
from tests.test_worker import thread_worker as thread_worker


def test_a_new_incident_has_its_pictures_drawn_by_the_worker(
    client: redis.Redis, settings: BotSettings, thread_worker: Callable[[], None], page: bytes
) -> None:
    enroll(client, settings, "room-a")
    job = image_job(page, "m1", "room-a")
    JobQueue(client, settings).enqueue(job, page)
    thread_worker()
    wait_for(finished(client, job), "the job")
    [incident] = Incidents(client, settings).list()
    views = evidence_views(incident.report)
    assert views
    pictures = EvidencePictures(client, settings)
    wait_for(lambda: all(pictures.get(incident.sha256, v) for v in views), "the pictures")
    drawn = pictures.get(incident.sha256, views[0])
    assert drawn is not None and drawn.startswith(b"\x89PNG")
    assert (
        client.ttl(f"{keys.EVIDENCE_PICTURE}{incident.sha256}::{views[0].page}") > 0
    )  # kept as evidence
