"""Bad input in a batch: each bad file gets a clear error of its own, the rest is scanned."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pymupdf

from tests.corpus import file_item


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a huge canvas: the pixel cap must stop it before decoding."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _pdf(pages: int, password: str | None = None) -> bytes:
    doc = pymupdf.open()
    for _ in range(pages):
        doc.new_page()
    if password:
        return doc.tobytes(
            encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw=password, user_pw=password
        )
    return doc.tobytes()


def test_a_batch_of_hostile_files(tmp_path: Path) -> None:
    marked = tmp_path / "z_marked.docx"
    marked.write_bytes(file_item(5, 11, None)[1])  # a DOCX with a classification marking
    files = {
        "a_empty.jpg": b"",
        "b_truncated.jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" * 3,
        "c_random.pdf": os.urandom(4096),
        "d_pixel_bomb.png": _png_header_only(100_000, 100_000),
        "e_zip_bomb.zip": _zip({"zeros.bin": b"\x00" * 50_000_000, "note.txt": "你好".encode()}),
        "f_traversal.zip": _zip({"../evil.txt": "内部资料".encode(), "ok.txt": b"hello"}),
        "g_5000_pages.pdf": _pdf(5000),
        "h_locked.pdf": _pdf(1, password="secret"),
        "i_image_named.docx": _png_header_only(10, 10),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    with (tmp_path / "j_huge.bin").open("wb") as huge:
        huge.truncate(200 * 1024 * 1024)  # sparse: 200 MB on paper, nothing on disk

    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "scan", "--json", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    reports = {Path(r["source"]).name: r for r in map(json.loads, done.stdout.splitlines())}

    assert done.returncode == 1
    assert reports["a_empty.jpg"]["error"] == "corrupt: empty file"
    assert reports["b_truncated.jpg"]["error"].startswith("corrupt:")
    assert reports["c_random.pdf"]["error"].startswith(("corrupt:", "unsupported:"))
    assert reports["d_pixel_bomb.png"]["error"].startswith("limit:")
    assert "zip bomb" in " ".join(reports["e_zip_bomb.zip"]["warnings"])
    assert reports["e_zip_bomb.zip"]["error"] is None
    assert "unsafe path" in " ".join(reports["f_traversal.zip"]["warnings"])
    assert reports["g_5000_pages.pdf"]["error"].startswith("limit:")
    assert "4,900 more pages" in reports["g_5000_pages.pdf"]["error"]
    locked = reports["h_locked.pdf"]
    assert locked["error"] is None and locked["verdict"] == "medium"
    assert [f["detector"] for f in locked["findings"]] == ["encrypted"]
    assert reports["i_image_named.docx"]["media_type"] == "png"
    assert reports["j_huge.bin"]["error"].startswith("limit:")
    # The rest of the batch went on.
    assert reports["z_marked.docx"]["verdict"] == "critical"
    assert len(reports) == len(files) + 2
