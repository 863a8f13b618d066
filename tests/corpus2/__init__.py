"""The second page model: a seeded corpus written to differ from `tests/corpus` on purpose.

    python -m tests.corpus2 OUT_DIR --seed 11 --positives 200 --negatives 100

Pages are set by a word processor, not drawn line by line: each page is a `Paper`
(`paper.py`: GB/T 9704 forms and the telegram form, markings in varied places) written as
DOCX with python-docx and converted to PDF by LibreOffice at generation time, in the Fandol
fonts when found (`office.py`). The PDF page is rasterised by MuPDF and put into a scene
(`scenes.py`: digital original, phone photo, crop, far shot, chat thumbnail, scanned PDF,
government website, WeChat file preview, OA viewer, photo of a monitor). Negatives
(`lookalikes.py`) are red look-alikes and other hard negatives.

The manifest has the first corpus's format (`tests.corpus.CorpusItem`), so
`benchmarks/scan.py --model 2` scores it alike; `facts` carries `form` and `scene`, and
`category` is positive | lookalike | hard_negative. Every item is a function of (seed, role,
index) and of the fonts found (recorded in `facts`).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pymupdf
from PIL import Image

from tests.corpus import MANIFEST, CorpusItem, rngs
from tests.corpus import labels as lb
from tests.corpus2 import docx as dx
from tests.corpus2 import lookalikes as lk
from tests.corpus2 import office as of
from tests.corpus2 import scenes as sc
from tests.corpus2 import truth as tr
from tests.corpus2.paper import FORMS, Paper, make_paper

SCENES: tuple[str, ...] = (
    "digital",
    "pdf_text",
    "phone_photo",
    "crop",
    "far_shot",
    "thumbnail",
    "scanned_pdf",
    "website",
    "wechat_preview",
    "oa_viewer",
    "monitor_photo",
)
NEGATIVE_SCENES: dict[str, tuple[str, ...]] = {
    "community_notice": ("phone_photo", "phone_photo", "digital", "thumbnail", "crop"),
    "red_heading_pdf": ("pdf_text", "pdf_text", "digital", "scanned_pdf", "wechat_preview"),
    "gate_plaque": ("phone_photo",),
    "banner": ("phone_photo", "digital"),
    "chat": ("digital",),
    "news_quote": ("digital", "website", "phone_photo"),
}
DRAWN_SCENES = ("phone_photo", "phone_photo", "digital", "thumbnail", "crop")
BODY_PT = 16.0
"""Body text size of the forms (三号), for glyph-size targets of far shots and thumbnails."""


@dataclass
class _Job:
    role: str
    index: int
    kind: str
    scene: str
    paper: Paper | None
    docx: bytes | None
    seed: int


def _grid(seed: int) -> list[tuple[str, str]]:
    """Form × scene cells in a seeded order: any 77 positives in a row cover every cell."""
    cells = [(form, scene) for form in FORMS for scene in SCENES]
    random.Random(f"{seed}:corpus2-grid").shuffle(cells)
    return cells


def _positive_job(seed: int, index: int, families: dict[str, str]) -> _Job:
    form, scene = _grid(seed)[index % (len(FORMS) * len(SCENES))]
    r, _ = rngs(seed, "c2-pos", index)
    paper = make_paper(r, form)
    return _Job(
        "pos",
        index,
        form,
        scene,
        paper,
        dx.write_docx(paper, dx.ink(r, families)),
        r.randint(0, 2**31),
    )


def _negative_job(seed: int, index: int, families: dict[str, str]) -> _Job:
    kind = lk.KINDS[index % len(lk.KINDS)]
    r, _ = rngs(seed, "c2-neg", index)
    scene = r.choice(NEGATIVE_SCENES.get(kind, DRAWN_SCENES))
    if kind in lk.SET_AS_DOCX:
        paper = lk.paper_negative(r, kind)
        return _Job(
            "neg",
            index,
            kind,
            scene,
            paper,
            dx.write_docx(paper, dx.ink(r, families)),
            r.randint(0, 2**31),
        )
    return _Job("neg", index, kind, scene, None, None, r.randint(0, 2**31))


# --- pictures ------------------------------------------------------------------------------


def _dpi(scene: str, g: np.random.Generator) -> float:
    """Raster resolution of the page before the scene: photos and scans need detail."""
    if scene in ("phone_photo", "crop", "far_shot", "monitor_photo", "scanned_pdf"):
        return float(g.uniform(170, 210))
    return float(g.uniform(120, 160))


def _shoot(
    scene: str, page: np.ndarray, g: np.random.Generator, dpi: float, org: str, name: str
) -> sc.Shot:
    glyph = BODY_PT / 72 * dpi
    if scene == "phone_photo":
        return sc.photo(page, g)
    if scene == "crop":
        return sc.crop(sc.photo(page, g) if g.random() < 0.6 else sc.digital(page, g), g)
    if scene == "far_shot":
        return sc.far_shot(page, g, glyph)
    if scene == "thumbnail":
        return sc.thumbnail(page, g, glyph)
    if scene == "scanned_pdf":
        return sc.scanned(page, g)
    if scene == "website":
        return sc.website(page, g, org)
    if scene == "wechat_preview":
        return sc.wechat_preview(page, g, name)
    if scene == "oa_viewer":
        return sc.oa_viewer(page, g, org)
    if scene == "monitor_photo":
        return sc.monitor_photo(page, g, org)
    return sc.digital(page, g)


def _encode(scene: str, shot: sc.Shot, g: np.random.Generator) -> tuple[bytes, str]:
    if scene == "scanned_pdf":
        jpeg, _ = sc.encode(shot, g, quality=int(g.integers(55, 85)))
        doc = pymupdf.open()
        h, w = shot.pixels.shape[:2]
        page = doc.new_page(width=w * 72 / 200, height=h * 72 / 200)
        page.insert_image(page.rect, stream=jpeg)
        return doc.tobytes(garbage=3, deflate=True, no_new_id=True), "pdf"
    png = scene in ("digital", "website", "oa_viewer") or (
        scene == "wechat_preview" and g.random() < 0.6
    )
    quality = int(g.integers(45, 75)) if scene == "thumbnail" else None
    return sc.encode(shot, g, png=png, quality=quality)


def _page_pixels(pdf: bytes, dpi: float) -> np.ndarray:
    png, _ = of.rasterize(pdf, dpi)
    import io

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _positive(job: _Job, pdf: bytes, fonts: str) -> tuple[str, bytes, CorpusItem]:
    assert job.paper is not None
    paper = job.paper
    rendered = of.render(paper, pdf, job.seed)
    attrs = {m.name: m.attrs for m in paper.marks}
    facts: dict[str, Any] = dict(
        paper.facts, scene=job.scene, renderer="libreoffice", fonts=fonts, pages=rendered.pages
    )
    facts["on_page"] = sorted(rendered.boxes)
    stem = f"positives/p_{job.index:04d}_{job.kind}_{job.scene}"
    if job.scene == "pdf_text":
        label = tr.labels(rendered.boxes, attrs, lambda b: 1.0, colour=True)
        data, ext = rendered.pdf, "pdf"
    else:
        g = np.random.default_rng(job.seed)
        dpi = _dpi(job.scene, g)
        page = _page_pixels(rendered.pdf, dpi)
        shot = _shoot(job.scene, page, g, dpi, paper.organ.name, paper.facts["organ"] + ".pdf")
        k = dpi / 72
        label = tr.labels(
            rendered.boxes,
            attrs,
            lambda b: shot.view.visible((b[0] * k, b[1] * k, b[2] * k, b[3] * k)),
            colour=shot.colour,
        )
        data, ext = _encode(job.scene, shot, g)
        facts["capture"] = shot.params
        facts["body_glyph_px"] = round(BODY_PT / 72 * dpi * shot.view.scale(), 1)
    facts["alert_expected"] = tr.alert_expected(label)
    item = CorpusItem(
        f"{stem}.{ext}", job.scene, False, label.expect, label.uncertain, "positive", facts
    )
    return item.path, data, item


def _negative(job: _Job, pdf: bytes | None, fonts: str) -> tuple[str, bytes, CorpusItem]:
    g = np.random.default_rng(job.seed)
    facts: dict[str, Any] = {"form": job.kind, "scene": job.scene, "fonts": fonts}
    seal: bool | None = False
    if pdf is not None:
        facts["renderer"] = "libreoffice"
        page = None if job.scene == "pdf_text" else _page_pixels(pdf, _dpi(job.scene, g))
    else:
        drawing, lookalike, seal = lk.DRAWN[job.kind]
        facts["renderer"] = "pil"
        page = np.asarray(drawing(random.Random(job.seed)).convert("RGB"))
    lookalike = job.kind in lk.SET_AS_DOCX or lk.DRAWN.get(job.kind, (None, False, None))[1]
    category = "lookalike" if lookalike else "hard_negative"
    stem = f"negatives/n_{job.index:04d}_{job.kind}_{job.scene}"
    if page is None:
        assert pdf is not None
        data, ext = pdf, "pdf"
    else:
        glyph = 0.03 * page.shape[1]  # drawn negatives: ~30 glyphs across the picture
        if job.kind == "gate_plaque":
            shot = sc.photo(page, g, fill=1.05)
        else:
            shot = _shoot(job.scene, page, g, glyph * 72 / BODY_PT, "江湾市人民政府", "附件.pdf")
        data, ext = _encode(job.scene, shot, g)
        facts["capture"] = shot.params
    label = tr.negative_labels(seal=seal)
    item = CorpusItem(
        f"{stem}.{ext}", job.scene, True, label.expect, label.uncertain, category, facts
    )
    return item.path, data, item


# --- the corpus ------------------------------------------------------------------------------


def plan(seed: int, positives: int, negatives: int, families: dict[str, str]) -> list[_Job]:
    jobs = [_positive_job(seed, i, families) for i in range(positives)]
    return jobs + [_negative_job(seed, i, families) for i in range(negatives)]


def generate(
    out_dir: Path,
    *,
    seed: int,
    positives: int = 200,
    negatives: int = 100,
    fonts: Path | None = None,
) -> list[CorpusItem]:
    """Writes the corpus under `out_dir` (and `manifest.jsonl`) and returns its items."""
    out_dir = Path(out_dir)
    font_dir = of.fandol_dir(fonts)
    font_set = "fandol" if font_dir else "noto"
    jobs = plan(seed, positives, negatives, of.families(font_dir))
    with_docx = [job for job in jobs if job.docx is not None]
    pdfs = dict(
        zip(
            (id(j) for j in with_docx),
            of.convert([j.docx for j in with_docx if j.docx], font_dir),
            strict=True,
        )
    )
    items = []
    for job in jobs:
        pdf = pdfs.get(id(job))
        if job.role == "pos":
            assert pdf is not None
            path, data, item = _positive(job, pdf, font_set)
        else:
            path, data, item = _negative(job, pdf, font_set)
        target = out_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        items.append(item)
    with (out_dir / MANIFEST).open("w", encoding="utf-8") as manifest:
        for item in items:
            manifest.write(json.dumps(item.to_json(), ensure_ascii=False) + "\n")
    return items


__all__ = ["MANIFEST", "SCENES", "generate", "lb", "plan"]
