"""ZIP, 7z and RAR archives: every member is scanned as a file of its own.

One walk serves the three formats: members are screened first (junk, unsafe paths, passwords,
declared sizes), then inflated one at a time (7z: a few at a time, as solid blocks must be
decompressed from their start) with the tree's caps counted before each. A member that fails
is a warning against that member; only a tree-wide cap stops the archive.

RAR: the headers are read by `rarfile`; stored members are read directly, compressed ones are
decompressed by `bsdtar` (Debian package libarchive-tools), which reads RAR 4 and RAR 5.
"""

from __future__ import annotations

import io
import lzma
import os
import re
import shutil
import subprocess
import tempfile
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol, cast

import py7zr
import py7zr.exceptions
import rarfile
from py7zr.io import Py7zIO, WriterFactory

from detectors.errors import (
    CorruptFile,
    EncryptedContent,
    LimitExceeded,
    ScanError,
    UnsupportedFormat,
)
from detectors.extract.base import BOMB, UNSAFE_PATH, ExtractContext
from detectors.extract.common import MIB, join_source
from detectors.extract.members import extract_member
from detectors.extract.zipread import CHUNK, bounded_read, check_declared, is_encrypted, open_zip
from detectors.model import Page

JUNK_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})
JUNK_FOLDERS = frozenset({"__macosx"})
SEVENZIP_BATCH_BYTES = 64 * MIB
"""7z members are inflated in batches of about this many declared bytes (bounded memory)."""
TOOL_TIMEOUT_S = 120
RAR_LOCKED = "RAR archive is password-protected (file names too)"
_AES_7Z = b"\x06\xf1\x07\x01"
_RAR_STORED = 0x30
_DRIVE = re.compile(r"^[A-Za-z]:")
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


@dataclass(frozen=True)
class Entry:
    """One archive member as its headers describe it."""

    name: str
    size: int
    packed: int | None
    encrypted: bool = False
    skip: bool = False
    """Directories, links and other non-files."""
    ref: object = None
    """The format's own record of the member (ZipInfo, RarInfo)."""


Contents = Iterator[tuple[Entry, bytes | ScanError]]


class _Format(Protocol):
    def entries(self) -> list[Entry]: ...

    def contents(self, wanted: list[Entry]) -> Contents: ...


def extract_zip(data: bytes, name: str, ctx: ExtractContext) -> Iterator[Page]:
    with open_zip(data) as archive:
        yield from _walk(name, _Zip(archive, ctx), ctx)


def extract_7z(data: bytes, name: str, ctx: ExtractContext) -> Iterator[Page]:
    with _open_7z(data) as archive:
        yield from _walk(name, _SevenZip(archive, ctx), ctx)


def extract_rar(data: bytes, name: str, ctx: ExtractContext) -> Iterator[Page]:
    with _open_rar(data) as archive:
        yield from _walk(name, _Rar(archive, data, ctx), ctx)


def _walk(archive_name: str, fmt: _Format, ctx: ExtractContext) -> Iterator[Page]:
    wanted = [entry for entry in fmt.entries() if _admit(entry, archive_name, ctx)]
    for entry, content in fmt.contents(wanted):
        source = join_source(archive_name, entry.name)
        if isinstance(content, EncryptedContent):
            ctx.encrypted(source)
        elif isinstance(content, ScanError):
            ctx.skipped(source, content)
        else:
            yield from extract_member(content, source, ctx)


def _admit(entry: Entry, archive_name: str, ctx: ExtractContext) -> bool:
    """Whether to inflate the member; what is refused and why goes to the tally."""
    if entry.skip or is_junk(entry.name):
        return False
    source = join_source(archive_name, entry.name)
    if not is_safe_path(entry.name):
        ctx.skipped(source, "unsafe path: skipped (absolute, drive letter or '..')", UNSAFE_PATH)
        return False
    if entry.encrypted:
        ctx.encrypted(source)
        return False
    try:
        check_declared(entry.size, entry.packed, ctx)
    except LimitExceeded as exc:
        ctx.skipped(source, exc)
        return False
    return True


def is_junk(name: str) -> bool:
    """OS droppings that carry no document: Finder metadata, thumbnail caches."""
    parts = [p.lower() for p in name.replace("\\", "/").split("/") if p]
    if not parts:
        return True
    return bool(JUNK_FOLDERS & set(parts)) or parts[-1] in JUNK_NAMES or parts[-1].startswith("._")


def is_safe_path(name: str) -> bool:
    """Relative, without '..', drive letters or NULs (a zip-slip name is a warning sign)."""
    path = name.replace("\\", "/")
    if not path or path.startswith("/") or _DRIVE.match(path) or "\x00" in path:
        return False
    return ".." not in path.split("/")


# ZIP


class _Zip:
    def __init__(self, archive: zipfile.ZipFile, ctx: ExtractContext) -> None:
        self.archive = archive
        self.ctx = ctx

    def entries(self) -> list[Entry]:
        return [
            Entry(
                name=_zip_name(info),
                size=info.file_size,
                packed=info.compress_size,
                encrypted=is_encrypted(info),
                skip=info.is_dir(),
                ref=info,
            )
            for info in self.archive.infolist()
        ]

    def contents(self, wanted: list[Entry]) -> Contents:
        for entry in wanted:
            self.ctx.count_unpacked(entry.size)
            info = cast(zipfile.ZipInfo, entry.ref)
            try:
                yield entry, bounded_read(self.archive, info, entry.size)
            except ScanError as exc:
                yield entry, exc


def _zip_name(info: zipfile.ZipInfo) -> str:
    """The member name; Chinese Windows writes GBK names without the UTF-8 flag."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        raw = info.filename.encode("cp437")  # how zipfile decoded the unflagged bytes
    except UnicodeEncodeError:
        return info.filename
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.filename


# 7z


def _open_7z(data: bytes) -> py7zr.SevenZipFile:
    try:
        return py7zr.SevenZipFile(io.BytesIO(data))
    except py7zr.exceptions.PasswordRequired as exc:
        raise EncryptedContent("7z archive is password-protected (file names too)") from exc
    except (py7zr.exceptions.ArchiveError, lzma.LZMAError, EOFError, OSError, ValueError) as exc:
        raise CorruptFile(f"7z archive is truncated or damaged ({exc})") from exc


class _SevenZip:
    def __init__(self, archive: py7zr.SevenZipFile, ctx: ExtractContext) -> None:
        self.archive = archive
        self.ctx = ctx

    def entries(self) -> list[Entry]:
        encrypted = {f.filename: _aes_folder(f) for f in self.archive.files}
        return [
            Entry(
                name=info.filename,
                size=info.uncompressed or 0,
                packed=info.compressed,
                encrypted=encrypted.get(info.filename, False),
                skip=info.is_directory or info.is_symlink,
            )
            for info in self.archive.list()
        ]

    def contents(self, wanted: list[Entry]) -> Contents:
        batch: list[Entry] = []
        for entry in wanted:
            batch.append(entry)
            if sum(e.size for e in batch) >= SEVENZIP_BATCH_BYTES:
                yield from self._inflate(batch)
                batch = []
        if batch:
            yield from self._inflate(batch)

    def _inflate(self, batch: list[Entry]) -> Contents:
        for entry in batch:
            self.ctx.count_unpacked(entry.size)
        factory = _BoundedFactory({entry.name: entry.size for entry in batch})
        try:
            self.archive.reset()
            self.archive.extract(targets=[entry.name for entry in batch], factory=factory)
        except ScanError as exc:
            yield from ((entry, exc) for entry in batch)
            return
        except py7zr.exceptions.UnsupportedCompressionMethodError as exc:
            yield from ((entry, UnsupportedFormat(f"7z method ({exc})")) for entry in batch)
            return
        except (py7zr.exceptions.ArchiveError, lzma.LZMAError, zlib.error, EOFError) as exc:
            damaged = CorruptFile(f"compressed data is damaged ({exc})")
            yield from ((entry, damaged) for entry in batch)
            return
        for entry in batch:
            product = factory.products.get(entry.name)
            yield entry, product.getvalue() if product else CorruptFile("member data is missing")


def _aes_folder(member: object) -> bool:
    folder = getattr(member, "folder", None)
    coders = getattr(folder, "coders", None) or []
    return any(coder.get("method") == _AES_7Z for coder in coders)


class _BoundedIO(Py7zIO):
    """A member's bytes in memory, refusing to grow past what its header declared."""

    def __init__(self, cap: int) -> None:
        self.buffer = io.BytesIO()
        self.cap = cap

    def write(self, s: bytes | bytearray) -> int:
        if self.buffer.tell() + len(s) > self.cap:
            raise LimitExceeded(
                f"possible zip bomb: member inflates past its {self.cap:,} bytes", BOMB
            )
        return self.buffer.write(s)

    def read(self, size: int | None = None) -> bytes:
        return self.buffer.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.buffer.seek(offset, whence)

    def flush(self) -> None:
        return None

    def size(self) -> int:
        return self.buffer.getbuffer().nbytes

    def getvalue(self) -> bytes:
        return self.buffer.getvalue()


class _BoundedFactory(WriterFactory):
    def __init__(self, caps: dict[str, int]) -> None:
        self.caps = caps
        self.products: dict[str, _BoundedIO] = {}

    def create(self, filename: str) -> Py7zIO:
        product = _BoundedIO(self.caps.get(filename, 0))
        self.products[filename] = product
        return product


# RAR


def _open_rar(data: bytes) -> rarfile.RarFile:
    try:
        archive = rarfile.RarFile(io.BytesIO(data))
    except rarfile.PasswordRequired as exc:
        raise EncryptedContent(RAR_LOCKED) from exc
    except rarfile.NeedFirstVolume as exc:
        raise UnsupportedFormat("a later part of a multi-volume RAR archive") from exc
    except (rarfile.Error, EOFError, OSError, ValueError) as exc:
        raise CorruptFile(f"RAR archive is truncated or damaged ({exc})") from exc
    if archive.needs_password() and not archive.infolist():
        # Encrypted headers: rarfile lists nothing rather than failing.
        archive.close()
        raise EncryptedContent(RAR_LOCKED)
    return archive


class _Rar:
    def __init__(self, archive: rarfile.RarFile, data: bytes, ctx: ExtractContext) -> None:
        self.archive = archive
        self.data = data
        self.ctx = ctx

    def entries(self) -> list[Entry]:
        return [
            Entry(
                name=info.filename,
                size=info.file_size,
                packed=info.compress_size,
                encrypted=info.needs_password(),
                skip=info.is_dir() or info.is_symlink() or bool(getattr(info, "file_redir", None)),
                ref=info,
            )
            for info in self.archive.infolist()
        ]

    def contents(self, wanted: list[Entry]) -> Contents:
        # bsdtar needs the archive as a file; it lives in a private folder until we are done.
        with tempfile.TemporaryDirectory(prefix="leaksentry-rar-") as folder:
            path: Path | None = None
            for entry in wanted:
                self.ctx.count_unpacked(entry.size)
                info = entry.ref
                try:
                    if getattr(info, "compress_type", None) == _RAR_STORED:
                        yield entry, self._read_stored(info, entry.size)
                        continue
                    if path is None:
                        path = Path(folder, "archive.rar")
                        path.write_bytes(self.data)
                    yield entry, bsdtar_read(path, entry.name, entry.size)
                except ScanError as exc:
                    yield entry, exc

    def _read_stored(self, info: object, cap: int) -> bytes:
        try:
            with self.archive.open(info) as stream:
                return _bounded(stream.read, cap)
        except rarfile.Error as exc:
            raise CorruptFile(f"stored data is damaged ({exc})") from exc


def bsdtar_read(archive: Path, member: str, cap: int) -> bytes:
    """One member's bytes from `bsdtar -xOf`, killed if it writes more than `cap`."""
    tool = shutil.which("bsdtar")
    if tool is None:
        raise UnsupportedFormat("compressed RAR needs bsdtar (package libarchive-tools)")
    pattern = _GLOB_SPECIAL.sub(r"\\\1", member)  # bsdtar takes names as patterns
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            [tool, "-x", "-O", "-f", str(archive), "--", pattern],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
            env=env,
        )
        watchdog = threading.Timer(TOOL_TIMEOUT_S, process.kill)
        watchdog.start()
        try:
            data = _bounded(cast(IO[bytes], process.stdout).read, cap)
        except LimitExceeded:
            process.kill()
            raise
        finally:
            watchdog.cancel()
            if process.stdout:
                process.stdout.close()
            code = process.wait()
        if code != 0:
            errors.seek(0)
            reason = errors.read(500).decode("utf-8", "replace").strip() or f"exit code {code}"
            raise CorruptFile(f"RAR member cannot be decompressed ({reason})")
    return data


def _bounded(read: Callable[[int], bytes], cap: int) -> bytes:
    out = bytearray()
    while chunk := read(CHUNK):
        out += chunk
        if len(out) > cap:
            raise LimitExceeded(f"possible zip bomb: member inflates past its {cap:,} bytes", BOMB)
    return bytes(out)
