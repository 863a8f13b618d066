"""Fingerprints as compact bytes, for storing one per registered page.

Layout: magic b"FP", u8 format, u16 fingerprint version, u32 text length, u32 document
number, u16 mark count,
marks (u32 each, sorted), u8 region count, per region (u8 name length, name, u64 hash),
u16 layout length, layout bytes. Big-endian. A different version is refused with a
ValueError: the page must be fingerprinted again.
"""

from __future__ import annotations

import struct

from detectors.fingerprint.model import FINGERPRINT_VERSION, PageFingerprint

_MAGIC = b"FP"
_FORMAT = 2
_HEAD = struct.Struct(">2sBHIIH")
_PREFIX = struct.Struct(">2sBH")
_U8 = struct.Struct(">B")
_U16 = struct.Struct(">H")
_U64 = struct.Struct(">Q")


def encode(fp: PageFingerprint) -> bytes:
    if len(fp.text_marks) > 0xFFFF or len(fp.layout) > 0xFFFF or len(fp.image_hashes) > 0xFF:
        raise ValueError("fingerprint too large to encode")
    out = bytearray(
        _HEAD.pack(
            _MAGIC,
            _FORMAT,
            fp.version,
            min(fp.text_length, 0xFFFFFFFF),
            fp.doc_number,
            len(fp.text_marks),
        )
    )
    out += struct.pack(f">{len(fp.text_marks)}I", *fp.text_marks)
    out += _U8.pack(len(fp.image_hashes))
    for name, value in sorted(fp.image_hashes.items()):
        raw = name.encode("utf-8")
        out += _U8.pack(len(raw)) + raw + _U64.pack(value)
    out += _U16.pack(len(fp.layout)) + fp.layout
    return bytes(out)


def decode(data: bytes) -> PageFingerprint:
    """The fingerprint in `data`; ValueError for other versions and damaged data."""
    reader = _Reader(data)
    magic, fmt, version = _PREFIX.unpack(reader.peek(_PREFIX.size))
    if magic != _MAGIC:
        raise ValueError("not an encoded page fingerprint")
    if version != FINGERPRINT_VERSION or fmt != _FORMAT:
        raise ValueError(
            f"fingerprint version {version} is not the current {FINGERPRINT_VERSION}: "
            "register the document again"
        )
    *_, text_length, doc_number, count = _HEAD.unpack(reader.raw(_HEAD.size))
    marks = struct.unpack(f">{count}I", reader.raw(4 * count))
    hashes = {}
    for _ in range(reader.number(_U8)):
        name = reader.raw(reader.number(_U8)).decode("utf-8")
        hashes[name] = reader.number(_U64)
    layout = reader.raw(reader.number(_U16))
    if reader.left:
        raise ValueError("encoded fingerprint has trailing bytes")
    return PageFingerprint(
        text_marks=tuple(marks),
        text_length=int(text_length),
        image_hashes=hashes,
        layout=layout,
        doc_number=int(doc_number),
        version=int(version),
    )


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    @property
    def left(self) -> int:
        return len(self._data) - self._at

    def number(self, shape: struct.Struct) -> int:
        (value,) = shape.unpack(self.raw(shape.size))
        return int(value)

    def peek(self, size: int) -> bytes:
        if size > self.left:
            raise ValueError("encoded fingerprint is truncated")
        return self._data[self._at : self._at + size]

    def raw(self, size: int) -> bytes:
        if size > self.left:
            raise ValueError("encoded fingerprint is truncated")
        chunk = self._data[self._at : self._at + size]
        self._at += size
        return chunk
