"""Plain text (TXT, CSV, Markdown): UTF-8, UTF-16 with a BOM, or GB18030, in pages of lines."""

from __future__ import annotations

import codecs
from collections.abc import Iterator

from detectors.errors import CorruptFile, UnsupportedFormat
from detectors.extract.base import ExtractContext
from detectors.model import Page, TextLine

LINES_PER_PAGE = 60
"""About one printed page: "the top of the page" is the first lines of page 1."""

SAMPLE_BYTES = 64 * 1024
MAX_CONTROL_RATIO = 0.01
"""Text has almost no control bytes; a binary format has many."""

UNKNOWN_BINARY = "unknown binary format: not an image, PDF, Office, OFD, text or archive file"

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_ALLOWED_CONTROLS = frozenset(b"\t\n\r\f\x1b")


def bom_encoding(data: bytes) -> str | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    return None


def looks_binary(sample: bytes) -> bool:
    """Many NULs or control bytes: an unknown binary format, not text."""
    if not sample:
        return False
    controls = sum(1 for byte in sample if byte < 0x20 and byte not in _ALLOWED_CONTROLS)
    return b"\x00" in sample or controls / len(sample) > MAX_CONTROL_RATIO


def sniff_encoding(data: bytes) -> str | None:
    """The encoding the start of `data` decodes in, or None when it is not text."""
    bom = bom_encoding(data)
    if bom:
        return bom
    sample = data[:SAMPLE_BYTES]
    if looks_binary(sample):
        return None
    final = len(data) <= SAMPLE_BYTES
    for encoding in ("utf-8", "gb18030"):
        # An incremental decoder tolerates a character cut at the end of the sample.
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        try:
            decoder.decode(sample, final=final)
        except UnicodeDecodeError:
            continue
        return encoding
    return None


def decode_text(data: bytes, max_chars: int) -> str:
    """The text of `data`, at most `max_chars` characters; CorruptFile when it is not text."""
    encoding = sniff_encoding(data)
    if encoding is None:
        if looks_binary(data[:SAMPLE_BYTES]):
            raise UnsupportedFormat(UNKNOWN_BINARY)
        raise CorruptFile("text is neither UTF-8 nor GB18030")
    # Decode no more bytes than the cap can use (4 bytes per character at most); a stray bad
    # byte past the sniffed start becomes U+FFFD rather than failing the whole file.
    text = data[: max_chars * 4 + 4].decode(encoding, errors="replace")
    return text[:max_chars]


def extract_text(data: bytes, name: str, ctx: ExtractContext) -> Iterator[Page]:
    text = decode_text(data, ctx.limits.max_text_chars)
    lines = [line.strip() for line in text.splitlines()]
    for number, start in enumerate(range(0, max(len(lines), 1), LINES_PER_PAGE), start=1):
        chunk = [TextLine(line) for line in lines[start : start + LINES_PER_PAGE] if line]
        if not ctx.take_page():
            continue
        yield Page(source=name, number=number, lines=chunk)
