"""What a file is, by its content: WeChat renames files freely, so extensions are not trusted.

The name is only a tie-breaker: text vs. unknown, and Kingsoft `.wps` vs. Word `.doc` (the two
are the same binary format).
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile

import olefile

from detectors.extract.text import SAMPLE_BYTES, looks_binary, sniff_encoding

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
RAR_MAGICS = (b"Rar!\x1a\x07\x00", b"Rar!\x1a\x07\x01\x00")
SEVENZIP_MAGIC = b"7z\xbc\xaf\x27\x1c"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
TEXT_EXTENSIONS = frozenset({".txt", ".csv", ".md", ".markdown", ".log", ".tsv", ".json", ".xml"})

IMAGE_KINDS = frozenset({"jpeg", "png", "webp", "gif", "bmp", "tiff", "heic"})
OOXML_KINDS = frozenset({"docx", "xlsx", "pptx"})
OLE_KINDS = frozenset({"doc", "wps", "xls", "ppt", "office-encrypted", "ole"})

_BMP_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})
# Member names that tell an Office or OFD package from a plain ZIP.
_PACKAGE_MARKERS: tuple[tuple[str, str], ...] = (
    ("word/document.xml", "docx"),
    ("xl/workbook.xml", "xlsx"),
    ("ppt/presentation.xml", "pptx"),
    ("ofd.xml", "ofd"),
)
_LOCAL_NAME = re.compile(rb"PK\x03\x04.{22}(..)..", re.DOTALL)


def extension(name: str) -> str:
    return posixpath.splitext(name.lower())[1]


def sniff(data: bytes, name: str) -> str:
    """The media kind of `data`: jpeg, png, …, pdf, docx, …, zip, 7z, rar, text or unknown."""
    kind = _sniff_image(data) or _sniff_container(data)
    if kind == "zip":
        return _refine_zip(data)
    if kind == "ole":
        return _refine_ole(data, name)
    if kind:
        return kind
    if sniff_encoding(data) is not None:
        return "text"
    if extension(name) in TEXT_EXTENSIONS and not looks_binary(data[:SAMPLE_BYTES]):
        return "text"  # the text reader says what is wrong with its encoding
    return "unknown"


def _sniff_image(data: bytes) -> str | None:
    head = data[:32]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "tiff"
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return "heic"
    # "BM" alone is too weak (a text file may start with it): check the DIB header size too.
    if head.startswith(b"BM") and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        return "bmp"
    return None


def _sniff_container(data: bytes) -> str | None:
    head = data[:8]
    if head.startswith(ZIP_MAGICS):
        return "zip"
    if head.startswith(OLE_MAGIC):
        return "ole"
    if head.startswith(SEVENZIP_MAGIC):
        return "7z"
    if head.startswith(RAR_MAGICS):
        return "rar"
    # PDF allows junk before the header; readers look in the first kilobyte.
    if b"%PDF-" in data[:1024]:
        return "pdf"
    return None


def _refine_zip(data: bytes) -> str:
    """docx / xlsx / pptx / ofd by member names, else zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = {n.lower() for n in archive.namelist()}
    except Exception:  # sniffing never fails; damage is the reader's to report
        # A truncated file has no central directory: read the local headers' names instead.
        names = _local_header_names(data[: 256 * 1024])
    for marker, kind in _PACKAGE_MARKERS:
        if marker in names:
            return kind
    return "zip"


def _local_header_names(head: bytes) -> set[str]:
    names: set[str] = set()
    for match in _LOCAL_NAME.finditer(head):
        size = int.from_bytes(match.group(1), "little")
        start = match.end()
        names.add(head[start : start + size].decode("utf-8", "replace").lower())
    return names


def _refine_ole(data: bytes, name: str) -> str:
    """doc / wps / xls / ppt / office-encrypted by stream names, else ole."""
    try:
        streams = ole_stream_names(data)
    except Exception:  # sniffing never fails; the OLE reader reports the damage
        return "ole"
    if "encryptioninfo" in streams or "encryptedpackage" in streams:
        return "office-encrypted"
    if "worddocument" in streams:
        return "wps" if extension(name) == ".wps" else "doc"
    if "workbook" in streams or "book" in streams:
        return "xls"
    if "powerpoint document" in streams:
        return "ppt"
    return "ole"


def ole_stream_names(data: bytes) -> set[str]:
    """Lower-case stream paths of an OLE compound file ("worddocument", "0table", …)."""
    # Always a file object: olefile takes short `bytes` for a file name.
    with olefile.OleFileIO(io.BytesIO(data)) as ole:
        return {"/".join(path).lower() for path in ole.listdir(streams=True)}
