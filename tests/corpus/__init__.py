"""A seeded, deterministic corpus of leaked-document look-alikes and hard negatives.

    from tests.corpus import generate
    items = generate(Path("out"), seed=7, positives=220, negatives=160)

writes pictures and files under `out/` and one JSON line per item to `out/manifest.jsonl`:
`path`, `kind` (capture kind or file type), `negative` (a hard negative: the scan must be
CLEAN), `expect` (detector name → must fire), `uncertain` (detectors whose answer is a
judgement call on this item: leave them out of both recall and false-alert counts),
`category` (positive | body_page | masked | hard_negative | file) and `facts` (what is on it).

Every item is a pure function of (seed, role, index): items do not depend on each other, on
the counts asked for, or on how many worker processes make them.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.corpus import capture as cp
from tests.corpus import files as fl
from tests.corpus import labels as lb
from tests.corpus import negatives as ng
from tests.corpus import text as tx
from tests.corpus.document import Document, make_document
from tests.corpus.render import PageSpec, body_only_pages, layout, mask_header, rasterize

DETECTORS = lb.DETECTORS
MANIFEST = "manifest.jsonl"

POSITIVE_CAPTURES: dict[str, float] = {
    "photo": 40,
    "photo_header": 20,
    "photo_rotated": 10,
    "photo_folded": 10,
    "photo_screen": 12,
    "scan": 10,
    "screenshot": 8,
}
PHOTO_KINDS = frozenset({"photo", "photo_header", "photo_rotated", "photo_folded", "photo_screen"})


@dataclass(frozen=True)
class CorpusItem:
    path: str
    """Relative to the corpus directory."""
    kind: str
    negative: bool
    expect: dict[str, bool]
    uncertain: tuple[str, ...] = ()
    category: str = ""
    facts: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "negative": self.negative,
            "expect": self.expect,
            "uncertain": list(self.uncertain),
            "category": self.category,
            "facts": self.facts,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CorpusItem:
        return cls(
            data["path"],
            data["kind"],
            data["negative"],
            data["expect"],
            tuple(data.get("uncertain", ())),
            data.get("category", ""),
            data.get("facts", {}),
        )


Output = tuple[str, bytes, CorpusItem]


def rngs(seed: int, *key: object) -> tuple[random.Random, np.random.Generator]:
    """Independent generators for one item, derived from the corpus seed and the item's key."""
    digest = hashlib.sha256(":".join(map(str, (seed, *key))).encode()).digest()
    return random.Random(digest), np.random.default_rng(int.from_bytes(digest[:16], "little"))


def _seed_int(seed: int, *key: object) -> int:
    digest = hashlib.sha256(":".join(map(str, (seed, "int", *key))).encode()).digest()
    return int.from_bytes(digest[:8], "little")


# --- pictures -----------------------------------------------------------------------------


def _render_scale(kind: str, megapixels: float | None) -> float:
    """Pages for big photos are drawn at a higher resolution, so text stays sharp."""
    if not megapixels or kind not in PHOTO_KINDS - {"photo_screen"}:
        return 1.0
    long_side = (megapixels * 1e6 * 4 / 3) ** 0.5
    return max(1.0, long_side * 0.95 / 1754)


def _picture(
    spec: PageSpec,
    kind: str,
    g: np.random.Generator,
    megapixels: float | None,
    path: str,
    category: str,
    negative: bool,
) -> Output:
    image = rasterize(spec)
    shot = cp.capture(
        image,
        [e.box for e in spec.elements],
        kind,
        g,
        megapixels=megapixels if kind in PHOTO_KINDS else None,
    )
    seen = {id(e): v for e, v in zip(spec.elements, shot.visible, strict=True)}
    labels = lb.page_labels(spec, lambda e: seen[id(e)], colour=shot.colour)
    facts = dict(
        spec.facts,
        page=spec.page_no,
        pages=spec.page_count,
        size=[shot.width, shot.height],
        capture=shot.params,
    )
    item = CorpusItem(
        f"{path}.{shot.ext}", kind, negative, labels.expect, labels.uncertain, category, facts
    )
    return item.path, shot.data, item


def _capture_kind(r: random.Random, weights: dict[str, float]) -> str:
    return r.choices(list(weights), weights=list(weights.values()))[0]


def _pick_page(pages: list[PageSpec], r: random.Random) -> PageSpec:
    """Mostly the first page; sometimes a later page with the seal, colophon or a list."""
    later = [p for p in pages[1:] if p.has("seal") or p.has("colophon") or p.has("pd_row")]
    return r.choice(later) if later and r.random() < 0.25 else pages[0]


def positive(seed: int, index: int, megapixels: float | None) -> Output:
    """A capture of a page that some detector must fire on (retries until one must)."""
    out: Output | None = None
    for attempt in range(10):
        r, g = rngs(seed, "pos", index, attempt)
        kind = _capture_kind(r, POSITIVE_CAPTURES)
        pages = layout(
            make_document(r),
            r,
            scale=_render_scale(kind, megapixels),
            seed=_seed_int(seed, "pos", index, attempt),
        )
        out = _picture(
            _pick_page(pages, r),
            kind,
            g,
            megapixels,
            f"photos/pos_{index:04d}",
            "positive",
            negative=False,
        )
        if any(out[2].expect.values()):
            return out
    assert out is not None
    return out


def body_page(seed: int, index: int, megapixels: float | None) -> Output:
    """Page 2+ of a document: body text only. Not a hard negative, but no header either."""
    for attempt in range(30):
        r, g = rngs(seed, "body", index, attempt)
        doc = make_document(r, r.choice(("file", "upward", "letter", "internal")))
        doc.paragraphs = doc.paragraphs + tx.body(r, doc.organ, paragraphs=10)
        kind = _capture_kind(r, POSITIVE_CAPTURES)
        pages = layout(
            doc,
            r,
            scale=_render_scale(kind, megapixels),
            seed=_seed_int(seed, "body", index, attempt),
        )
        plain = body_only_pages(pages)
        if plain:
            return _picture(
                r.choice(plain),
                kind,
                g,
                megapixels,
                f"photos/body_{index:04d}",
                "body_page",
                negative=False,
            )
    raise RuntimeError("no body-only page in 30 documents")


def masked(seed: int, index: int, megapixels: float | None) -> Output:
    """The first page with header and marking covered, as copies made to spread it are."""
    r, g = rngs(seed, "masked", index)
    doc = make_document(r, r.choice(("file", "file", "telegram", "letter", "upward")))
    kind = _capture_kind(r, POSITIVE_CAPTURES)
    pages = layout(
        doc, r, scale=_render_scale(kind, megapixels), seed=_seed_int(seed, "masked", index)
    )
    spec = mask_header(pages[0], r)
    return _picture(
        spec, kind, g, megapixels, f"photos/masked_{index:04d}", "masked", negative=False
    )


def negative(seed: int, index: int, megapixels: float | None) -> Output:
    """A hard negative. Kinds go round in a seeded order, so any 13 in a row cover them all."""
    order = sorted(ng.GENERATORS)
    random.Random(f"{seed}:neg-order").shuffle(order)
    kind = order[index % len(order)]
    r, g = rngs(seed, "neg", index)
    spec = ng.make_negative(r, _seed_int(seed, "neg", index), kind)
    capture_kind = r.choice(ng.CAPTURE_KINDS.get(kind, ng.DEFAULT_CAPTURES))
    return _picture(
        spec,
        capture_kind,
        g,
        megapixels,
        f"negatives/neg_{index:04d}_{kind}",
        "hard_negative",
        negative=True,
    )


# --- files ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _File:
    name: str
    data: bytes
    labels: lb.Labels
    negative: bool = False
    facts: dict[str, Any] = field(default_factory=dict)


def _doc(
    r: random.Random, form: str | None, want: Callable[[Document], bool] = lambda d: True
) -> Document:
    for _ in range(200):
        doc = make_document(r, form)
        if want(doc):
            return doc
    raise RuntimeError("no document with the wanted elements")


def _pages(r: random.Random, doc: Document, seed: int) -> list[PageSpec]:
    return layout(doc, r, seed=seed)


def _pages_labels(pages: list[PageSpec]) -> lb.Labels:
    return lb.merge(lb.page_labels(p) for p in pages)


def _facts(doc: Document) -> dict[str, Any]:
    return {
        "form": doc.form,
        "organ": doc.organ.name,
        "title": doc.title,
        "classification": doc.classification,
        "doc_number": doc.doc_number,
    }


def _pdf(r: random.Random, seed: int, form: str, variant: str) -> _File:
    doc = _doc(r, form)
    pages = _pages(r, doc, seed)
    header_as = {"header_image": "image", "header_outline": "outline"}.get(variant)
    font_mode = "builtin_serif" if variant == "builtin_font" else "embedded"
    data = fl.pdf_text(
        pages, title=doc.title, header_as=header_as, font_mode=font_mode, author=doc.organ.office
    )
    return _File("pdf", data, _pages_labels(pages), facts=_facts(doc) | {"variant": variant})


def _pdf_scanned(r: random.Random, seed: int, form: str, variant: str) -> _File:
    doc = _doc(r, form)
    pages = _pages(r, doc, seed)
    data = fl.pdf_scanned([rasterize(p) for p in pages], quality=r.randint(55, 85))
    return _File("pdf", data, _pages_labels(pages), facts=_facts(doc) | {"variant": variant})


def _docx(r: random.Random, seed: int, form: str, variant: str) -> _File:
    security = variant == "security_property"
    doc = _doc(r, form, (lambda d: d.classification is not None) if security else lambda d: True)
    data = fl.docx(doc, r, security_property=security)
    labels = lb.document_labels(doc, colour=True, seal=False)
    return _File("docx", data, labels, facts=_facts(doc) | {"variant": variant})


def _ofd(r: random.Random, seed: int, form: str, variant: str) -> _File:
    doc = _doc(r, form)
    pages = _pages(r, doc, seed)
    custom = {"密级": doc.classification[:2]} if doc.classification else None
    data = fl.ofd(
        pages,
        title=doc.title,
        author=doc.organ.office,
        outline_mark=variant == "outline_mark",
        custom=custom,
    )
    return _File("ofd", data, _pages_labels(pages), facts=_facts(doc) | {"variant": variant})


def _txt(r: random.Random, seed: int, form: str, variant: str) -> _File:
    doc = _doc(r, form)
    data = fl.txt(doc, encoding=variant)
    return _File(
        "txt",
        data,
        lb.document_labels(doc, colour=False, seal=False),
        facts=_facts(doc) | {"variant": variant},
    )


def _xlsx(r: random.Random, seed: int, form: str, variant: str) -> _File:
    rows = tx.person_rows(r, r.randint(6, 30))
    marking = tx.handling(r)
    on_first = variant == "marking_cell"
    data = fl.xlsx(
        rows,
        title=tx.list_title(r),
        marking=marking if on_first else None,
        marking_sheet=None if on_first else "内部",
        security=r.choice((None, "内部")),
    )
    return _File(
        "xlsx",
        data,
        lb.fixed("personal_data", "handling_marking"),
        facts={"variant": variant, "rows": len(rows)},
    )


def _pptx(r: random.Random, seed: int, form: str, variant: str) -> _File:
    org = tx.organ(r)
    classified = r.random() < 0.5
    marking = tx.classification(r) if classified else tx.handling(r, org)
    data = fl.pptx(
        title=tx.title(r, org, "汇报"),
        bullets=r.sample(tx.HEADINGS, k=4),
        marking=marking,
        organ=org.name,
    )
    labels = lb.fixed("classification_marking" if classified else "handling_marking")
    return _File("pptx", data, labels, facts={"marking": marking})


def _csv(r: random.Random, seed: int, form: str, variant: str) -> _File:
    rows = tx.person_rows(r, r.randint(5, 40))
    data = fl.csv_rows(rows, encoding=variant)
    return _File(
        "csv", data, lb.fixed("personal_data"), facts={"variant": variant, "rows": len(rows)}
    )


def _zip(r: random.Random, seed: int, form: str, variant: str) -> _File:
    """An archive of a PDF, a DOCX and a CSV; nested: that archive inside another one."""
    members = [
        _pdf(r, seed, "file", "text"),
        _docx(r, seed + 1, "internal", "plain"),
        _csv(r, seed, "", "gb18030"),
    ]
    data = fl.zip_bytes({f"附件{i + 1}.{m.name}": m.data for i, m in enumerate(members)})
    labels = lb.merge(m.labels for m in members)
    if variant == "nested":
        notes = "请查收。".encode()
        data = fl.zip_bytes({"材料汇总.zip": data, "说明.txt": notes})
    return _File(
        "zip", data, labels, facts={"variant": variant, "members": [m.name for m in members]}
    )


# Negative files: must scan clean.


def _neg_picture_pdf(r: random.Random, seed: int, form: str, variant: str) -> _File:
    spec = ng.make_negative(r, seed, variant)
    data = fl.pdf_scanned([rasterize(spec)], quality=80)
    return _File("pdf", data, lb.page_labels(spec), negative=True, facts={"variant": variant})


def _neg_novel_txt(r: random.Random, seed: int, form: str, variant: str) -> _File:
    paras = ["".join(r.sample(ng.NOVEL, k=3)) for _ in range(6)]
    data = ("第三章　秘密\n\n" + "\n".join("    " + p for p in paras)).encode(variant)
    return _File("txt", data, lb.fixed(), negative=True, facts={"variant": variant})


def _neg_orders_csv(r: random.Random, seed: int, form: str, variant: str) -> _File:
    """18-digit order numbers that are not ID numbers (no region, no birth date, bad check)."""
    rows = []
    for _ in range(r.randint(10, 30)):
        number = f"2024{r.randint(10, 12)}{r.randint(32, 39)}{r.randint(10**9, 10**10 - 1)}"
        if tx.id_valid(number):
            number = number[:17] + str((int(number[17]) + 1) % 10)
        rows.append(
            [
                number,
                r.choice(("打印纸", "墨盒", "文件夹", "签字笔")),
                str(r.randint(1, 20)),
                f"{r.uniform(5, 500):.2f}",
            ]
        )
    data = fl.csv_rows(rows, header=("订单号", "商品", "数量", "金额"), encoding=variant)
    return _File("csv", data, lb.fixed(), negative=True, facts={"variant": variant})


def _neg_notice_docx(r: random.Random, seed: int, form: str, variant: str) -> _File:
    """A company party notice: 内部/秘密 only in prose, black, no header."""
    org = tx.organ(r)
    doc = Document(
        form="internal",
        organ=org,
        title="关于举办年终联欢聚餐活动的通知",
        paragraphs=[
            tx.Paragraph("body", t)
            for t in (
                "公司内部聚餐定于本周五晚六点在三楼食堂举行，请各部门统计参加人数。",
                "节目内容暂时保密，届时给大家一个惊喜。这是我们之间的秘密，请勿提前透露。",
                "内部人员可携带一名家属参加。",
            )
        ],
        date=tx.date_text(r, tx.date(r)),
        signature=org.name + "工会",
    )
    return _File("docx", fl.docx(doc, r), lb.fixed(), negative=True, facts={"variant": variant})


FileMaker = Callable[[random.Random, int, str, str], _File]
FILE_PLAN: tuple[tuple[FileMaker, str, str], ...] = (
    (_pdf, "file", "text"),
    (_pdf, "upward", "text"),
    (_pdf, "letter", "text"),
    (_pdf, "telegram", "text"),
    (_pdf, "minutes", "builtin_font"),
    (_pdf, "list", "text"),
    (_pdf, "file", "header_image"),
    (_pdf, "file", "header_outline"),
    (_pdf_scanned, "file", "scanned"),
    (_pdf_scanned, "internal", "scanned"),
    (_docx, "file", "plain"),
    (_docx, "file", "security_property"),
    (_docx, "internal", "plain"),
    (_docx, "list", "plain"),
    (_xlsx, "", "marking_cell"),
    (_xlsx, "", "marking_sheet"),
    (_pptx, "", "slide"),
    (_ofd, "file", "text"),
    (_ofd, "letter", "text"),
    (_ofd, "file", "outline_mark"),
    (_txt, "file", "utf-8"),
    (_txt, "internal", "gb18030"),
    (_csv, "", "utf-8-sig"),
    (_zip, "", "flat"),
    (_zip, "", "nested"),
    (_neg_picture_pdf, "", "e_invoice"),
    (_neg_picture_pdf, "", "web_article"),
    (_neg_novel_txt, "", "gb18030"),
    (_neg_orders_csv, "", "utf-8-sig"),
    (_neg_notice_docx, "", "notice"),
)


def file_item(seed: int, index: int, megapixels: float | None) -> Output:
    maker, form, variant = FILE_PLAN[index]
    r, _ = rngs(seed, "file", index)
    made = maker(r, _seed_int(seed, "file", index) % 2**31, form, variant)
    path = f"files/{index:02d}_{made.name}_{variant}.{made.name}"
    facts = dict(made.facts, variant=variant)
    item = CorpusItem(
        path,
        made.name,
        made.negative,
        made.labels.expect,
        made.labels.uncertain,
        "hard_negative" if made.negative else "file",
        facts,
    )
    return path, made.data, item


# --- the corpus -----------------------------------------------------------------------------

ROLES: dict[str, Callable[[int, int, float | None], Output]] = {
    "pos": positive,
    "body": body_page,
    "masked": masked,
    "neg": negative,
    "file": file_item,
}


def _run(job: tuple[str, int, int, float | None]) -> Output:
    role, seed, index, megapixels = job
    return ROLES[role](seed, index, megapixels)


def plan(
    seed: int, positives: int, negatives: int, files: bool, megapixels: float | None
) -> list[tuple[str, int, int, float | None]]:
    """The jobs of a corpus, in manifest order."""
    extras = {
        "body": positives // 10 + (positives > 0),
        "masked": positives // 20 + (positives > 0),
    }
    jobs = [("pos", seed, i, megapixels) for i in range(positives)]
    for role, count in extras.items():
        jobs += [(role, seed, i, megapixels) for i in range(count)]
    jobs += [("neg", seed, i, megapixels) for i in range(negatives)]
    if files:
        jobs += [("file", seed, i, None) for i in range(len(FILE_PLAN))]
    return jobs


def _results(jobs: list[tuple[str, int, int, float | None]], workers: int) -> Iterator[Output]:
    if workers <= 1:
        yield from map(_run, jobs)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_run, jobs, chunksize=2)


def generate(
    out_dir: Path,
    *,
    seed: int,
    positives: int,
    negatives: int,
    files: bool = True,
    photo_megapixels: float | None = None,
    workers: int = 1,
) -> list[CorpusItem]:
    """Writes the corpus under `out_dir` and returns its items (also in manifest.jsonl).

    positives: captures of document pages that some detector must fire on (plus about 10%
    body-only pages and 5% masked copies as extra, non-hard-negative items); negatives: hard
    negatives; files: the FILE_PLAN set of PDF/DOCX/XLSX/PPTX/OFD/TXT/CSV/ZIP files;
    photo_megapixels: size of photo captures (e.g. 12 for 4000x3000), default a mix ≤ 3 MP.
    """
    out_dir = Path(out_dir)
    items: list[CorpusItem] = []
    for path, data, item in _results(
        plan(seed, positives, negatives, files, photo_megapixels), workers
    ):
        target = out_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        items.append(item)
    with (out_dir / MANIFEST).open("w", encoding="utf-8") as manifest:
        for item in items:
            manifest.write(json.dumps(item.to_json(), ensure_ascii=False) + "\n")
    return items


def load_manifest(out_dir: Path) -> list[CorpusItem]:
    lines = (Path(out_dir) / MANIFEST).read_text(encoding="utf-8").splitlines()
    return [CorpusItem.from_json(json.loads(line)) for line in lines if line.strip()]


__all__ = [
    "DETECTORS",
    "FILE_PLAN",
    "MANIFEST",
    "CorpusItem",
    "generate",
    "load_manifest",
    "plan",
    "rngs",
]
