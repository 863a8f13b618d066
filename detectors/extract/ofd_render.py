"""Drawing OFD graphic units onto an RGB page image: paths, text and pictures.

Coordinates are page millimetres (GB/T 33190 units); the canvas scales them to pixels. Only
what the red-header and seal detectors and OCR need is drawn: no clipping, blending or
pattern fills.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from detectors.extract.fonts import FontBook
from detectors.model import RgbImage

Point = tuple[float, float]
Matrix = tuple[float, float, float, float, float, float]
Rgb = tuple[int, int, int]

IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
CURVE_STEPS = 12
"""Straight segments per Bézier curve: smooth enough for a seal's ring at 110 dpi."""

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_TOKEN = re.compile(r"[A-Za-z]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
# Operands per command of AbbreviatedData (GB/T 33190 §9.3.3).
_OPERANDS = {"S": 2, "M": 2, "L": 2, "Q": 4, "B": 6, "A": 7, "C": 0, "Z": 0}


@dataclass
class Subpath:
    points: list[Point]
    closed: bool = False


def numbers(text: str | None) -> list[float]:
    return [float(n) for n in _NUMBER.findall(text or "")]


def parse_matrix(text: str | None) -> Matrix:
    values = numbers(text)
    if len(values) != 6:
        return IDENTITY
    a, b, c, d, e, f = values
    return a, b, c, d, e, f


def apply(matrix: Matrix, point: Point) -> Point:
    a, b, c, d, e, f = matrix
    x, y = point
    return a * x + c * y + e, b * x + d * y + f


def matrix_scale(matrix: Matrix) -> float:
    """How much the matrix scales lengths (for font sizes and line widths)."""
    a, b, c, d, _, _ = matrix
    return math.sqrt(abs(a * d - b * c)) or 1.0


def parse_path(data: str, max_points: int = 200_000) -> list[Subpath]:
    """AbbreviatedData ("M 0 0 L 10 0 B … C") as polylines; unknown commands are skipped."""
    tokens = _TOKEN.findall(data)
    subpaths: list[Subpath] = []
    current: Subpath | None = None
    pos, count = 0, 0
    while pos < len(tokens) and count < max_points:
        command = tokens[pos].upper()
        pos += 1
        if command not in _OPERANDS:
            continue  # a stray number or an unknown command
        try:
            args = [float(t) for t in tokens[pos : pos + _OPERANDS[command]]]
        except ValueError:
            continue
        pos += len(args)
        if len(args) < _OPERANDS[command]:
            break
        if command in ("M", "S") or current is None:
            current = Subpath([(args[0], args[1])] if args else [])
            subpaths.append(current)
            if command in ("M", "S"):
                continue
        start = current.points[-1] if current.points else (0.0, 0.0)
        new = _segment(command, start, args)
        current.points += new
        count += len(new)
        if command in ("C", "Z"):
            current.closed = True
    return [s for s in subpaths if s.points]


def _segment(command: str, start: Point, args: list[float]) -> list[Point]:
    if command == "L":
        return [(args[0], args[1])]
    if command == "A":
        return _arc(start, args)
    if command == "Q":
        return _bezier([start, (args[0], args[1]), (args[2], args[3])])
    if command == "B":
        return _bezier([start, (args[0], args[1]), (args[2], args[3]), (args[4], args[5])])
    return []


def _arc(start: Point, args: list[float]) -> list[Point]:
    """An elliptical arc "A rx ry angle large sweep x y" as points (the SVG arc: seals are
    drawn with it). Endpoint-to-centre conversion as in SVG 1.1, appendix F.6.5."""
    rx, ry, angle, large, sweep, x2, y2 = args
    (x1, y1), end = start, (x2, y2)
    rx, ry = abs(rx), abs(ry)
    if start == end or rx == 0 or ry == 0:
        return [end]
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    dx, dy = (x1 - x2) / 2, (y1 - y2) / 2
    x1p, y1p = cos * dx + sin * dy, -sin * dx + cos * dy
    grow = math.sqrt(max(1.0, (x1p / rx) ** 2 + (y1p / ry) ** 2))  # radii too small: scale up
    rx, ry = rx * grow, ry * grow
    num = (rx * ry) ** 2 - (rx * y1p) ** 2 - (ry * x1p) ** 2
    den = (rx * y1p) ** 2 + (ry * x1p) ** 2
    coef = math.sqrt(max(0.0, num / den)) if den else 0.0
    if bool(large) == bool(sweep):
        coef = -coef
    cxp, cyp = coef * rx * y1p / ry, -coef * ry * x1p / rx
    cx = cos * cxp - sin * cyp + (x1 + x2) / 2
    cy = sin * cxp + cos * cyp + (y1 + y2) / 2
    theta = math.atan2((y1p - cyp) / ry, (x1p - cxp) / rx)
    delta = math.atan2((-y1p - cyp) / ry, (-x1p - cxp) / rx) - theta
    if sweep and delta < 0:
        delta += 2 * math.pi
    elif not sweep and delta > 0:
        delta -= 2 * math.pi
    steps = max(2, math.ceil(abs(delta) / (math.pi / 16)))
    points = []
    for step in range(1, steps + 1):
        t = theta + delta * step / steps
        ex, ey = rx * math.cos(t), ry * math.sin(t)
        points.append((cx + ex * cos - ey * sin, cy + ex * sin + ey * cos))
    points[-1] = end
    return points


def _bezier(control: list[Point]) -> list[Point]:
    out: list[Point] = []
    for step in range(1, CURVE_STEPS + 1):
        t = step / CURVE_STEPS
        pts = control
        while len(pts) > 1:  # de Casteljau
            pts = [
                (p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t)
                for p, q in itertools.pairwise(pts)
            ]
        out.append(pts[0])
    return out


class Canvas:
    """A white page of `width_mm` x `height_mm` at `px_per_mm`."""

    def __init__(self, width_mm: float, height_mm: float, px_per_mm: float, fonts: FontBook):
        self.scale = px_per_mm
        size = (max(1, round(width_mm * px_per_mm)), max(1, round(height_mm * px_per_mm)))
        self.image = Image.new("RGB", size, (255, 255, 255))
        self.draw = ImageDraw.Draw(self.image)
        self.fonts = fonts

    def px(self, point: Point) -> tuple[float, float]:
        return point[0] * self.scale, point[1] * self.scale

    def path(
        self, subpaths: list[Subpath], stroke: Rgb | None, fill: Rgb | None, width_mm: float
    ) -> None:
        for subpath in subpaths:
            pixels = [self.px(p) for p in subpath.points]
            if fill is not None and len(pixels) >= 3:
                self.draw.polygon(pixels, fill=fill)
            if stroke is not None and len(pixels) >= 2:
                if subpath.closed:
                    pixels.append(pixels[0])
                width = max(1, round(width_mm * self.scale))
                self.draw.line(pixels, fill=stroke, width=width, joint="curve")

    def glyph(self, char: str, baseline: Point, size_mm: float, color: Rgb, family: str) -> None:
        if not char.strip():
            return
        font = self.fonts.get(family, round(size_mm * self.scale))
        self.draw.text(self.px(baseline), char, fill=color, font=font, anchor="ls")

    def paste(self, picture: RgbImage, box_mm: tuple[float, float, float, float]) -> None:
        x0, y0 = self.px((box_mm[0], box_mm[1]))
        x1, y1 = self.px((box_mm[2], box_mm[3]))
        width, height = round(x1 - x0), round(y1 - y0)
        if width < 1 or height < 1:
            return
        tile = Image.fromarray(picture).resize((width, height), Image.Resampling.BILINEAR)
        self.image.paste(tile, (round(x0), round(y0)))

    def pixels(self) -> RgbImage:
        return np.array(self.image, dtype=np.uint8)
