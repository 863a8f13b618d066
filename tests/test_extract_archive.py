"""Archives: members scanned with their paths, and every kind of hostile archive."""

from __future__ import annotations

import io
import struct
import time
import zipfile
import zlib
from pathlib import Path

import py7zr
import pytest
from test_extract_builders import all_text, content_pages, rar4_stored, run, zip_bytes

from detectors.errors import EncryptedContent, LimitExceeded
from detectors.extract.archive import bsdtar_read

SECRET = "机密★1年\n关于检查的通知".encode()


def encrypt_flag(data: bytes, name: bytes) -> bytes:
    """Set the 'encrypted' flag of one member (zipfile cannot write encrypted archives)."""
    out = bytearray(data)
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = out.find(signature)
        while pos >= 0:
            name_at = pos + (30 if signature == b"PK\x03\x04" else 46)
            if out[name_at : name_at + len(name)] == name:
                out[pos + flag_at] |= 0x01
            pos = out.find(signature, pos + 4)
    return bytes(out)


def test_zip_members_are_scanned_with_their_paths() -> None:
    data = zip_bytes(
        [
            ("docs/", b""),
            ("docs/notice.txt", SECRET),
            ("__MACOSX/docs/._notice.txt", b"\0\x05\x16\x07junk"),
            ("docs/.DS_Store", b"\0\0\0\1Bud1"),
            ("Thumbs.db", b"\xd0\xcf\x11\xe0junk"),
        ]
    )
    pages, ctx = run(data, "outer.zip")
    assert [(p.source, p.number) for p in pages] == [("outer.zip/docs/notice.txt", 1)]
    assert pages[0].lines[0].text == "机密★1年"
    assert ctx.tally.warnings == [] and ctx.tally.members == 1


def test_gbk_member_names_without_the_utf8_flag() -> None:
    placeholder = b"abcd.txt"
    data = zip_bytes([(placeholder.decode(), SECRET)], method=zipfile.ZIP_STORED)
    data = data.replace(placeholder, "机密.txt".encode("gbk"))  # same length: 8 bytes
    pages, _ = run(data, "gbk.zip")
    assert pages[0].source == "gbk.zip/机密.txt"


def test_encrypted_member_is_reported_and_others_go_on() -> None:
    data = encrypt_flag(zip_bytes([("secret.txt", SECRET), ("open.txt", b"hello")]), b"secret.txt")
    pages, ctx = run(data, "mixed.zip")
    assert ctx.tally.encrypted_sources == ["mixed.zip/secret.txt"]
    assert [p.source for p in pages] == ["mixed.zip/open.txt"]


def test_failing_member_is_a_warning() -> None:
    data = zip_bytes([("broken.pdf", b"%PDF-1.7\n garbage"), ("ok.txt", SECRET)])
    pages, ctx = run(data, "mixed.zip")
    assert [p.source for p in pages] == ["mixed.zip/ok.txt"]
    (warning,) = ctx.tally.warnings
    assert warning.startswith("mixed.zip/broken.pdf: corrupt:")


def test_nesting_deeper_than_the_cap_is_a_warning() -> None:
    data = zip_bytes([("deepest.txt", SECRET)])
    for level in range(4):  # deepest.txt ends up inside four nested zips
        data = zip_bytes(
            [(f"level{level}.zip", data), (f"note{level}.txt", f"第{level}层".encode())]
        )
    pages, ctx = run(data, "outer.zip")
    assert [p.source for p in pages] == [
        "outer.zip/level3.zip/level2.zip/note1.txt",
        "outer.zip/level3.zip/note2.txt",
        "outer.zip/note3.txt",
    ]
    assert ctx.tally.warnings == [
        "outer.zip/level3.zip/level2.zip/level1.zip/level0.zip: "
        "limit: containers nested deeper than 3",
        "outer.zip/level3.zip/level2.zip/level1.zip/note0.txt: "
        "limit: containers nested deeper than 3",
    ]


def test_zip_bomb_member_is_never_inflated() -> None:
    # 300 MB of zeros deflate to ~300 KB; written streaming, so the test stays fast.
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("zeros.bin", "w", force_zip64=True) as member:
            block = bytes(1 << 20)
            for _ in range(300):
                member.write(block)
        archive.writestr("ok.txt", SECRET)
    started = time.perf_counter()
    pages, ctx = run(out.getvalue(), "bomb.zip")
    assert time.perf_counter() - started < 1.0
    assert [p.source for p in pages] == ["bomb.zip/ok.txt"]
    (warning,) = ctx.tally.warnings
    assert "bomb.zip/zeros.bin: limit: possible zip bomb" in warning
    assert ctx.tally.bytes_unpacked < 1000


def test_compression_ratio_cap() -> None:
    data = zip_bytes([("blank.txt", b" " * (3 << 20)), ("ok.txt", SECRET)])
    pages, ctx = run(data, "ratio.zip")
    assert [p.source for p in pages] == ["ratio.zip/ok.txt"]
    assert "possible zip bomb: member expands" in ctx.tally.warnings[0]


def test_total_size_cap_stops_the_archive() -> None:
    data = zip_bytes([(f"part{i}.txt", SECRET * 100) for i in range(5)])
    with pytest.raises(LimitExceeded, match="archive expands past 5,000 bytes"):
        run(data, "many.zip", max_archive_total_bytes=5000)


def test_member_count_cap_stops_the_archive() -> None:
    data = zip_bytes([(f"part{i}.txt", SECRET) for i in range(10)])
    with pytest.raises(LimitExceeded, match="more than 3 files"):
        run(data, "many.zip", max_archive_members=3)


def test_unsafe_paths_are_skipped() -> None:
    data = zip_bytes([("../evil.txt", SECRET), ("C:/win.txt", SECRET), ("ok.txt", b"fine")])
    pages, ctx = run(data, "slip.zip")
    assert [p.source for p in pages] == ["slip.zip/ok.txt"]
    assert [w.split(": ", 1)[0] for w in ctx.tally.warnings] == [
        "slip.zip/../evil.txt",
        "slip.zip/C:/win.txt",
    ]
    assert all("unsafe path" in w for w in ctx.tally.warnings)


def test_page_cap_spans_the_whole_archive() -> None:
    data = zip_bytes([(f"n{i}.txt", SECRET) for i in range(5)])
    pages, ctx = run(data, "many.zip", max_pages=2)
    assert len(pages) == 2 and ctx.tally.pages_skipped == 3


# 7z


def sevenzip(members: dict[str, bytes], **options: object) -> bytes:
    out = io.BytesIO()
    with py7zr.SevenZipFile(out, "w", **options) as archive:  # type: ignore[arg-type]
        for name, data in members.items():
            archive.writestr(data, name)
    return out.getvalue()


def test_7z_members() -> None:
    data = sevenzip({"docs/notice.txt": SECRET, "b.txt": b"plain text"})
    pages, _ = run(data, "x.7z")
    assert sorted(p.source for p in pages) == ["x.7z/b.txt", "x.7z/docs/notice.txt"]
    assert "机密★1年" in all_text(pages)


def test_7z_with_encrypted_content_reports_each_member() -> None:
    data = sevenzip({"a.txt": SECRET, "b.txt": SECRET}, password="pw")
    pages, ctx = run(data, "locked.7z")
    assert pages == [] and sorted(ctx.tally.encrypted_sources) == [
        "locked.7z/a.txt",
        "locked.7z/b.txt",
    ]


def test_7z_with_encrypted_headers_is_encrypted_as_a_whole() -> None:
    data = sevenzip({"a.txt": SECRET}, password="pw", header_encryption=True)
    with pytest.raises(EncryptedContent, match="7z archive is password-protected"):
        run(data, "locked.7z")


def test_7z_extraction_writes_nothing_to_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run(sevenzip({"dir/a.txt": SECRET}), "x.7z")
    assert list(tmp_path.iterdir()) == []


# RAR (hand-written RAR 4 archives with stored members: see `rar4_stored`)


def test_rar_stored_members_and_encrypted_flag() -> None:
    data = rar4_stored(
        [("公文/notice.txt", SECRET), ("locked.txt", b"x"), ("../evil.txt", b"y")],
        encrypted=("locked.txt",),
    )
    pages, ctx = run(data, "x.rar")
    assert [p.source for p in content_pages(pages)] == ["x.rar/公文/notice.txt"]
    assert ctx.tally.encrypted_sources == ["x.rar/locked.txt"]
    assert "x.rar/../evil.txt: unsafe path" in ctx.tally.warnings[0]


def test_rar_with_encrypted_headers_is_encrypted_as_a_whole() -> None:
    data = bytearray(rar4_stored([("a.txt", SECRET)]))
    struct.pack_into("<H", data, 10, 0x0080)  # main header flag: headers are encrypted
    struct.pack_into("<H", data, 7, zlib.crc32(data[9:20]) & 0xFFFF)
    with pytest.raises(EncryptedContent, match="RAR archive is password-protected"):
        run(bytes(data), "locked.rar")


def test_bsdtar_reads_members_by_exact_name(tmp_path: Path) -> None:
    archive = tmp_path / "a.rar"
    archive.write_bytes(rar4_stored([("a[1]*.txt", SECRET), ("a1x.txt", b"other")]))
    assert bsdtar_read(archive, "a[1]*.txt", len(SECRET)) == SECRET
    with pytest.raises(LimitExceeded, match="possible zip bomb"):
        bsdtar_read(archive, "a[1]*.txt", 10)
