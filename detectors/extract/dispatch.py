"""From bytes to pages: refuse what is too big or empty, sniff the kind, call its reader."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from detectors.errors import CorruptFile, LimitExceeded, ScanError, UnsupportedFormat
from detectors.extract.archive import extract_7z, extract_rar, extract_zip
from detectors.extract.base import ExtractContext
from detectors.extract.images import extract_image
from detectors.extract.ofd import extract_ofd
from detectors.extract.ole import extract_ole
from detectors.extract.ooxml import extract_ooxml
from detectors.extract.pdf import extract_pdf
from detectors.extract.sniff import IMAGE_KINDS, OLE_KINDS, OOXML_KINDS, sniff
from detectors.extract.text import UNKNOWN_BINARY, extract_text
from detectors.model import Page

Reader = Callable[[bytes, str, ExtractContext], Iterator[Page]]

READERS: dict[str, Reader] = {
    **dict.fromkeys(IMAGE_KINDS, extract_image),
    **dict.fromkeys(OOXML_KINDS, extract_ooxml),
    **dict.fromkeys(OLE_KINDS, extract_ole),
    "pdf": extract_pdf,
    "ofd": extract_ofd,
    "zip": extract_zip,
    "7z": extract_7z,
    "rar": extract_rar,
    "text": extract_text,
}

LABELS = {
    "jpeg": "JPEG image",
    "png": "PNG image",
    "webp": "WebP image",
    "gif": "GIF image",
    "bmp": "BMP image",
    "tiff": "TIFF image",
    "heic": "HEIC image",
    "pdf": "PDF",
    "docx": "Word document",
    "xlsx": "Excel workbook",
    "pptx": "PowerPoint presentation",
    "doc": "Word document",
    "wps": "WPS document",
    "xls": "Excel workbook",
    "ofd": "OFD document",
    "zip": "ZIP archive",
    "7z": "7z archive",
    "rar": "RAR archive",
    "text": "text file",
}


def media_kind(data: bytes, name: str) -> str:
    """The kind of file for the report ("jpeg", "docx", "ofd", "zip", "unknown", …)."""
    if not data:
        return "empty"
    try:
        return sniff(data, name)
    except Exception:  # the report's label must never fail a scan
        return "unknown"


def extract_pages(data: bytes, name: str, ctx: ExtractContext) -> Iterator[Page]:
    """The pages of one file, by its content. Size and emptiness are checked at once.

    Raises a `ScanError` for a problem with the whole input (at the call, or while iterating);
    problems with members of containers are recorded in `ctx.tally` instead.
    """
    cap = ctx.limits.max_file_bytes
    if len(data) > cap:
        raise LimitExceeded(f"file of {len(data):,} bytes exceeds the {cap:,} byte cap")
    if not data:
        raise CorruptFile("empty file")
    kind = sniff(data, name)
    reader = READERS.get(kind)
    if reader is None:
        raise UnsupportedFormat(UNKNOWN_BINARY)
    return _guarded(reader, data, name, ctx, LABELS.get(kind, kind))


def _guarded(
    reader: Reader, data: bytes, name: str, ctx: ExtractContext, label: str
) -> Iterator[Page]:
    """The reader's pages; a library failing on hostile input becomes a readable error."""
    try:
        yield from reader(data, name, ctx)
    except ScanError:
        raise
    except MemoryError as exc:
        raise LimitExceeded(f"{label} needs more memory than allowed to read") from exc
    except RecursionError as exc:
        raise CorruptFile(f"{label} is nested too deeply to read") from exc
    except Exception as exc:  # libraries raise anything on damaged input
        raise CorruptFile(f"{label} is damaged ({type(exc).__name__}: {exc})") from exc
