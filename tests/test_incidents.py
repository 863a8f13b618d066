"""The incident store: new vs spread, idempotency per job, recalls, status audit, retention.

Reports come from real scans of small texts, and the store is a real embedded Redis."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from bot import keys
from bot.blobs import sha256_of
from bot.incidents import (
    CONFIRMED,
    FALSE_POSITIVE,
    ID_ALPHABET,
    OPEN,
    Incidents,
    UnknownIncident,
    encode_id,
    normalize_id,
)
from bot.settings import BotSettings, load_bot_settings
from detectors import ScanConfig, Scanner
from tests.conftest import scan_job

MARKED = "机密★1年\n关于做好春节期间安全工作的通知".encode()
OTHER_MARKED = "秘密★6个月\n关于调整人员的通知".encode()
CLEAN = "今天中午一起吃饭吗".encode()


@pytest.fixture(scope="module")
def scanner(config: ScanConfig) -> Scanner:
    return Scanner(config)


@pytest.fixture
def settings() -> BotSettings:
    return load_bot_settings()


def report(scanner: Scanner, data: bytes) -> dict[str, Any]:
    return scanner.scan(data, "message.txt").to_json()


def test_first_sighting_opens_an_incident_and_a_copy_elsewhere_is_spread(
    client: redis.Redis, settings: BotSettings, scanner: Scanner
) -> None:
    incidents = Incidents(client, settings)
    scanned = report(scanner, MARKED)
    assert scanned["verdict"] == "critical"
    first = incidents.record(client, scan_job(MARKED, "m1", "room-a"), scanned)
    assert first is not None and first.is_new
    assert normalize_id(first.incident_id) == first.incident_id
    assert first.first_room_id is None
    [finding] = first.findings  # what notifications get: no evidence text, no boxes
    assert set(finding) == {"detector", "label", "page", "confidence"}
    assert (finding["detector"], finding["label"], finding["page"]) == (
        "classification_marking",
        "机密",
        1,
    )

    spread = incidents.record(client, scan_job(MARKED, "m2", "room-b"), scanned)
    assert spread is not None and not spread.is_new
    assert spread.incident_id == first.incident_id
    assert (spread.first_room_id, spread.first_room_topic) == ("room-a", "room-a 工作群")

    incident = incidents.get(first.incident_id)
    assert incident is not None
    assert incident.status == OPEN
    assert incident.verdict == "critical"
    assert incident.room_ids == ("room-a", "room-b")
    assert [s.message_key for s in incident.sightings] == ["test:m1", "test:m2"]
    assert incident.findings[0]["evidence"] == "机密★1年"  # kept server-side, for the console
    assert incident.evidence_key == keys.BLOB + sha256_of(MARKED)
    assert incident.report["verdict"] == "critical"
    assert [e.action for e in incident.audit] == ["opened"]
    by_message = incidents.by_message("test:m2")
    assert by_message is not None and by_message.incident_id == first.incident_id
    assert [i.incident_id for i in incidents.list(room="room-b")] == [first.incident_id]


def test_a_redelivered_job_returns_the_same_event_and_changes_nothing(
    client: redis.Redis, settings: BotSettings, scanner: Scanner
) -> None:
    incidents = Incidents(client, settings)
    scanned = report(scanner, MARKED)
    sighting = scan_job(MARKED, "m1")
    first = incidents.record(client, sighting, scanned)
    before = {k: client.dump(k) for k in client.scan_iter(match=keys.INCIDENTS + "*")}
    again = incidents.record(client, sighting, scanned)
    assert again == first
    after = {k: client.dump(k) for k in client.scan_iter(match=keys.INCIDENTS + "*")}
    assert after == before


def test_a_report_below_the_alert_verdict_stores_nothing(
    client: redis.Redis, settings: BotSettings, scanner: Scanner
) -> None:
    scanned = report(scanner, CLEAN)
    assert scanned["verdict"] == "clean"
    assert Incidents(client, settings).record(client, scan_job(CLEAN, "m1"), scanned) is None
    assert list(client.scan_iter(match=keys.INCIDENTS + "*")) == []


def test_two_copies_recorded_at_once_make_one_incident(
    client: redis.Redis, settings: BotSettings, scanner: Scanner
) -> None:
    incidents = Incidents(client, settings)
    scanned = report(scanner, MARKED)
    with client.pipeline(transaction=True) as slow:
        pending = incidents.record(slow, scan_job(MARKED, "m1", "room-a"), scanned)
        assert pending is not None and pending.is_new  # read, not yet written
        fast = incidents.record(client, scan_job(MARKED, "m2", "room-b"), scanned)
        with pytest.raises(redis.WatchError):
            slow.execute()
    retried = incidents.record(client, scan_job(MARKED, "m1", "room-a"), scanned)
    assert fast is not None and fast.is_new
    assert retried is not None and not retried.is_new
    assert retried.incident_id == fast.incident_id
    assert len(incidents.list()) == 1


def test_a_recall_is_recorded_on_its_sighting_even_when_it_comes_before_the_scan(
    client: redis.Redis, settings: BotSettings, scanner: Scanner
) -> None:
    incidents = Incidents(client, settings)
    scanned = report(scanner, MARKED)
    event = incidents.record(client, scan_job(MARKED, "m1", "room-a"), scanned)
    assert event is not None
    assert incidents.record_recall("test:m1", at=1000.0) == event.incident_id
    incident = incidents.get(event.incident_id)
    assert incident is not None and incident.recall_status == "all"
    assert incident.sightings[0].recalled_at == 1000.0

    assert incidents.record_recall("test:m2", at=2000.0) is None  # not scanned yet
    incidents.record(client, scan_job(MARKED, "m2", "room-b"), scanned)
    incidents.record(client, scan_job(MARKED, "m3", "room-c"), scanned)
    incident = incidents.get(event.incident_id)
    assert incident is not None
    assert [s.recalled_at for s in incident.sightings] == [1000.0, 2000.0, None]
    assert incident.recall_status == "partial"
    assert incidents.record_recall("test:unknown") is None


def test_status_changes_are_audited_and_move_the_incident_between_lists(
    client: redis.Redis, settings: BotSettings, scanner: Scanner
) -> None:
    incidents = Incidents(client, settings)
    event = incidents.record(client, scan_job(MARKED, "m1"), report(scanner, MARKED))
    assert event is not None
    changed = incidents.set_status(event.incident_id, FALSE_POSITIVE, "wxid_officer", "公开文件")
    assert changed.status == FALSE_POSITIVE
    incidents.set_status(event.incident_id, FALSE_POSITIVE, "wxid_officer")  # no change
    final = incidents.set_status(event.incident_id, CONFIRMED, "wxid_admin")
    assert [(e.action, e.old, e.new, e.actor) for e in final.audit] == [
        ("opened", "", OPEN, "leaksentry"),
        ("status", OPEN, FALSE_POSITIVE, "wxid_officer"),
        ("status", FALSE_POSITIVE, CONFIRMED, "wxid_admin"),
    ]
    assert final.audit[1].note == "公开文件"
    assert incidents.list(status=OPEN) == []
    assert [i.incident_id for i in incidents.list(status=CONFIRMED)] == [event.incident_id]
    with pytest.raises(UnknownIncident):
        incidents.set_status("ZZZZZZ", CONFIRMED, "wxid_admin")
    with pytest.raises(ValueError, match="unknown status"):
        incidents.set_status(event.incident_id, "deleted", "wxid_admin")


def test_list_filters_newest_first_with_paging(
    client: redis.Redis, settings: BotSettings, scanner: Scanner
) -> None:
    incidents = Incidents(client, settings)
    texts = [f"机密★1年\n第{i}号通知".encode() for i in range(5)]
    ids = []
    for i, data in enumerate(texts):
        room = "room-a" if i % 2 == 0 else "room-b"
        event = incidents.record(
            client, scan_job(data, f"m{i}", room, at=1000.0 + i), report(scanner, data)
        )
        assert event is not None
        ids.append(event.incident_id)
    medium = incidents.record(
        client, scan_job(OTHER_MARKED, "x", "room-a", at=999.0), report(scanner, OTHER_MARKED)
    )
    assert medium is not None
    listed = [i.incident_id for i in incidents.list()]
    assert listed == [*reversed(ids), medium.incident_id]
    assert [i.incident_id for i in incidents.list(offset=1, limit=2)] == [ids[3], ids[2]]
    assert [i.incident_id for i in incidents.list(room="room-a")] == [
        ids[4],
        ids[2],
        ids[0],
        medium.incident_id,
    ]
    assert [i.incident_id for i in incidents.list(since=1001.0, until=1003.0)] == [
        ids[3],
        ids[2],
        ids[1],
    ]
    both = incidents.list(room="room-a", status=OPEN, since=1000.5, limit=1)
    assert [i.incident_id for i in both] == [ids[4]]
    verdict = incidents.get(medium.incident_id)
    assert verdict is not None
    assert [i.incident_id for i in incidents.list(verdict=verdict.verdict, room="room-a")][
        -1
    ] == medium.incident_id


def test_incidents_expire_after_the_evidence_retention_and_prune_cleans_the_lists(
    client: redis.Redis, settings: BotSettings, scanner: Scanner
) -> None:
    one_second = 1 / 86400
    short = settings.model_copy(
        update={"retention": settings.retention.model_copy(update={"evidence_days": one_second})}
    )
    incidents = Incidents(client, short)
    event = incidents.record(client, scan_job(MARKED, "m1"), report(scanner, MARKED))
    assert event is not None
    assert 0 < client.pttl(keys.INCIDENT + event.incident_id) <= 1000
    assert incidents.list() != []
    time.sleep(1.2)
    assert incidents.get(event.incident_id) is None
    assert incidents.list() == []
    assert incidents.prune() >= 3  # all, verdict, status and room indexes
    assert list(client.scan_iter(match=keys.INCIDENT_INDEX + "*")) == []


def test_ids_are_short_unambiguous_and_unique() -> None:
    ids = [encode_id(n) for n in range(1, 200_001)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 6 and set(i) <= set(ID_ALPHABET) for i in ids[:1000])
    assert not set("IO01") & set(ID_ALPHABET)
    assert ids[1][:3] != ids[0][:3] or ids[1][3:] != ids[0][3:]
    assert normalize_id(f"  {ids[0].lower()} ") == ids[0]
    assert normalize_id("A7K3Q") is None
    assert normalize_id("A7K3Q0") is None
