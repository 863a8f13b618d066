"""Legacy Office (OLE compound files): Word/Kingsoft WPS `.doc`/`.wps`, Excel `.xls`.

Word text is read the way [MS-DOC] describes it: the FIB names the table stream and the
position of the CLX, whose piece table maps character positions to 8-bit (cp1252) or UTF-16LE
runs in the WordDocument stream. Password-protected files (a `.doc` with the fEncrypted flag,
or an OOXML file wrapped in an `EncryptionInfo` container) raise EncryptedContent.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator

import olefile
import xlrd

from detectors.errors import CorruptFile, EncryptedContent, UnsupportedFormat
from detectors.extract import oleprops
from detectors.extract.base import ExtractContext
from detectors.extract.common import capped_text, decode_legacy, join_source, metadata_page
from detectors.extract.members import extract_member
from detectors.model import Page, TextLine

WORD_IDENT = 0xA5EC
WORD97_NFIB = 0x00C1
F_ENCRYPTED = 0x0100
F_WHICH_TABLE = 0x0200
F_OBFUSCATED = 0x8000
CLX_INDEX = 33
"""fcClx/lcbClx is the 34th pair of FibRgFcLcb97."""
# Stories in character-position order (FibRgLw97 indices of their lengths), and the order we
# read them in: headers first, because markings in a page header stand at the top of the page.
_STORY_LENGTHS = {
    "main": 3,
    "footnotes": 4,
    "headers": 5,
    "comments": 7,
    "endnotes": 8,
    "textboxes": 9,
    "header_textboxes": 10,
}
_STORY_ORDER = (
    "headers",
    "main",
    "footnotes",
    "endnotes",
    "textboxes",
    "header_textboxes",
    "comments",
)
_LINE_BREAKS = str.maketrans({"\r": "\n", "\x0b": "\n", "\x0c": "\n", "\x07": "\n"})
_FIELD_BEGIN, _FIELD_SEPARATE, _FIELD_END = "\x13", "\x14", "\x15"
_PACKAGE_STREAMS = ("\x01Ole10Native", "Package")
_PROPERTY_SETS = (
    (
        "\x05SummaryInformation",
        (oleprops.TITLE, oleprops.SUBJECT, oleprops.KEYWORDS, oleprops.COMMENTS),
    ),
    ("\x05DocumentSummaryInformation", (oleprops.CATEGORY,)),
)
PPT_MESSAGE = "legacy PowerPoint .ppt is not supported; save as .pptx"


def extract_ole(data: bytes, name: str, ctx: ExtractContext) -> Iterator[Page]:
    with _open(data) as ole:
        if ole.exists("EncryptionInfo") or ole.exists("EncryptedPackage"):
            raise EncryptedContent("Office document is password-protected")
        meta = metadata_page(name, _summary_values(ole))
        if meta:
            yield meta
        if ole.exists("WordDocument"):
            yield from _word_pages(ole, name, ctx)
        elif ole.exists("Workbook") or ole.exists("Book"):
            stream = "Workbook" if ole.exists("Workbook") else "Book"
            yield from _excel_pages(_stream(ole, stream), name, ctx)
        elif ole.exists("PowerPoint Document"):
            raise UnsupportedFormat(PPT_MESSAGE)
        elif any(ole.exists(stream) for stream in _PACKAGE_STREAMS):
            yield from _package_pages(ole, name, ctx)
        else:
            raise UnsupportedFormat("OLE compound file of an unknown kind (not .doc, .wps, .xls)")


def _open(data: bytes) -> olefile.OleFileIO:
    try:
        # A file object always: olefile would take short `bytes` for a file name.
        return olefile.OleFileIO(io.BytesIO(data))
    except (OSError, ValueError, IndexError, struct.error) as exc:
        raise CorruptFile(f"Office file is truncated or damaged ({exc})") from exc


def _stream(ole: olefile.OleFileIO, name: str) -> bytes:
    try:
        return bytes(ole.openstream(name).read())
    except (OSError, ValueError, IndexError, struct.error) as exc:
        raise CorruptFile(f"Office file stream {name!r} is damaged ({exc})") from exc


# Word / WPS


def _word_pages(ole: olefile.OleFileIO, name: str, ctx: ExtractContext) -> Iterator[Page]:
    text = word_text(ole, ctx.limits.max_text_chars)
    lines = [TextLine(line.strip()) for line in text.split("\n") if line.strip()]
    if ctx.take_page():
        yield Page(source=name, number=1, lines=capped_text(lines, ctx.limits.max_text_chars))


def word_text(ole: olefile.OleFileIO, max_chars: int) -> str:
    """The document's text, stories in reading order, paragraphs on their own lines."""
    word = _stream(ole, "WordDocument")
    fib = _Fib.parse(word)
    table = _stream(ole, "1Table" if fib.flags & F_WHICH_TABLE else "0Table")
    if fib.fc_clx + fib.lcb_clx > len(table) or fib.lcb_clx == 0:
        raise CorruptFile("Word document has no readable text table (CLX)")
    full = _piece_text(word, table[fib.fc_clx : fib.fc_clx + fib.lcb_clx], fib.total, max_chars)
    stories = []
    for story in _STORY_ORDER:
        start, end = fib.story_range(story)
        stories.append(_visible(full[start:end]))
    return "\n".join(stories)[:max_chars]


class _Fib:
    """The parts of the File Information Block that locate the text."""

    def __init__(self, flags: int, lengths: list[int], fc_clx: int, lcb_clx: int) -> None:
        self.flags = flags
        self.lengths = lengths
        self.fc_clx = fc_clx
        self.lcb_clx = lcb_clx

    @classmethod
    def parse(cls, word: bytes) -> _Fib:
        try:
            ident, nfib = struct.unpack_from("<HH", word, 0)
            (flags,) = struct.unpack_from("<H", word, 0x0A)
            if ident != WORD_IDENT:
                raise CorruptFile("Word document header (FIB) is damaged")
            if flags & (F_ENCRYPTED | F_OBFUSCATED):
                raise EncryptedContent("Word document is password-protected")
            if nfib < WORD97_NFIB:
                raise UnsupportedFormat("Word 95 or older .doc is not supported; save as .docx")
            pos = 32
            (csw,) = struct.unpack_from("<H", word, pos)
            pos += 2 + 2 * csw
            (cslw,) = struct.unpack_from("<H", word, pos)
            lengths = list(struct.unpack_from(f"<{cslw}i", word, pos + 2))
            pos += 2 + 4 * cslw
            (pairs,) = struct.unpack_from("<H", word, pos)
            if pairs <= CLX_INDEX or len(lengths) <= max(_STORY_LENGTHS.values()):
                raise CorruptFile("Word document header (FIB) is too short")
            fc_clx, lcb_clx = struct.unpack_from("<II", word, pos + 2 + 8 * CLX_INDEX)
        except struct.error as exc:
            raise CorruptFile("Word document header (FIB) is truncated") from exc
        return cls(flags, lengths, fc_clx, lcb_clx)

    @property
    def total(self) -> int:
        return sum(max(0, self.lengths[index]) for index in _STORY_LENGTHS.values())

    def story_range(self, story: str) -> tuple[int, int]:
        start = 0
        for name, index in _STORY_LENGTHS.items():  # dict order is character-position order
            length = max(0, self.lengths[index])
            if name == story:
                return start, start + length
            start += length
        return 0, 0


def _piece_text(word: bytes, clx: bytes, total: int, max_chars: int) -> str:
    """Concatenated text of the pieces up to `total` characters ([MS-DOC] 2.9.38 Clx)."""
    plc = _plc_pcd(clx)
    count = (len(plc) - 4) // 12
    if count <= 0:
        return ""
    cps = struct.unpack_from(f"<{count + 1}I", plc, 0)
    parts: list[str] = []
    budget = min(total, max_chars * 4)  # enough for every story once fields are removed
    for index in range(count):
        start, end = cps[index], min(cps[index + 1], budget)
        if end <= start:
            continue
        (fc,) = struct.unpack_from("<I", plc, 4 * (count + 1) + 8 * index + 2)
        if fc & 0x40000000:  # fCompressed: one byte per character at fc / 2
            offset = (fc & 0x3FFFFFFF) // 2
            parts.append(word[offset : offset + end - start].decode("cp1252", "replace"))
        else:
            offset = fc & 0x3FFFFFFF
            parts.append(word[offset : offset + 2 * (end - start)].decode("utf-16-le", "replace"))
    return "".join(parts)


def _plc_pcd(clx: bytes) -> bytes:
    """Skip the Prc records (formatting) to the Pcdt that holds the piece table."""
    pos = 0
    while pos < len(clx):
        if clx[pos] == 0x01:
            (size,) = struct.unpack_from("<h", clx, pos + 1)
            pos += 3 + max(0, size)
        elif clx[pos] == 0x02 and pos + 5 <= len(clx):
            (size,) = struct.unpack_from("<I", clx, pos + 1)
            return clx[pos + 5 : pos + 5 + size]
        else:
            break
    raise CorruptFile("Word document text table (CLX) is damaged")


def _visible(text: str) -> str:
    """Field results without field codes, paragraph and cell marks as line breaks."""
    out: list[str] = []
    fields: list[bool] = []  # per open field: whether its result part has begun
    for ch in text:
        if ch == _FIELD_BEGIN:
            fields.append(False)
        elif ch == _FIELD_SEPARATE and fields:
            fields[-1] = True
        elif ch == _FIELD_END and fields:
            fields.pop()
        elif all(fields):
            out.append(ch)
    cleaned = "".join(out).translate(_LINE_BREAKS)
    return "".join(ch for ch in cleaned if ch >= " " or ch in "\n\t")


# Excel


def _excel_pages(biff: bytes, name: str, ctx: ExtractContext) -> Iterator[Page]:
    """Sheets of the BIFF workbook stream, read by xlrd.

    xlrd gets the stream that olefile found, not the whole file: its own compound-file
    reader follows damaged sector chains for minutes.
    """
    try:
        book = xlrd.open_workbook(
            file_contents=biff, on_demand=True, ragged_rows=True, logfile=io.StringIO()
        )
    except xlrd.XLRDError as exc:
        if "encrypt" in str(exc).lower():
            raise EncryptedContent("Excel workbook is password-protected") from exc
        raise CorruptFile(f"Excel workbook is damaged ({exc})") from exc
    chars_left = ctx.limits.max_text_chars
    try:
        for index in range(book.nsheets):
            if not ctx.take_page():
                continue
            sheet = book.sheet_by_index(index)
            lines = capped_text([TextLine(row) for row in _sheet_rows(sheet)], chars_left)
            chars_left -= sum(len(line.text) for line in lines)
            book.unload_sheet(index)
            yield Page(source=name, number=index + 1, lines=lines)
    finally:
        book.release_resources()


def _sheet_rows(sheet: xlrd.sheet.Sheet) -> Iterator[str]:
    for row in range(sheet.nrows):
        cells = [_cell_text(cell) for cell in sheet.row(row)]
        line = "\t".join(cell for cell in cells if cell)
        if line:
            yield line


def _cell_text(cell: xlrd.sheet.Cell) -> str:
    if cell.ctype == xlrd.XL_CELL_TEXT:
        return str(cell.value).strip()
    if cell.ctype in (xlrd.XL_CELL_NUMBER, xlrd.XL_CELL_DATE):
        # Phone numbers typed as numbers: 13800138000.0 must read 13800138000.
        value = float(cell.value)
        return str(int(value)) if value.is_integer() else str(value)
    return ""


# Metadata and OLE packages (files embedded in Office documents)


def _summary_values(ole: olefile.OleFileIO) -> list[str]:
    """Title, subject, keywords, comments and category of the document's property sets."""
    values: list[str] = []
    for stream, wanted in _PROPERTY_SETS:
        if ole.exists(stream):
            values += oleprops.string_properties(_stream(ole, stream), wanted)
    return values


def _package_pages(ole: olefile.OleFileIO, name: str, ctx: ExtractContext) -> Iterator[Page]:
    if ole.exists("Package"):  # an embedded OOXML document, stored whole
        yield from extract_member(_stream(ole, "Package"), join_source(name, "Package"), ctx)
        return
    label, payload = ole10_native(_stream(ole, "\x01Ole10Native"))
    yield from extract_member(payload, join_source(name, label or "Ole10Native"), ctx)


def ole10_native(stream: bytes) -> tuple[str, bytes]:
    """The file name and bytes of an OLE Package ("Packager Shell Object") payload."""
    try:
        pos = 4 + 2  # total size, then a type word
        label, pos = _zstring(stream, pos)
        _path, pos = _zstring(stream, pos)
        pos += 8  # a type dword and the length of the next string
        _temp, pos = _zstring(stream, pos)
        (size,) = struct.unpack_from("<I", stream, pos)
    except (struct.error, ValueError) as exc:
        raise CorruptFile("embedded OLE package is damaged") from exc
    payload = stream[pos + 4 : pos + 4 + size]
    if len(payload) != size:
        raise CorruptFile("embedded OLE package is truncated")
    return label.replace("\\", "/").rsplit("/", 1)[-1], payload


def _zstring(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(b"\x00", pos)
    return decode_legacy(data[pos:end]), end + 1
