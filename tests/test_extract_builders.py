"""Builders for the extraction tests: inputs are made here, in memory, not read from fixtures.

Imported by the `test_extract_*` modules (like `vision_synth`); it holds no tests itself.
"""

from __future__ import annotations

import io
import math
import struct
import zipfile
import zlib
from collections.abc import Iterable

from detectors.config import DEFAULT_CONFIG_DIR, Limits, load_yaml
from detectors.extract import ExtractContext, extract_pages
from detectors.model import Page

LIMITS = Limits.model_validate(load_yaml(DEFAULT_CONFIG_DIR / "scan.yaml")["limits"])


def context(decode_max_side: int = 2400, **limits: object) -> ExtractContext:
    """A fresh extraction context with the shipped limits, some of them overridden."""
    return ExtractContext(limits=LIMITS.model_copy(update=limits), decode_max_side=decode_max_side)


def run(
    data: bytes, name: str, decode_max_side: int = 2400, **limits: object
) -> tuple[list[Page], ExtractContext]:
    """All pages of `data`, and the context whose tally tells what else happened."""
    ctx = context(decode_max_side, **limits)
    return list(extract_pages(data, name, ctx)), ctx


def content_pages(pages: list[Page]) -> list[Page]:
    return [page for page in pages if not page.is_metadata]


def metadata_lines(pages: list[Page]) -> list[str]:
    return [line.text for page in pages if page.is_metadata for line in page.lines]


def all_text(pages: list[Page]) -> str:
    return "\n".join(page.text for page in pages)


def zip_bytes(members: Iterable[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return out.getvalue()


def add_members(package: bytes, members: Iterable[tuple[str, bytes]]) -> bytes:
    """The same ZIP package (DOCX, XLSX) with extra parts."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(package)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            target.writestr(info, source.read(info))
        for name, data in members:
            target.writestr(name, data)
    return out.getvalue()


def custom_properties(**values: str) -> tuple[str, bytes]:
    """A `docProps/custom.xml` part (python-docx and openpyxl do not write custom properties)."""
    props = "".join(
        f'<property fmtid="{{D5CDD505-2E9C-101B-9397-08002B2CF9AE}}" pid="{pid}" name="{name}">'
        f"<vt:lpwstr>{value}</vt:lpwstr></property>"
        for pid, (name, value) in enumerate(values.items(), start=2)
    )
    xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"'
        ' xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
        f"{props}</Properties>"
    )
    return "docProps/custom.xml", xml.encode("utf-8")


# OLE compound files ([MS-CFB]), version 3 with 512-byte sectors. Every stream is padded to
# 4096 bytes so that none lives in the mini stream: FAT, directory and streams are all.


def cfb(streams: dict[str, bytes]) -> bytes:
    end_of_chain, free, fat_sector, no_stream = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF
    body = b""
    fat: list[int] = []
    starts: list[int] = []
    sizes: list[int] = []
    for data in streams.values():
        data = data.ljust(4096, b"\0")
        count = math.ceil(len(data) / 512)
        starts.append(len(fat))
        sizes.append(len(data))
        fat += [len(fat) + i + 1 for i in range(count - 1)] + [end_of_chain]
        body += data.ljust(count * 512, b"\0")
    names = list(streams)
    entries = [_dir_entry("Root Entry", 5, 1 if names else no_stream, no_stream, end_of_chain, 0)]
    for index, name in enumerate(names):
        right = index + 2 if index + 1 < len(names) else no_stream
        entries.append(_dir_entry(name, 2, no_stream, right, starts[index], sizes[index]))
    while len(entries) % 4:
        entries.append(b"\0" * 64 + struct.pack("<HBB3I", 0, 0, 0, *([no_stream] * 3)) + b"\0" * 48)
    directory = b"".join(entries)
    dir_start = len(fat)
    dir_count = len(directory) // 512
    fat += [dir_start + i + 1 for i in range(dir_count - 1)] + [end_of_chain]
    fat_start = len(fat)
    fat.append(fat_sector)
    assert len(fat) <= 128, "test CFB writer holds one FAT sector"
    fat += [free] * (128 - len(fat))
    header = struct.pack(
        "<8s16s5H6s9I",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        b"\0" * 16,
        0x3E,
        3,
        0xFFFE,
        9,
        6,
        b"\0" * 6,
        0,
        1,
        dir_start,
        0,
        4096,
        end_of_chain,
        0,
        end_of_chain,
        0,
    )
    header += struct.pack("<109I", fat_start, *([free] * 108))
    return header + body + directory + struct.pack("<128I", *fat)


def _dir_entry(name: str, kind: int, child: int, right: int, start: int, size: int) -> bytes:
    encoded = (name + "\0").encode("utf-16-le")
    return struct.pack(
        "<64sHBB3I16sIQQIQ",
        encoded.ljust(64, b"\0"),
        len(encoded),
        kind,
        1,
        0xFFFFFFFF,
        right,
        child,
        b"\0" * 16,
        0,
        0,
        0,
        start,
        size,
    )


# RAR 1.5-4.x archives with stored (uncompressed) members, written by hand: creating RAR needs
# the non-free `rar` tool. Layout (all little-endian), each block = HEAD_CRC u16 (low 16 bits
# of the CRC32 of the rest of the header), HEAD_TYPE u8, HEAD_FLAGS u16, HEAD_SIZE u16, body:
#   marker   "Rar!\x1a\x07\x00"
#   main     type 0x73, flags 0, body: 2 + 4 reserved bytes
#   file     type 0x74, flags 0x8000 (sizes follow) | 0x0004 (password), body: PACK_SIZE u32,
#            UNP_SIZE u32, HOST_OS u8, FILE_CRC u32, FTIME u32 (DOS), UNP_VER u8, METHOD u8
#            (0x30 = store), NAME_SIZE u16, ATTR u32, name; then the member's bytes
#   end      type 0x7B, flags 0x4000


def rar4_stored(members: Iterable[tuple[str, bytes]], encrypted: tuple[str, ...] = ()) -> bytes:
    def block(head_type: int, flags: int, body: bytes) -> bytes:
        head = struct.pack("<BHH", head_type, flags, 7 + len(body)) + body
        return struct.pack("<H", zlib.crc32(head) & 0xFFFF) + head

    out = b"Rar!\x1a\x07\x00" + block(0x73, 0, b"\0" * 6)
    for name, data in members:
        raw = name.encode("utf-8")
        flags = 0x8000 | (0x0004 if name in encrypted else 0)
        fields = (len(data), len(data), 2, zlib.crc32(data), 0x5A210000, 29, 0x30, len(raw), 0x20)
        out += block(0x74, flags, struct.pack("<IIBIIBBHI", *fields) + raw) + data
    return out + block(0x7B, 0x4000, b"")


# OFD (GB/T 33190-2016): a ZIP with OFD.xml → Doc_0/Document.xml → pages and resources.

OFD_NS = 'xmlns:ofd="http://www.ofdspec.org/2016"'


def ofd_bytes(
    pages: list[str],
    doc_info: str = "",
    resources: str = "",
    template: str | None = None,
    annotation: str | None = None,
    extra: Iterable[tuple[str, bytes]] = (),
) -> bytes:
    """An OFD whose pages have the given Layer contents (TextObject, PathObject, …)."""
    head = '<?xml version="1.0" encoding="UTF-8"?>'
    entry = (
        f'{head}<ofd:OFD {OFD_NS} Version="1.0" DocType="OFD"><ofd:DocBody>'
        f"<ofd:DocInfo><ofd:DocID>test</ofd:DocID>{doc_info}</ofd:DocInfo>"
        "<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>"
    )
    template_ref = (
        '<ofd:TemplatePage ID="90" BaseLoc="Tpls/Tpl_0/Content.xml"/>' if template else ""
    )
    page_refs = "".join(
        f'<ofd:Page ID="{i + 1}" BaseLoc="Pages/Page_{i}/Content.xml"/>' for i in range(len(pages))
    )
    annotations_ref = "<ofd:Annotations>Annots/Annotations.xml</ofd:Annotations>"
    document = (
        f"{head}<ofd:Document {OFD_NS}><ofd:CommonData><ofd:MaxUnitID>99</ofd:MaxUnitID>"
        "<ofd:PageArea><ofd:PhysicalBox>0 0 210 297</ofd:PhysicalBox></ofd:PageArea>"
        f"<ofd:PublicRes>PublicRes.xml</ofd:PublicRes>{template_ref}</ofd:CommonData>"
        f"<ofd:Pages>{page_refs}</ofd:Pages>{annotations_ref if annotation else ''}"
        "</ofd:Document>"
    )
    res = (
        f'{head}<ofd:Res {OFD_NS} BaseLoc="Res"><ofd:Fonts>'
        '<ofd:Font ID="2" FontName="宋体" FamilyName="宋体"/></ofd:Fonts>'
        f"{resources}</ofd:Res>"
    )
    use_template = '<ofd:Template TemplateID="90" ZOrder="Background"/>' if template else ""
    members = [
        ("OFD.xml", entry.encode()),
        ("Doc_0/Document.xml", document.encode()),
        ("Doc_0/PublicRes.xml", res.encode()),
    ]
    for index, layer in enumerate(pages):
        content = (
            f"{head}<ofd:Page {OFD_NS}>{use_template}<ofd:Content>"
            f'<ofd:Layer ID="3">{layer}</ofd:Layer></ofd:Content></ofd:Page>'
        )
        members.append((f"Doc_0/Pages/Page_{index}/Content.xml", content.encode()))
    if template:
        tpl = (
            f'{head}<ofd:Page {OFD_NS}><ofd:Content><ofd:Layer ID="91">{template}'
            "</ofd:Layer></ofd:Content></ofd:Page>"
        )
        members.append(("Doc_0/Tpls/Tpl_0/Content.xml", tpl.encode()))
    if annotation:
        # Annotations of page 1 (a stamp, for instance): an appearance drawn over the page.
        annotations = (
            f'{head}<ofd:Annotations {OFD_NS}><ofd:Page PageID="1">'
            "<ofd:FileLoc>Page_0/Annotation.xml</ofd:FileLoc></ofd:Page></ofd:Annotations>"
        )
        page_annots = (
            f'{head}<ofd:PageAnnot {OFD_NS}><ofd:Annot ID="80" Type="Stamp">{annotation}'
            "</ofd:Annot></ofd:PageAnnot>"
        )
        members.append(("Doc_0/Annots/Annotations.xml", annotations.encode()))
        members.append(("Doc_0/Annots/Page_0/Annotation.xml", page_annots.encode()))
    return zip_bytes([*members, *extra])
