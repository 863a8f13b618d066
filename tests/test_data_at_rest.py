"""Data at rest: a posted photo is nowhere readable in Redis's files, the embedded Redis refuses
a client without the password and listens on loopback only, files are 0600 in 0700 folders,
"findings only" keeps no picture, and `registry remove` leaves no thumbnail.

Real parts: the embedded valkey-server (its append-only and RDB files read back from disk),
the sandbox chat, the intake, a worker scanning with real OCR, the registry.
"""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import psutil
import pytest
import redis
from PIL import Image

from bot import keys
from bot.blobs import Blobs, blob_key
from bot.connectors.base import MessageKind
from bot.connectors.sandbox import DEMO_MEMBER, DEMO_OFFICER, DEMO_OWNER, SandboxConnector
from bot.registry import Registry
from bot.sealing import KEY_FILE, Sealer, SealError, decode_key, new_key_text
from bot.service import BotService
from bot.settings import BotSettings, load_bot_settings
from bot.spool import Spool
from bot.templates import load_templates
from bot.web.evidence import EvidencePictures, evidence_views
from bot.worker import Worker
from detectors import ScanConfig, Scanner
from tests.test_worker import marked_page


def jpeg_photo() -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(marked_page())).convert("RGB").save(out, format="JPEG", quality=85)
    return out.getvalue()


def settings_with(**retention: object) -> BotSettings:
    base = load_bot_settings()
    outbox = base.outbox.model_copy(
        update={"min_interval_seconds": 0.0, "messages_per_minute": 100_000}
    )
    return base.model_copy(
        update={
            "officers": (DEMO_OFFICER,),
            "outbox": outbox,
            "retention": base.retention.model_copy(update=retention),
        }
    )


async def post_and_scan(
    client: redis.Redis, settings: BotSettings, config: ScanConfig, photo: bytes
) -> BotService:
    """The photo posted in an enrolled sandbox group and scanned by a worker: an incident."""
    sandbox = SandboxConnector()
    service = BotService(client, settings, sandbox)
    await service.start()
    try:
        await sandbox.post(DEMO_OWNER, text="/enroll")
        await sandbox.post(DEMO_MEMBER, MessageKind.IMAGE, data=photo, filename="IMG_0001.jpg")
        worker = Worker(client, Scanner(config), load_templates(), settings, "rest-worker")
        for delivery in service.queue.read("rest-worker", block_ms=100):
            worker.process(delivery)
    finally:
        await service.stop()
    return service


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


async def test_the_aof_and_rdb_files_hold_no_byte_of_a_posted_photo(
    client: redis.Redis, redis_dir: Path, config: ScanConfig
) -> None:
    photo = jpeg_photo()
    service = await post_and_scan(client, settings_with(), config, photo)
    [incident] = service.incidents.list()
    assert incident.verdict == "critical"
    assert Blobs(client, service.settings).get(incident.sha256) == photo  # the console's view
    client.save()  # an RDB snapshot beside the append-only file
    client.execute_command("BGREWRITEAOF")
    stored = b"".join(p.read_bytes() for p in files_under(redis_dir))
    assert len(stored) > len(photo)  # the sealed copy is in there
    for start in range(0, len(photo) - 32, len(photo) // 50):
        assert photo[start : start + 32] not in stored
    assert photo[:4] == b"\xff\xd8\xff\xe0" and photo[:11] not in stored  # JPEG/JFIF magic


def test_the_embedded_redis_wants_its_password_and_listens_on_loopback(
    client: redis.Redis, redis_dir: Path
) -> None:
    info = json.loads((redis_dir / "server.json").read_text())
    port = int(info["url"].rsplit(":", 1)[1])
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=port).hset(keys.CONSOLE_SESSION + "x", "role", "admin")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=port, password="guess").ping()
    assert client.ping()
    listening = [
        c.laddr.ip
        for c in psutil.Process(int(info["server_pid"])).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert listening and set(listening) == {"127.0.0.1"}


async def test_data_files_are_0600_in_0700_folders(
    client: redis.Redis, redis_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEAKSENTRY_DATA_DIR", str(tmp_path))
    client.set("ls:probe", "x")
    client.save()
    spool = Spool(tmp_path / "spool", max_bytes=1 << 20, max_items=10)
    Sealer.from_environment()  # creates the data folder's key file
    folders = [redis_dir, *[p for p in redis_dir.rglob("*") if p.is_dir()], tmp_path / "spool"]
    assert {stat.S_IMODE(p.stat().st_mode) for p in folders} == {0o700}
    files = [*files_under(redis_dir), tmp_path / KEY_FILE]
    assert {p.name for p in files} >= {"password", "server.json", "valkey.conf", "dump.rdb"}
    assert any(p.parent.name == "appendonlydir" for p in files)
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {p.name: 0o600 for p in files}
    assert len(spool) == 0


def test_a_spooled_photo_is_sealed_on_disk(tmp_path: Path) -> None:
    from test_spool import message

    photo = jpeg_photo()
    spool = Spool(tmp_path / "spool", max_bytes=1 << 24, max_items=10)
    spool.append(message(1), 1.0, photo)
    [path] = spool.entries()
    raw = path.read_bytes()
    assert photo[:11] not in raw and b"IMG_1.jpg" not in raw and "王小明".encode() not in raw
    read = spool.read(path)
    assert read is not None and read.data == photo


def test_bytes_sealed_with_another_key_are_refused(client: redis.Redis) -> None:
    settings = settings_with()
    mine = Blobs(client, settings, Sealer(decode_key(new_key_text())))
    digest = mine.put(b"evidence bytes")
    other = Blobs(client, settings, Sealer(decode_key(new_key_text())))
    with pytest.raises(SealError):
        other.get(digest)
    assert mine.get(digest) == b"evidence bytes"


async def test_findings_only_keeps_no_picture_past_the_clean_retention(
    client: redis.Redis, config: ScanConfig
) -> None:
    photo = jpeg_photo()
    kept = await post_and_scan(client, settings_with(), config, photo)
    [incident] = kept.incidents.list()
    evidence_ttl = client.ttl(blob_key(incident.sha256))
    assert evidence_ttl > 24 * 3600  # evidence_days

    client.flushall()
    settings = settings_with(evidence_picture=False)
    findings_only = await post_and_scan(client, settings, config, photo)
    [incident] = findings_only.incidents.list()
    assert incident.verdict == "critical" and incident.report["findings"]
    assert 0 < client.ttl(blob_key(incident.sha256)) <= 24 * 3600  # clean_blob_hours


def picture_values(client: redis.Redis) -> list[bytes]:
    return [bytes(client.get(k) or b"") for k in client.scan_iter(keys.EVIDENCE_PICTURE + "*")]


async def test_the_console_pictures_of_evidence_are_sealed(
    client: redis.Redis, config: ScanConfig
) -> None:
    service = await post_and_scan(client, settings_with(), config, jpeg_photo())
    [incident] = service.incidents.list()
    stored = picture_values(client)
    assert stored  # the worker drew them
    for raw in stored:
        assert raw.startswith(b"LSE1")
        assert not raw.startswith((b"\x89PNG", b"\xff\xd8")) and b"IHDR" not in raw[:64]
    pictures = EvidencePictures(client, service.settings)
    [view, *_] = evidence_views(incident.report)
    opened = pictures.get(incident.sha256, view)
    assert opened is not None and opened.startswith(b"\x89PNG")  # the console still reads it
    other_key = EvidencePictures(client, service.settings, Sealer(decode_key(new_key_text())))
    assert other_key.get(incident.sha256, view) is None  # drawn anew, not a crash


async def test_findings_only_draws_and_keeps_no_picture(
    client: redis.Redis, config: ScanConfig
) -> None:
    settings = settings_with(evidence_picture=False)
    service = await post_and_scan(client, settings, config, jpeg_photo())
    [incident] = service.incidents.list()
    assert incident.report["findings"] and picture_values(client) == []
    pictures = EvidencePictures(client, settings)
    [view, *_] = evidence_views(incident.report)
    pictures.put(incident.sha256, view, b"\x89PNG a picture drawn elsewhere")
    assert picture_values(client) == [] and pictures.get(incident.sha256, view) is None


def test_registry_remove_takes_the_console_thumbnail_with_it(
    client: redis.Redis, config: ScanConfig
) -> None:
    registry = Registry(client, config)
    document = registry.register(marked_page(), "notice.png", doc_id="HY-1")
    client.set(keys.CONSOLE_THUMBNAIL + document.doc_id, b"\x89PNG thumbnail")
    assert registry.remove("HY-1")
    assert not [k for k in client.scan_iter() if b"HY-1" in k]
