"""DOCX → PDF through LibreOffice (generation time only), then the rendered page: its raster
through MuPDF, where each `Mark` landed, the red rules, and the seal stamped onto the PDF.

LibreOffice is the second model's typesetter on purpose: line breaking, table layout and font
fallback are another program's, not the first model's PIL flow. The Fandol fonts (仿宋, 宋,
黑, 楷) are used when found; fontconfig sees them through a private config, so nothing is
installed into the system.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pymupdf

from tests.corpus2.paper import Mark, Paper

FANDOL_DIRS = (
    Path("/tmp/fx/usr/share/texlive/texmf-dist/fonts/opentype/public/fandol"),
    Path("/usr/share/texlive/texmf-dist/fonts/opentype/public/fandol"),
    Path("/usr/share/fonts/opentype/fandol"),
)
FANDOL = {"fang": "FandolFang", "song": "FandolSong", "hei": "FandolHei", "kai": "FandolKai"}
FALLBACK = {
    "fang": "Noto Serif CJK SC",
    "song": "Noto Serif CJK SC",
    "hei": "Noto Sans CJK SC",
    "kai": "WenQuanYi Micro Hei",
}
FONT_FILES = {
    "fang": "FandolFang-Regular.otf",
    "song": "FandolSong-Bold.otf",
    "hei": "FandolHei-Regular.otf",
    "kai": "FandolKai-Regular.otf",
}
INSTALL_HINT = (
    "the second page model sets its pages with LibreOffice: "
    "apt-get install -y --no-install-recommends libreoffice-writer-nogui"
)

Box = tuple[float, float, float, float]


def fandol_dir(explicit: Path | None = None) -> Path | None:
    candidates = (explicit,) if explicit else FANDOL_DIRS
    for folder in candidates:
        if folder and all((folder / name).is_file() for name in FONT_FILES.values()):
            return folder
    return None


def families(fonts: Path | None) -> dict[str, str]:
    return dict(FANDOL if fonts else FALLBACK)


def _fontconfig(folder: Path, fonts: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if fonts is None:
        return env
    conf = folder / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
        '  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>\n'
        f"  <dir>{fonts}</dir>\n  <cachedir>{folder / 'fc-cache'}</cachedir>\n</fontconfig>\n"
    )
    env["FONTCONFIG_FILE"] = str(conf)
    return env


def convert(docx: Sequence[bytes], fonts: Path | None) -> list[bytes]:
    """PDF bytes for each DOCX, in one LibreOffice run (its start-up is most of the cost)."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        raise RuntimeError(INSTALL_HINT)
    with tempfile.TemporaryDirectory(prefix="corpus2-lo-") as tmp:
        folder = Path(tmp)
        names = []
        for i, data in enumerate(docx):
            (folder / f"{i:05d}.docx").write_bytes(data)
            names.append(str(folder / f"{i:05d}.docx"))
        command = [
            soffice,
            "--headless",
            "--norestore",
            f"-env:UserInstallation=file://{folder / 'profile'}",
            "--convert-to",
            "pdf",
            "--outdir",
            str(folder / "pdf"),
            *names,
        ]
        subprocess.run(
            command, env=_fontconfig(folder, fonts), check=True, capture_output=True, timeout=1800
        )
        return [(folder / "pdf" / f"{i:05d}.pdf").read_bytes() for i in range(len(docx))]


# --- the rendered page -------------------------------------------------------------------


@dataclass
class Rendered:
    """Page 1 of a rendered Paper: PDF bytes (seal included) and element boxes in points."""

    pdf: bytes
    size: tuple[float, float]
    boxes: dict[str, list[Box]]
    """Mark name → boxes on page 1 (absent: not on page 1)."""
    pages: int


def _is_red(colour: Sequence[float] | None) -> bool:
    if not colour:
        return False
    r, g, b = colour[:3]
    return r > 0.6 and g < 0.3 and b < 0.3


def red_rules(page: pymupdf.Page) -> list[Box]:
    """Full-width red strokes (rules, a red table's top border), top to bottom. Segments on
    one level are one rule: a party organ's rule is two halves with a star between them."""
    width = page.rect.width
    levels: dict[int, list[Box]] = {}
    for drawing in page.get_drawings():
        colour = drawing.get("color") or drawing.get("fill")
        rect = drawing["rect"]
        if _is_red(colour) and rect.width > 0.1 * width and rect.height < 8:
            box = (rect.x0, rect.y0 - 1, rect.x1, rect.y1 + 1)
            levels.setdefault(round(rect.y0 / 3), []).append(box)
    rules = []
    for segments in levels.values():
        x0, y0 = min(b[0] for b in segments), min(b[1] for b in segments)
        x1, y1 = max(b[2] for b in segments), max(b[3] for b in segments)
        if x1 - x0 > 0.6 * width:
            rules.append((x0, y0, x1, y1))
    return sorted(rules, key=lambda b: b[1])


# LibreOffice sets a thin space between digits and an ideograph (Word's autospace), and its
# text layer keeps some of them: `36 号`, `2019 年4 月1 日`.
_AUTOSPACE = (
    re.compile(r"(?<=\d)(?=[\u4e00-\u9fff])"),
    re.compile(r"(?<=\d)(?=[\u4e00-\u9fff])|(?<=[\u4e00-\u9fff])(?=\d)"),
)


def _search(page: pymupdf.Page, needle: str) -> list[pymupdf.Rect]:
    for variant in (needle, *(pattern.sub(" ", needle) for pattern in _AUTOSPACE)):
        hits = page.search_for(variant)
        if hits:
            return hits
    return []


def _above(hits: list[pymupdf.Rect], box: Box) -> list[pymupdf.Rect]:
    """The hit standing on the line right above `box` (a signature above its date)."""
    return [h for h in hits if 0 <= box[1] - h.y1 < 40][-1:]


def _find(page: pymupdf.Page, mark: Mark, found: dict[str, list[Box]]) -> Box | None:
    hits = _search(page, mark.needle)
    above = mark.attrs.get("above")
    if above:
        hits = _above(hits, found[above][0]) if above in found else []
    if not hits:
        return None
    joint = mark.attrs.get("joint")
    if joint:  # every stacked organ name, and the 文件 beside them
        rects = [_search(page, name)[:1] for name in joint] + [_search(page, "文件")[:1]]
        flat = [rect for group in rects for rect in group] or hits[:1]
        return (
            min(r.x0 for r in flat),
            min(r.y0 for r in flat),
            max(r.x1 for r in flat),
            max(r.y1 for r in flat),
        )
    rect = hits[0]
    return (rect.x0, rect.y0, rect.x1, rect.y1)


def _rule_near(rules: list[Box], below: float) -> list[Box]:
    """The first red rule under the organ mark, with its twin when it is a double rule."""
    after = [b for b in rules if b[1] >= below - 2]
    if not after:
        return []
    first = after[0]
    return [b for b in after if b[1] - first[1] < 8]


def render(paper: Paper, pdf: bytes, seal_seed: int) -> Rendered:
    doc = pymupdf.open(stream=pdf, filetype="pdf")
    page = doc[0]
    boxes: dict[str, list[Box]] = {}
    # Marks that are placed relative to another (a signature above its date) come last.
    for mark in sorted(paper.marks, key=lambda m: "above" in m.attrs):
        box = _find(page, mark, boxes)
        if box is not None:
            boxes.setdefault(mark.name, []).append(box)
    if "organ_mark" in boxes and paper.red_rules:
        rule = _rule_near(red_rules(page), boxes["organ_mark"][0][3])
        if rule:
            boxes["rule"] = rule
    if paper.seal_under and "signature" in boxes:
        boxes["seal"] = [stamp(page, boxes["signature"][0], paper.seal_under, seal_seed)]
    doc.set_metadata({"author": paper.organ.office, "producer": "", "creator": ""})
    out = doc.tobytes(garbage=3, deflate=True, no_new_id=True)
    return Rendered(out, (page.rect.width, page.rect.height), boxes, doc.page_count)


def stamp(page: pymupdf.Page, over: Box, text: str, seed: int) -> Box:
    """A round red seal drawn into the PDF over the signing organ's name: ring, star, the
    organ's name along the upper arc. Ink is translucent, as stamp ink lets text show."""
    x0, y0, x1, y1 = over
    radius = 60.0 + (seed % 7)
    cx = (x0 + x1) / 2 - (seed % 13)
    cy = (y0 + y1) / 2 + 6
    red = (0.86 - (seed % 5) * 0.02, 0.08, 0.1)
    shape = page.new_shape()
    shape.draw_circle((cx, cy), radius)
    shape.finish(color=red, width=3.2, fill=None, stroke_opacity=0.85)
    star = [
        (
            cx + (18 if i % 2 == 0 else 7) * math.cos(-math.pi / 2 + i * math.pi / 5),
            cy + (18 if i % 2 == 0 else 7) * math.sin(-math.pi / 2 + i * math.pi / 5),
        )
        for i in range(10)
    ]
    shape.draw_polyline([*star, star[0]])
    shape.finish(color=red, fill=red, width=0.5, fill_opacity=0.85, closePath=True)
    shape.commit()
    chars = list(text)
    span = min(math.radians(250), math.radians(22) * len(chars))
    font_size = 13.0
    for i, char in enumerate(chars):
        angle = -math.pi / 2 - span / 2 + span * (i + 0.5) / len(chars)
        px = cx + (radius - 16) * math.cos(angle)
        py = cy + (radius - 16) * math.sin(angle)
        rotate = pymupdf.Matrix(math.degrees(angle) + 90)
        point = pymupdf.Point(px - font_size / 2, py + font_size / 2)
        page.insert_text(
            point,
            char,
            fontsize=font_size,
            fontname="china-s",
            color=red,
            morph=(pymupdf.Point(px, py), rotate),
            fill_opacity=0.85,
        )
    return (cx - radius, cy - radius, cx + radius, cy + radius)


def rasterize(pdf: bytes, dpi: float) -> tuple[bytes, tuple[int, int]]:
    """Page 1 as PNG bytes at `dpi`."""
    doc = pymupdf.open(stream=pdf, filetype="pdf")
    pix = doc[0].get_pixmap(dpi=round(dpi), alpha=False)
    return pix.tobytes("png"), (pix.width, pix.height)
