"""String properties of OLE property sets ([MS-OLEPS]): SummaryInformation and friends.

Written here rather than taken from olefile, whose parser follows a hostile vector count
(up to four billion elements) with unbounded time and memory. This one reads only the string
properties asked for, and every length is checked against the stream.
"""

from __future__ import annotations

import struct

from detectors.extract.common import decode_legacy

VT_LPSTR = 0x1E
VT_LPWSTR = 0x1F
CODEPAGE_ID = 1
MAX_PROPERTIES = 1000
_UNICODE_CODEPAGES = {1200: "utf-16-le", 65001: "utf-8"}

TITLE, SUBJECT, KEYWORDS, COMMENTS = 2, 3, 5, 6
"""Property ids of the SummaryInformation set."""
CATEGORY = 2
"""Property id of the category in the DocumentSummaryInformation set."""


def string_properties(stream: bytes, wanted: tuple[int, ...]) -> list[str]:
    """The `wanted` string properties of the first property set, in that order; [] if damaged."""
    try:
        offsets = _property_offsets(stream)
    except struct.error:
        return []
    codec = _codec(stream, offsets.get(CODEPAGE_ID))
    values = []
    for prop_id in wanted:
        offset = offsets.get(prop_id)
        if offset is not None:
            try:
                values.append(_string(stream, offset, codec))
            except struct.error:
                continue
    return [value for value in values if value]


def _property_offsets(stream: bytes) -> dict[int, int]:
    """Property id → absolute offset of its typed value, for the first property set."""
    (byte_order,) = struct.unpack_from("<H", stream, 0)
    if byte_order != 0xFFFE:
        return {}
    (section,) = struct.unpack_from("<I", stream, 44)  # after the header and FMTID0
    _size, count = struct.unpack_from("<II", stream, section)
    offsets = {}
    for index in range(min(count, MAX_PROPERTIES)):
        prop_id, offset = struct.unpack_from("<II", stream, section + 8 + 8 * index)
        offsets[prop_id] = section + offset
    return offsets


def _codec(stream: bytes, offset: int | None) -> str | None:
    if offset is None:
        return None
    try:
        kind, codepage = struct.unpack_from("<HxxH", stream, offset)
    except struct.error:
        return None
    if kind != 0x02 or codepage == 0:  # VT_I2
        return None
    return _UNICODE_CODEPAGES.get(codepage, f"cp{codepage}")


def _string(stream: bytes, offset: int, codec: str | None) -> str:
    kind, size = struct.unpack_from("<HxxI", stream, offset)
    start = offset + 8
    if kind == VT_LPWSTR:
        raw = stream[start : start + 2 * size]
        return raw.decode("utf-16-le", "replace").rstrip("\x00")
    if kind != VT_LPSTR:
        return ""
    raw = stream[start : start + size].rstrip(b"\x00")
    if codec:
        try:
            return raw.decode(codec).rstrip("\x00")
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_legacy(raw)
