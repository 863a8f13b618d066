"""An archive that could not be read whole is a finding: real ZIP files, the real scanner, and
once through the whole service (sandbox chat, Redis, a worker) to the officer's DM."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable

import pymupdf
import pytest
import redis
from test_extract_builders import run, zip_bytes

from bot.connectors.base import MessageKind
from bot.connectors.sandbox import DEMO_MEMBER, DEMO_OFFICER, DEMO_OWNER, SandboxConnector
from bot.service import BotService
from bot.settings import load_bot_settings
from bot.templates import load_templates
from bot.worker import Worker
from detectors import ScanConfig, Scanner
from detectors.model import Finding, Verdict

MIB = 1 << 20


def marked_pdf(padding: int = 0) -> bytes:
    """A text PDF with a classification marking top left; `padding` zero bytes after its end
    (a leaked page dressed up as a file that compresses a thousand times; readers skip them)."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_text((72, 80), "机密★1年", fontname="china-s", fontsize=16)
    page.insert_text((110, 160), "关于调整财政预算的通知", fontname="china-s", fontsize=22)
    page.insert_text((72, 220), "各单位：现将有关事项通知如下。", fontname="china-s", fontsize=14)
    data = bytes(doc.tobytes())
    doc.close()
    return data + bytes(padding)


def zero_stream_zip(extra: Iterable[tuple[str, bytes]], zeros_mib: int) -> bytes:
    """A zip of `extra` and `zeros_mib` MiB of zeros, streamed so that the test stays small."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("zeros.bin", "w", force_zip64=True) as member:
            for _ in range(zeros_mib):
                member.write(bytes(MIB))
        for name, data in extra:
            archive.writestr(name, data)
    return out.getvalue()


def nested(data: bytes, name: str, depth: int) -> bytes:
    """`data` as `name` inside `depth` zips, one in the other."""
    for level in range(depth):
        data = zip_bytes([(name, data)])
        name = f"level{level}.zip"
    return data


def incomplete(findings: list[Finding]) -> list[tuple[str, str | None]]:
    return [(f.label, f.member) for f in findings if f.detector == "incomplete"]


@pytest.fixture(scope="module")
def scanner(config: ScanConfig) -> Scanner:
    return Scanner(config)


def test_a_marked_pdf_zipped_alone_is_critical(scanner: Scanner) -> None:
    report = scanner.scan(zip_bytes([("通知.pdf", marked_pdf())]), "a.zip")
    assert report.verdict is Verdict.CRITICAL
    assert incomplete(report.findings) == []


def test_a_marked_pdf_padded_with_30_mb_of_zeros_is_incomplete_and_never_inflated(
    scanner: Scanner,
) -> None:
    data = zip_bytes([("通知.pdf", marked_pdf(padding=30 * MIB))])
    assert len(data) < MIB  # the zeros compress away: the ratio cap refuses the member
    report = scanner.scan(data, "padded.zip")
    assert report.verdict >= Verdict.MEDIUM
    assert incomplete(report.findings) == [("bomb", "padded.zip/通知.pdf")]
    _, ctx = run(data, "padded.zip")
    assert ctx.tally.bytes_unpacked == 0  # refused on its declared sizes, before a byte


def test_a_marked_pdf_beside_a_30_mb_zero_stream_is_read_and_the_stream_reported(
    scanner: Scanner,
) -> None:
    report = scanner.scan(zero_stream_zip([("通知.pdf", marked_pdf())], 30), "beside.zip")
    assert report.verdict is Verdict.CRITICAL  # the PDF itself was scanned
    assert incomplete(report.findings) == [("bomb", "beside.zip/zeros.bin")]


def test_a_marked_pdf_at_depth_4_is_incomplete(scanner: Scanner) -> None:
    report = scanner.scan(nested(marked_pdf(), "通知.pdf", 4), "deep.zip")
    assert report.verdict >= Verdict.MEDIUM
    [(label, member)] = incomplete(report.findings)
    assert label == "too_deep" and member is not None and member.endswith("/通知.pdf")


def test_a_zip_bomb_is_reported_as_a_bomb_and_not_inflated(scanner: Scanner) -> None:
    bomb = zero_stream_zip([], 300)  # 300 MiB of zeros in about 300 KB
    data = zip_bytes([(f"bomb{i}.zip", bomb) for i in range(3)], method=zipfile.ZIP_STORED)
    report = scanner.scan(data, "bombs.zip")
    assert report.verdict >= Verdict.MEDIUM
    assert incomplete(report.findings) == [
        ("bomb", f"bombs.zip/bomb{i}.zip/zeros.bin") for i in range(3)
    ]
    _, ctx = run(data, "bombs.zip")
    assert ctx.tally.bytes_unpacked < 2 * len(data)  # only the outer members were read


def test_a_member_that_lies_about_its_size_is_incomplete(scanner: Scanner) -> None:
    data = bytearray(zip_bytes([("a.txt", b"x" * 50_000)]))
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        pos = data.find(signature)
        data[pos + size_at : pos + size_at + 4] = (1000).to_bytes(4, "little")
    report = scanner.scan(bytes(data), "liar.zip")
    # zipfile stops at the declared 1,000 bytes, and the CRC then fails: a damaged member.
    assert incomplete(report.findings) == [("undecodable", "liar.zip/a.txt")]
    assert report.verdict is Verdict.MEDIUM


def test_a_corrupt_member_is_incomplete_an_unknown_format_is_not(scanner: Scanner) -> None:
    corrupt = scanner.scan(zip_bytes([("broken.pdf", b"%PDF-1.7\n garbage")]), "c.zip")
    assert incomplete(corrupt.findings) == [("undecodable", "c.zip/broken.pdf")]
    assert corrupt.verdict is Verdict.MEDIUM
    audio = scanner.scan(zip_bytes([("voice.amr", b"#!AMR\n" + bytes(range(256)) * 8)]), "v.zip")
    assert incomplete(audio.findings) == [] and audio.verdict is Verdict.CLEAN


def test_a_tree_stopped_by_the_member_cap_is_incomplete(config: ScanConfig) -> None:
    limits = config.scan.limits.model_copy(update={"max_archive_members": 3})
    small = config.model_copy(update={"scan": config.scan.model_copy(update={"limits": limits})})
    data = zip_bytes([(f"n{i}.txt", f"第{i}份材料的内容".encode()) for i in range(6)])
    report = Scanner(small).scan(data, "many.zip")
    assert incomplete(report.findings) == [("too_many", None)]
    assert report.verdict is Verdict.MEDIUM


async def test_a_padded_leak_in_a_zip_opens_an_incident_and_the_officer_is_told(
    client: redis.Redis, config: ScanConfig, scanner: Scanner
) -> None:
    base = load_bot_settings()
    outbox = base.outbox.model_copy(
        update={"min_interval_seconds": 0.0, "messages_per_minute": 100_000}
    )
    settings = base.model_copy(update={"officers": (DEMO_OFFICER,), "outbox": outbox})
    sandbox = SandboxConnector()
    service = BotService(client, settings, sandbox)
    await service.start()
    try:
        await sandbox.post(DEMO_OWNER, text="/enroll")
        data = zip_bytes([("通知.pdf", marked_pdf(padding=30 * MIB))])
        await sandbox.post(DEMO_MEMBER, MessageKind.FILE, data=data, filename="资料.zip")
        worker = Worker(client, scanner, load_templates(), settings, "test-worker")
        for delivery in service.queue.read("test-worker", block_ms=100):
            worker.process(delivery)
        [incident] = service.incidents.list()
        assert incident.verdict == "medium"

        def told() -> bool:
            return any(
                line.from_bot and "压缩包未能完整检查：疑似压缩炸弹" in line.text
                for line in sandbox.direct_messages(DEMO_OFFICER)
            )

        assert await sandbox.wait_for(told, 30)
    finally:
        await service.stop()
