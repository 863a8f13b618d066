"""A seeded corpus for the registry of controlled documents: originals to register, captures of
them that must be recognised, and look-alikes that must not be.

    from tests.corpus.registry import generate_registry_corpus
    items = generate_registry_corpus(Path("out"), seed=7, originals=32, siblings=32, workers=2)

writes files under `out/` and `out/manifest.json` (the items, see `RegistryItem`):

- originals (role "original"): documents of a few organs (`families`), each organ with one
  red-header template (organ mark, separator line, geometry, fonts, 发文字号 prefix) shared by all
  its documents, which differ in title, number, markings and body. Registered as a PDF with a
  text layer (most), a page image (PNG, or a scanned JPEG), a scanned PDF without text, or DOCX.
- captures (role "capture"): how members pass a registered page on — a phone photo, a photo of
  the top of the page, the lower half cropped, a copy with the marking covered, a photo of a
  monitor, a print at 70%/85% photographed, a re-compressed low-quality JPEG, a sideways photo;
  mostly of page 1, some of later pages. `doc_id` and `page` say what they show.
- siblings (role "sibling"): further documents of the same organs and templates, never
  registered, captured the same ways (always a header photo, where only title and number
  differ): the hard case, they must not match.
- negatives (role "negative"): the scan corpus's hard negatives (`tests.corpus.negative`), its
  negative files, and captures of unregistered documents of other organs (`tests.corpus.positive`).

Every item is a pure function of (seed, families, role, index): it does not depend on the counts
asked for or on how many worker processes make it.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from tests.corpus import FILE_PLAN, file_item, negative, positive, rngs
from tests.corpus import capture as cp
from tests.corpus import files as fl
from tests.corpus import text as tx
from tests.corpus.document import Document, make_document
from tests.corpus.render import (
    HEADER_ELEMENTS,
    MARKING_ELEMENTS,
    WHITE,
    Box,
    PageSpec,
    layout,
    mask_header,
    rasterize,
)

MANIFEST = "manifest.json"
ROLES = ("original", "capture", "sibling", "negative")

FAMILY_FORMS: tuple[str, ...] = (
    "file",  # 文件格式 notices and opinions
    "minutes",  # 会议纪要
    "list",  # staff list marked 内部，注意保存, no red header
    "telegram",  # 密码电报
    "file",
    "letter",  # 信函格式
    "upward",  # 上行文 reports with 签发人
    "bulletin",  # 简报/情况通报
)
DEFAULT_FAMILIES = len(FAMILY_FORMS)

REGISTER_FORMATS: tuple[str, ...] = (
    "pdf",
    "pdf",
    "pdf",
    "png",
    "pdf",
    "docx",
    "scan_pdf",
    "pdf",
    "pdf",
    "pdf",
    "pdf",
    "jpeg_scan",
    "pdf",
    "docx",
    "pdf",
    "pdf",
)
"""How original i is registered: REGISTER_FORMATS[(i + i // families) % 16]."""
FILE_EXT = {"pdf": "pdf", "scan_pdf": "pdf", "png": "png", "jpeg_scan": "jpg", "docx": "docx"}

PAGE1_CAPTURES: tuple[str, ...] = (
    "photo",
    "photo_folded",
    "photo_header",
    "photo_bottom",
    "masked",
    "photo_screen",
    "printed_scale",
)
"""Every original's page 1 is captured these ways."""
EXTRA_CAPTURES: tuple[str, ...] = ("jpeg_low", "photo_rotated")
"""Every other original also gets one of these, in turn."""
SIBLING_CAPTURES: tuple[str, ...] = (
    "photo",
    "photo_folded",
    "photo_bottom",
    "masked",
    "photo_screen",
    "printed_scale",
    "jpeg_low",
    "photo_rotated",
)
"""A sibling gets a header photo and one of these, in turn."""
CAPTURE_KINDS: tuple[str, ...] = (*PAGE1_CAPTURES, *EXTRA_CAPTURES)
PRINT_SCALES = (0.7, 0.85)


@dataclass(frozen=True)
class RegistryItem:
    path: str
    """Relative to the corpus directory."""
    role: str
    """original | capture | sibling | negative."""
    kind: str
    """Originals: how registered (pdf, scan_pdf, png, jpeg_scan, docx); captures and siblings:
    the capture kind (CAPTURE_KINDS, or file_pdf for a sibling sent as its PDF); negatives: the
    scan corpus's kind."""
    doc_id: str | None
    """Originals: the id to register; captures: the original shown; siblings, negatives: None."""
    page: int | None = None
    """Captures: the original's page shown (1-based)."""
    title: str = ""
    """Originals and siblings: the document's title (registered with the original)."""
    family: int | None = None
    """The organ template of originals, captures and siblings."""
    facts: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "role": self.role,
            "kind": self.kind,
            "doc_id": self.doc_id,
            "page": self.page,
            "title": self.title,
            "family": self.family,
            "facts": self.facts,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RegistryItem:
        return cls(
            data["path"],
            data["role"],
            data["kind"],
            data.get("doc_id"),
            data.get("page"),
            data.get("title", ""),
            data.get("family"),
            data.get("facts", {}),
        )


Output = tuple[str, bytes, RegistryItem]


def doc_id(index: int) -> str:
    """The id original `index` is registered under."""
    return f"orig-{index:03d}"


# --- organ templates and their documents ----------------------------------------------------


@dataclass(frozen=True)
class Template:
    """What every document of one organ shares: the red header and the page style."""

    family: int
    form: str
    organ: tx.Organ
    prototype: Document
    layout_seed: int
    """Seeds the layout's random choices (style, header geometry), so all documents of the
    family are set on the same template."""


@functools.lru_cache(maxsize=256)
def template(seed: int, family: int) -> Template:
    """Family `family`'s template; its organ differs from those of families before it."""
    taken = {template(seed, f).organ.name for f in range(family)}
    r, _ = rngs(seed, "reg-template", family)
    org = tx.organ(r)
    while org.name in taken:
        org = tx.organ(r)
    form = FAMILY_FORMS[family % len(FAMILY_FORMS)]
    proto = make_document(r, form, organ=org)
    if form == "telegram":
        proto.mark_suffix = "密码电报"
        proto.mark = proto.mark or [org.name]
    if form == "list":
        proto.handling = "内部，注意保存"
    return Template(family, form, org, proto, r.getrandbits(63))


@functools.lru_cache(maxsize=1024)
def member_document(seed: int, family: int, member: int) -> Document:
    """Document `member` of a family: the template's header, its own title (unique in the
    family), number, markings and body. Originals are even members, siblings odd ones."""
    tpl = template(seed, family)
    titles = {member_document(seed, family, m).title for m in range(member)}
    for attempt in range(30):
        r, _ = rngs(seed, "reg-doc", family, member, attempt)
        doc = make_document(r, tpl.form, organ=tpl.organ)
        if doc.title not in titles:
            break
    _apply_template(doc, tpl, member, r)
    _fill_first_page(doc, r)
    return doc


MIN_PARAGRAPHS = 7
MIN_LIST_ROWS = 14


def _fill_first_page(doc: Document, r: random.Random) -> None:
    """Controlled documents worth registering run to a full first page: the lower half of page
    1 has text of its own, as a bottom-half crop of it needs."""
    if doc.form == "list":
        if len(doc.table) < MIN_LIST_ROWS:
            doc.table += tx.person_rows(r, MIN_LIST_ROWS - len(doc.table))
    elif len(doc.paragraphs) < MIN_PARAGRAPHS:
        doc.paragraphs += tx.body(r, doc.organ, paragraphs=MIN_PARAGRAPHS - len(doc.paragraphs))


def _apply_template(doc: Document, tpl: Template, member: int, r: random.Random) -> None:
    proto = tpl.prototype
    doc.mark, doc.mark_suffix, doc.rule = list(proto.mark), proto.mark_suffix, proto.rule
    doc.handling_right, doc.handling_boxed = proto.handling_right, proto.handling_boxed
    serial = 2 + 3 * member + r.randint(0, 2)  # unique in the family, as real numbers are
    if doc.doc_number:
        code = tpl.organ.letter_code if tpl.form == "letter" else tpl.organ.code
        doc.doc_number = _number(code, doc.year, serial)
    if doc.issue_line and proto.issue_line:
        doc.issue_line = (f"第{serial}期", proto.issue_line[1])
    if doc.telegram and proto.telegram:
        level = doc.telegram[2][1].split("·")[0]
        doc.telegram[2] = ("等级", f"{level}·{proto.mark_suffix}")
        number_label = proto.telegram[3][0]
        doc.telegram[3] = (number_label, _number(tpl.organ.code + "电", doc.year, serial))
    if proto.handling == "内部，注意保存":
        doc.handling = proto.handling
    elif not (doc.classification or doc.handling):
        doc.handling = tx.handling(r, tpl.organ)  # controlled documents carry a marking


def _number(code: str, year: int, serial: int) -> str:
    return f"{code}〔{year}〕{serial}号"


def document_pages(seed: int, family: int, member: int) -> list[PageSpec]:
    tpl = template(seed, family)
    doc = member_document(seed, family, member)
    page_seed = rngs(seed, "reg-pages", family, member)[0].getrandbits(31)
    return layout(doc, random.Random(tpl.layout_seed), seed=page_seed)


# --- captures -------------------------------------------------------------------------------


def _encode(pixels: np.ndarray, ext: str, quality: int = 90) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext == "jpg" else []
    ok, buf = cv2.imencode(f".{ext}", pixels, params)
    if not ok:
        raise RuntimeError("image encoding failed")
    return bytes(buf.tobytes())


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def printed_at(
    image: Image.Image, boxes: list[Box], factor: float
) -> tuple[Image.Image, list[Box]]:
    """The page printed at `factor` of its size, centred on a sheet of the same size."""
    w, h = image.size
    small = image.resize((round(w * factor), round(h * factor)), Image.Resampling.LANCZOS)
    sheet = Image.new("RGB", (w, h), WHITE)
    ox, oy = (w - small.width) // 2, (h - small.height) // 2
    sheet.paste(small, (ox, oy))
    moved = [
        (x0 * factor + ox, y0 * factor + oy, x1 * factor + ox, y1 * factor + oy)
        for x0, y0, x1, y1 in boxes
    ]
    return sheet, moved


def recompressed(data: bytes, long_side: int, quality: int) -> bytes:
    """A picture as a chat app re-sends it: shrunk to `long_side` and saved as a poor JPEG."""
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if pixels is None:
        raise RuntimeError("image decoding failed")
    h, w = pixels.shape[:2]
    factor = long_side / max(h, w)
    if factor < 1:
        pixels = cv2.resize(
            pixels, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_AREA
        )
    return _encode(pixels, "jpg", quality)


@dataclass(frozen=True)
class Shot:
    data: bytes
    ext: str
    facts: dict[str, Any]


MUST_SHOW: dict[str, frozenset[str]] = {"photo_header": frozenset({"title"})}
"""Elements a capture kind must show at least half of (else it is taken again): a header photo
that stops above the title shows nothing that tells one document of the organ from another."""


HEADER_ATTEMPTS = 8


def shoot(spec: PageSpec, kind: str, seed: int, *key: object) -> Shot:
    """One capture of a page (see CAPTURE_KINDS), with what it shows in `facts`; its random
    choices come from (seed, key). A header photo that keeps missing the title (a header
    reaching below the middle of the page) is taken of the top of the page folded under below
    the title instead."""
    need = MUST_SHOW.get(kind, frozenset())
    for attempt in range(HEADER_ATTEMPTS + 1):
        r, g = rngs(seed, *key, attempt)
        shot = _shoot_once(spec, kind, r, g, folded=attempt == HEADER_ATTEMPTS)
        if need <= set(shot.facts["seen"]) or attempt == HEADER_ATTEMPTS:
            return shot
    raise AssertionError("unreachable")


def _folded_top(spec: PageSpec, image: Image.Image, r: random.Random) -> Image.Image:
    """The page down to a little below its title."""
    title = spec.find("title")
    bottom = title[0].box[3] if title else spec.height / 2
    cut = min(spec.height, round(bottom + spec.dpi / 25.4 * r.uniform(8, 25)))
    return image.crop((0, 0, spec.width, cut))


def _shoot_once(
    spec: PageSpec, kind: str, r: random.Random, g: np.random.Generator, *, folded: bool = False
) -> Shot:
    facts: dict[str, Any] = {}
    if kind == "masked":
        covering = MARKING_ELEMENTS if r.random() < 0.7 else HEADER_ELEMENTS
        if not any(e.name in covering for e in spec.elements):
            covering = HEADER_ELEMENTS
        spec = mask_header(spec, r, covering=covering)
        facts["mask"] = "marking" if covering is MARKING_ELEMENTS else "header"
    image = rasterize(spec)
    boxes = [e.box for e in spec.elements]
    if kind == "printed_scale":
        factor = r.choice(PRINT_SCALES)
        image, boxes = printed_at(image, boxes, factor)
        facts["print_scale"] = factor
    if folded:
        image = _folded_top(spec, image, r)
        facts["folded"] = True
    camera = {
        "photo_header": "photo" if folded else "photo_header",
        "masked": r.choice(("photo", "photo", "scan")),
        "printed_scale": "photo",
        "jpeg_low": r.choice(("photo", "photo", "photo_screen")),
    }.get(kind, kind)
    shot = cp.capture(image, boxes, camera, g)
    facts |= {"camera": camera, "capture": shot.params}
    facts["seen"] = sorted(
        {e.name for e, v in zip(spec.elements, shot.visible, strict=True) if v >= 0.5}
    )
    data, ext = shot.data, shot.ext
    if kind == "jpeg_low":
        long_side, quality = r.choice((1080, 1280, 1440)), r.randint(22, 40)
        data, ext = recompressed(data, long_side, quality), "jpg"
        facts |= {"long_side": long_side, "quality": quality}
    return Shot(data, ext, facts)


def _doc_facts(doc: Document, pages: list[PageSpec]) -> dict[str, Any]:
    return {
        "organ": doc.organ.name,
        "form": doc.form,
        "mark": doc.mark_text or None,
        "doc_number": doc.doc_number,
        "classification": doc.classification,
        "handling": doc.handling,
        "pages": len(pages),
    }


# --- jobs -----------------------------------------------------------------------------------


def _family_member(index: int, families: int, sibling: bool) -> tuple[int, int]:
    return index % families, 2 * (index // families) + sibling


def register_format(index: int, families: int) -> str:
    return REGISTER_FORMATS[(index + index // families) % len(REGISTER_FORMATS)]


def _registered_file(
    seed: int, index: int, fmt: str, doc: Document, pages: list[PageSpec]
) -> tuple[bytes, int]:
    """The file to register and how many of its pages are the document's pages."""
    r, g = rngs(seed, "reg-file", index)
    if fmt == "pdf":
        return fl.pdf_text(pages, title=doc.title, author=doc.organ.office), len(pages)
    if fmt == "scan_pdf":
        images = [rasterize(p) for p in pages]
        return fl.pdf_scanned(images, quality=r.randint(60, 85)), len(pages)
    if fmt == "docx":
        return fl.docx(doc, r), len(pages)
    if fmt == "png":
        return _png(rasterize(pages[0])), 1
    if fmt == "jpeg_scan":
        return cp.capture(rasterize(pages[0]), [], "scan", g).data, 1
    raise ValueError(f"unknown registration format {fmt!r}")


CONTENT_ELEMENTS = frozenset({"body", "pd_row", "attachments"})


def _text_below(spec: PageSpec, fraction: float) -> bool:
    """Whether the page's own text runs below `fraction` of its height: a later page that is
    mostly signature, seal and colophon, or whose lower half holds a line or two of stock
    phrases, does not tell one document of an organ from another."""
    return any(
        e.name in CONTENT_ELEMENTS and e.box[3] > spec.height * fraction for e in spec.elements
    )


def _capture_plan(
    index: int, pages: list[PageSpec], registered_pages: int, fmt: str
) -> list[tuple[int, str]]:
    """(page, kind) of the captures of original `index`."""
    plan = [(1, kind) for kind in PAGE1_CAPTURES]
    if index % 2 == 0:
        plan.append((1, EXTRA_CAPTURES[(index // 2) % len(EXTRA_CAPTURES)]))
    later = [p.page_no for p in pages[1:registered_pages] if _text_below(p, 0.75)]
    if later and fmt != "docx":
        plan += [(later[0], "photo"), (later[-1], "photo_bottom")]
    return plan


def original(seed: int, index: int, families: int) -> list[Output]:
    """Original `index`, registered as one file, and its captures."""
    family, member = _family_member(index, families, sibling=False)
    doc = member_document(seed, family, member)
    pages = document_pages(seed, family, member)
    fmt = register_format(index, families)
    data, registered_pages = _registered_file(seed, index, fmt, doc, pages)
    ident = doc_id(index)
    facts = _doc_facts(doc, pages) | {"registered_pages": registered_pages}
    stem = f"orig_{index:03d}"
    outputs: list[Output] = [
        (
            f"originals/{stem}.{FILE_EXT[fmt]}",
            data,
            RegistryItem(
                f"originals/{stem}.{FILE_EXT[fmt]}",
                "original",
                fmt,
                ident,
                None,
                doc.title,
                family,
                facts,
            ),
        )
    ]
    for page, kind in _capture_plan(index, pages, registered_pages, fmt):
        shot = shoot(pages[page - 1], kind, seed, "reg-capture", index, page, kind)
        path = f"captures/{stem}_p{page}_{kind}.{shot.ext}"
        item = RegistryItem(path, "capture", kind, ident, page, doc.title, family, shot.facts)
        outputs.append((path, shot.data, item))
    return outputs


def sibling(seed: int, index: int, families: int) -> list[Output]:
    """Sibling `index` (never registered): a header photo, one more capture, and every fourth
    one also sent as its PDF."""
    family, member = _family_member(index, families, sibling=True)
    doc = member_document(seed, family, member)
    pages = document_pages(seed, family, member)
    facts = _doc_facts(doc, pages) | {"sibling": index}
    stem = f"sib_{index:03d}"
    outputs: list[Output] = []
    for kind in ("photo_header", SIBLING_CAPTURES[index % len(SIBLING_CAPTURES)]):
        shot = shoot(pages[0], kind, seed, "reg-sibling", index, kind)
        path = f"siblings/{stem}_p1_{kind}.{shot.ext}"
        item = RegistryItem(
            path, "sibling", kind, None, None, doc.title, family, facts | shot.facts
        )
        outputs.append((path, shot.data, item))
    if index % 4 == 1:
        path = f"siblings/{stem}.pdf"
        data = fl.pdf_text(pages, title=doc.title, author=doc.organ.office)
        outputs.append(
            (
                path,
                data,
                RegistryItem(path, "sibling", "file_pdf", None, None, doc.title, family, facts),
            )
        )
    return outputs


NEGATIVE_FILES: tuple[int, ...] = tuple(
    i for i, (maker, _, _) in enumerate(FILE_PLAN) if maker.__name__.startswith("_neg_")
)


NEGATIVE_FILE_EVERY = 10


def scan_negative(seed: int, index: int, families: int) -> list[Output]:
    """A hard negative of the scan corpus: a picture, or (every tenth, while they last) one of
    its negative files."""
    slot, is_file = divmod(index, NEGATIVE_FILE_EVERY)
    if is_file == NEGATIVE_FILE_EVERY - 1 and slot < len(NEGATIVE_FILES):
        path, data, made = file_item(seed, NEGATIVE_FILES[slot], None)
    else:
        files_before = min(len(NEGATIVE_FILES), (index + 1) // NEGATIVE_FILE_EVERY)
        path, data, made = negative(seed, index - files_before, None)
    facts = {"source": "scan_negative"} | made.facts
    return [(path, data, RegistryItem(path, "negative", made.kind, None, facts=facts))]


def unregistered(seed: int, index: int, families: int) -> list[Output]:
    """A capture of a document of some other organ, never registered (a scan corpus positive)."""
    path, data, made = positive(seed, index, None)
    item = RegistryItem(
        path, "negative", made.kind, None, facts={"source": "unregistered"} | made.facts
    )
    return [(path, data, item)]


JOBS = {
    "original": original,
    "sibling": sibling,
    "scan_negative": scan_negative,
    "unregistered": unregistered,
}
Job = tuple[str, int, int, int]


def _run(job: Job) -> list[Output]:
    role, seed, index, families = job
    return JOBS[role](seed, index, families)


def plan(
    seed: int, originals: int, siblings: int, negatives: int, unregistered_docs: int, families: int
) -> list[Job]:
    counts = {
        "original": originals,
        "sibling": siblings,
        "scan_negative": negatives,
        "unregistered": unregistered_docs,
    }
    return [(role, seed, i, families) for role, count in counts.items() for i in range(count)]


def _results(jobs: list[Job], workers: int) -> Iterator[list[Output]]:
    if workers <= 1:
        yield from map(_run, jobs)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_run, jobs)


def generate_registry_corpus(
    out_dir: Path,
    seed: int,
    originals: int = 32,
    siblings: int = 32,
    workers: int = 1,
    *,
    negatives: int = 52,
    unregistered_docs: int = 24,
    families: int = DEFAULT_FAMILIES,
) -> list[RegistryItem]:
    """Writes the corpus under `out_dir` and returns its items (also in manifest.json).

    originals: documents to register (original i belongs to family i % families); siblings:
    unregistered documents of the same families; negatives: hard negatives of the scan corpus
    (pictures; every tenth, one of its negative files); unregistered_docs: captures of documents of
    other organs; families: organs, each with one template (at most FAMILY_FORMS forms apart).
    """
    if families < 1:
        raise ValueError("families must be at least 1")
    out_dir = Path(out_dir)
    items: list[RegistryItem] = []
    jobs = plan(seed, originals, siblings, negatives, unregistered_docs, families)
    for outputs in _results(jobs, workers):
        for path, data, item in outputs:
            target = out_dir / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            items.append(item)
    manifest = {
        "seed": seed,
        "families": [_family_json(seed, f) for f in range(min(families, originals + siblings))],
        "items": [item.to_json() for item in items],
    }
    (out_dir / MANIFEST).write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return items


def _family_json(seed: int, family: int) -> dict[str, Any]:
    tpl = template(seed, family)
    return {
        "family": family,
        "form": tpl.form,
        "organ": tpl.organ.name,
        "mark": tpl.prototype.mark_text or None,
        "rule": tpl.prototype.rule,
    }


def level(item: RegistryItem) -> str | None:
    """The classification level (绝密/机密/秘密) to register an original with, if it has one."""
    marking = item.facts.get("classification")
    return str(marking).split("★")[0] if marking else None


def load_registry_manifest(out_dir: Path) -> list[RegistryItem]:
    data = json.loads((Path(out_dir) / MANIFEST).read_text(encoding="utf-8"))
    return [RegistryItem.from_json(item) for item in data["items"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.corpus.registry",
        description="Generate the registry corpus: originals, captures, siblings, negatives.",
    )
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--originals", type=int, default=32)
    parser.add_argument("--siblings", type=int, default=32)
    parser.add_argument("--negatives", type=int, default=52)
    parser.add_argument("--unregistered", type=int, default=24)
    parser.add_argument("--families", type=int, default=DEFAULT_FAMILIES)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    items = generate_registry_corpus(
        args.out_dir,
        args.seed,
        args.originals,
        args.siblings,
        args.workers,
        negatives=args.negatives,
        unregistered_docs=args.unregistered,
        families=args.families,
    )
    elapsed = time.perf_counter() - started
    print(f"{len(items)} items in {elapsed:.1f} s -> {args.out_dir}")
    print("roles:", dict(Counter(item.role for item in items)))
    print("kinds:", dict(sorted(Counter(f"{i.role}:{i.kind}" for i in items).items())))
    return 0


__all__ = [
    "CAPTURE_KINDS",
    "MANIFEST",
    "ROLES",
    "RegistryItem",
    "Template",
    "doc_id",
    "generate_registry_corpus",
    "level",
    "load_registry_manifest",
    "member_document",
    "shoot",
    "template",
]


if __name__ == "__main__":
    raise SystemExit(main())
