"""How a page reaches the group: phone photos, photos of a screen, scans and screenshots.

`capture(page, boxes, kind, rng)` turns a rendered page into encoded bytes (JPEG, or PNG for
screenshots) and reports, for each box given in page pixels, the fraction of it that is still
in the picture, so that labels stay honest about crops. Every random choice comes from the
`numpy.random.Generator` passed in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from tests.corpus.render import Box, font

FloatImage = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float64]

KINDS: tuple[str, ...] = (
    "photo",  # a page on a desk, perspective, light, blur, noise
    "photo_header",  # only the top of the page: the first photo in the leak cases
    "photo_bottom",  # a page photo cropped to its lower half before sending
    "photo_rotated",  # a photo stored sideways or upside down, with no EXIF to say so
    "photo_folded",  # a page folded in two or three and opened again, often a corner lifted
    "photo_screen",  # the page shown on a monitor, photographed: bezel, moiré, colour cast
    "scan",  # flatbed scan: slight rotation, often grey, no perspective
    "screenshot",  # a plain PNG of the page or of a phone viewer
)
PORTRAIT_FRAMES = ((1200, 1600), (1080, 1440), (1536, 2048), (960, 1280))


@dataclass(frozen=True)
class Capture:
    data: bytes
    ext: str
    kind: str
    width: int
    height: int
    visible: tuple[float, ...]
    """Per input box: the fraction of it inside the picture."""
    colour: bool
    params: dict[str, Any]


@dataclass
class _Geometry:
    """Page pixels → picture pixels: a chain of (3x3 transform, clip rectangle after it)."""

    stages: list[tuple[Matrix, Box]]

    def then(self, matrix: Matrix, clip: Box) -> None:
        self.stages.append((matrix, clip))

    def visible(self, box: Box) -> float:
        x0, y0, x1, y1 = box
        xs, ys = np.meshgrid(np.linspace(x0, x1, 9), np.linspace(y0, y1, 4))
        points = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
        inside = np.ones(xs.size, dtype=bool)
        for matrix, (cx0, cy0, cx1, cy1) in self.stages:
            points = matrix @ points
            points = points / points[2]
            inside &= (points[0] >= cx0) & (points[0] <= cx1)
            inside &= (points[1] >= cy0) & (points[1] <= cy1)
        return float(inside.mean())


def frame_size(
    rng: np.random.Generator, megapixels: float | None, *, landscape: bool
) -> tuple[int, int]:
    """A phone picture size: a few common ones, or exactly `megapixels` at 4:3."""
    if megapixels:
        long_side = round(math.sqrt(megapixels * 1e6 * 4 / 3))
        short_side = round(long_side * 3 / 4)
        w, h = short_side, long_side
    else:
        w, h = PORTRAIT_FRAMES[int(rng.integers(len(PORTRAIT_FRAMES)))]
    return (h, w) if landscape else (w, h)


def capture(
    page: Image.Image,
    boxes: Sequence[Box],
    kind: str,
    rng: np.random.Generator,
    *,
    megapixels: float | None = None,
) -> Capture:
    """One picture of `page` of the given kind (see KINDS)."""
    makers = {
        "photo": _photo,
        "photo_header": _photo,
        "photo_bottom": _photo,
        "photo_rotated": _photo,
        "photo_folded": _photo,
        "photo_screen": _screen_photo,
        "scan": _scan,
        "screenshot": _screenshot,
    }
    return makers[kind](page, boxes, kind, rng, megapixels)


# --- phone photos of paper ---------------------------------------------------------------


def _photo(
    page: Image.Image,
    boxes: Sequence[Box],
    kind: str,
    rng: np.random.Generator,
    megapixels: float | None,
) -> Capture:
    header = kind == "photo_header"
    w, h = frame_size(rng, megapixels, landscape=header)
    pw, ph = page.size
    quad = _header_quad(rng, pw, ph, w, h) if header else _page_quad(rng, pw, ph, w, h)
    matrix = cv2.getPerspectiveTransform(_corners(pw, ph), quad.astype(np.float32)).astype(
        np.float64
    )
    geometry = _Geometry([(np.eye(3), (0, 0, pw, ph)), (matrix, (0, 0, w - 1, h - 1))])
    paper = _bend(np.asarray(page), rng) if rng.random() < 0.3 else np.asarray(page)
    params: dict[str, Any] = {"frame": [w, h], "tilt": _tilt(quad)}
    if kind == "photo_folded":
        paper = fold(paper, rng, params)
        if rng.random() < 0.5:
            paper = lift_corner(paper, rng, params)
    image = _background(rng, w, h)
    _composite(image, paper, matrix, quad, rng)
    _light(image, rng, params)
    _optics(image, rng, params, scale=w / 1200)
    if header:
        image = _crop_header(image, matrix, pw, ph, rng, geometry, params)
    elif kind == "photo_bottom":
        image = _crop_bottom(image, matrix, pw, ph, rng, geometry, params)
    rotation = int(rng.choice((90, 180, 270))) if kind == "photo_rotated" else 0
    return _finish(image, boxes, kind, rng, geometry, params, rotation=rotation)


def _corners(w: float, h: float) -> npt.NDArray[np.float32]:
    return np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)


def _page_quad(
    rng: np.random.Generator, pw: int, ph: int, w: int, h: int
) -> npt.NDArray[np.float64]:
    """Where the page corners land: scaled, shifted, rotated up to ±8°, keystoned by a tilted
    phone (up to ~12% of the size), with a little corner noise."""
    fill = rng.uniform(0.72, 0.95)
    scale = fill * min(w / pw, h / ph)
    angle = math.radians(float(np.clip(rng.normal(0, 3.0), -8, 8)))
    pts = (_corners(pw, ph) - [pw / 2, ph / 2]) * scale
    pts = _keystone(pts, rng, rng.uniform(0, 0.12))
    pts += rng.uniform(-0.015, 0.015, pts.shape) * min(w, h)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    pts = pts @ rot.T
    for _ in range(20):  # shrink until the whole page is in the frame
        span = pts.max(0) - pts.min(0)
        if span[0] < w * 0.98 and span[1] < h * 0.98:
            break
        pts *= 0.95
    room = np.array([w, h]) - (pts.max(0) - pts.min(0))
    offset = -pts.min(0) + room * rng.uniform(0.15, 0.85, 2)
    return pts + offset


def _header_quad(
    rng: np.random.Generator, pw: int, ph: int, w: int, h: int
) -> npt.NDArray[np.float64]:
    """A landscape shot of the top of the page: page width about the frame width, the page's
    top edge just inside the frame, the rest of the page running off the bottom."""
    scale = w * rng.uniform(0.86, 1.04) / pw
    pts = (_corners(pw, ph) - [pw / 2, 0]) * scale
    pts = _keystone(pts, rng, rng.uniform(0, 0.06))
    angle = math.radians(float(np.clip(rng.normal(0, 2.0), -5, 5)))
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    pts = pts @ rot.T
    offset = np.array([w / 2 + rng.uniform(-0.03, 0.03) * w, h * rng.uniform(0.03, 0.14)])
    return pts + offset


def _keystone(pts: npt.NDArray[Any], rng: np.random.Generator, amount: float) -> npt.NDArray[Any]:
    """Narrows one side of the quad, as a phone held at an angle does."""
    out = np.array(pts, dtype=np.float64)
    side = int(rng.integers(4))  # 0 top, 1 right, 2 bottom, 3 left
    pairs = ((0, 1), (1, 2), (2, 3), (3, 0))[side]
    a, b = pairs
    mid = (out[a] + out[b]) / 2
    out[a] += (mid - out[a]) * amount
    out[b] += (mid - out[b]) * amount
    return out


def _tilt(quad: npt.NDArray[Any]) -> float:
    top = np.linalg.norm(quad[1] - quad[0])
    bottom = np.linalg.norm(quad[2] - quad[3])
    return round(float(abs(top - bottom) / max(top, bottom)), 3)


def _bend(page: npt.NDArray[np.uint8], rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """A page that does not lie flat: a gentle wave along one axis."""
    h, w = page.shape[:2]
    amp = rng.uniform(0.002, 0.008) * h
    phase = rng.uniform(0, math.pi)
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    dy = amp * np.sin(math.pi * xs / w + phase).astype(np.float32)
    return cv2.remap(page, xs, ys + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def fold(
    page: npt.NDArray[np.uint8], rng: np.random.Generator, params: dict[str, Any] | None = None
) -> npt.NDArray[np.uint8]:
    """`page` folded in two or three and opened again, as it lies on a desk: each panel tilted
    its own way (narrower or wider across, shorter down the page, lit differently), a shadow
    along each crease. RGBA of the same size: transparent where a narrower panel leaves the
    desk showing, so the outline zig-zags at the creases as a real one does."""
    rgba = _with_alpha(page)
    h, w = rgba.shape[:2]
    panels = int(rng.choice((2, 3)))
    creases = np.linspace(0, h, panels + 1)
    across = 1 + rng.uniform(-0.06, 0.06, panels + 1)  # width at each crease: near or far
    down = rng.uniform(0.8, 1.0, panels)  # each panel foreshortened by its tilt
    edges = np.concatenate([[0.0], np.cumsum(np.diff(creases) * down)])
    edges *= h / edges[-1]  # the photo frames the folded page as it frames a flat one
    ys = np.arange(h, dtype=np.float64) + 0.5
    panel = np.clip(np.searchsorted(edges, ys, side="right") - 1, 0, panels - 1)
    along = (ys - edges[panel]) / (edges[panel + 1] - edges[panel])
    source_y = creases[panel] + along * (creases[panel + 1] - creases[panel])
    width = across[panel] + along * (across[panel + 1] - across[panel])
    width /= width.max()
    xs = np.arange(w, dtype=np.float64)
    map_x = (w / 2 + (xs[None, :] - w / 2) / width[:, None]).astype(np.float32)
    map_y = np.repeat(source_y[:, None], w, axis=1).astype(np.float32)
    out = cv2.remap(rgba, map_x, map_y, cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0))
    light = rng.uniform(0.8, 1.0, panels)[panel]
    to_crease = np.min(np.abs(ys[:, None] - edges[None, 1:-1]), axis=1)
    light *= 1 - 0.25 * np.exp(-((to_crease / (h / 300)) ** 2))
    out[..., :3] = np.clip(out[..., :3] * light[:, None, None], 0, 255).astype(np.uint8)
    if params is not None:
        params["fold"] = {"panels": panels, "down": [round(float(d), 3) for d in down]}
    return out


def lift_corner(
    page: npt.NDArray[np.uint8], rng: np.random.Generator, params: dict[str, Any] | None = None
) -> npt.NDArray[np.uint8]:
    """`page` with its top or bottom edge lifted off the desk: lines bend up towards the
    corners, most near the lifted edge. RGBA of the same size."""
    rgba = _with_alpha(page)
    h, w = rgba.shape[:2]
    amount = rng.uniform(0.015, 0.035) * h
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    across = ((xs - w / 2) / (w / 2)) ** 2
    towards_edge = ys / h if rng.random() < 0.5 else 1 - ys / h
    lift = (2 * amount * across * towards_edge).astype(np.float32)
    out = cv2.remap(rgba, xs, ys + lift, cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0))
    if params is not None:
        params["lift"] = round(float(amount / h), 4)
    return out


def _with_alpha(page: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    if page.shape[2] == 4:
        return page
    return np.dstack([page, np.full(page.shape[:2], 255, np.uint8)])


def _composite(
    image: FloatImage,
    page: npt.NDArray[np.uint8],
    matrix: Matrix,
    quad: npt.NDArray[np.float64],
    rng: np.random.Generator,
) -> None:
    """Lays the warped page (tinted like paper, with a soft shadow under it) on `image`. An
    RGBA page is laid where it is opaque."""
    h, w = image.shape[:2]
    page, matrix = _prescale(page, matrix)
    warped = cv2.warpPerspective(page, matrix, (w, h), flags=cv2.INTER_LINEAR).astype(np.float32)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(mask, np.round(quad * 16).astype(np.int32), 255, cv2.LINE_AA, shift=4)
    m = mask.astype(np.float32) / 255.0
    if warped.shape[2] == 4:
        m *= warped[..., 3] / 255.0
        warped = np.ascontiguousarray(warped[..., :3])
    # The soft shadow under the page is low-frequency: make it at a quarter of the size.
    small = cv2.resize(m, (max(8, w // 4), max(8, h // 4)), interpolation=cv2.INTER_AREA)
    small = np.roll(small, (max(1, h // 500), max(1, w // 400)), (0, 1))
    k = int(max(3, small.shape[1] * 0.02)) | 1
    shadow = cv2.resize(cv2.GaussianBlur(small, (k, k), 0), (w, h), interpolation=cv2.INTER_LINEAR)
    shade = 1.0 - 0.45 * shadow * (1.0 - m)
    tint = np.array([1.0, rng.uniform(0.97, 1.0), rng.uniform(0.9, 0.99)], np.float32)
    image[:] = cv2.blendLinear(warped * tint, image * shade[..., None], m, 1.0 - m)


def _prescale(page: npt.NDArray[np.uint8], matrix: Matrix) -> tuple[npt.NDArray[np.uint8], Matrix]:
    """Area-downscales the page first when the warp shrinks it a lot, to avoid aliasing."""
    scale = math.sqrt(abs(np.linalg.det(matrix[:2, :2] / matrix[2, 2])))
    if scale > 0.8:
        return page, matrix
    factor = min(1.0, scale * 1.25)
    h, w = page.shape[:2]
    small = cv2.resize(page, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_AREA)
    back = np.diag([w / small.shape[1], h / small.shape[0], 1.0])
    return small, matrix @ back


def _crop_header(
    image: FloatImage,
    matrix: Matrix,
    pw: int,
    ph: int,
    rng: np.random.Generator,
    geometry: _Geometry,
    params: dict[str, Any],
) -> FloatImage:
    """Keeps only the top half or top third of the page, as users crop before sending."""
    part = float(rng.choice((0.0, 0.5, 0.33)))
    params["page_part"] = part or "frame"
    if not part:
        return image
    fraction = part + rng.uniform(-0.04, 0.04)
    point = matrix @ np.array([pw / 2, ph * fraction, 1.0])
    cut = int(np.clip(point[1] / point[2], image.shape[0] * 0.25, image.shape[0]))
    w = image.shape[1]
    geometry.then(np.eye(3), (0, 0, w - 1, cut - 1))
    return image[:cut]


def _crop_bottom(
    image: FloatImage,
    matrix: Matrix,
    pw: int,
    ph: int,
    rng: np.random.Generator,
    geometry: _Geometry,
    params: dict[str, Any],
) -> FloatImage:
    """Keeps the lower half of the page (and what lies below it), cut where the page's middle
    lands in the picture: the part with the body's end, the signature, seal and colophon."""
    fraction = 0.5 + rng.uniform(-0.05, 0.05)
    point = matrix @ np.array([pw / 2, ph * fraction, 1.0])
    cut = int(np.clip(point[1] / point[2], 0, image.shape[0] * 0.75))
    h, w = image.shape[:2]
    geometry.then(
        np.array([[1, 0, 0], [0, 1, -cut], [0, 0, 1]], np.float64), (0, 0, w - 1, h - cut - 1)
    )
    params["page_part"] = round(fraction, 2)
    return image[cut:]


# --- backgrounds -------------------------------------------------------------------------


def _smooth_noise(rng: np.random.Generator, w: int, h: int, cell: int) -> FloatImage:
    small = rng.random((max(2, h // cell), max(2, w // cell)), dtype=np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


BACKGROUNDS = ("wood", "desk", "cloth", "dark", "keyboard")


def _background(rng: np.random.Generator, w: int, h: int) -> FloatImage:
    """A desk-like surface. Big frames get a half-size texture scaled up (it is out of focus
    anyway and much cheaper)."""
    kind = str(rng.choice(BACKGROUNDS, p=(0.3, 0.25, 0.15, 0.15, 0.15)))
    maker = {"wood": _wood, "desk": _desk, "cloth": _cloth, "dark": _dark, "keyboard": _keyboard}
    if w * h <= 4_000_000:
        return maker[kind](rng, w, h)
    half = maker[kind](rng, w // 2, h // 2)
    return cv2.resize(half, (w, h), interpolation=cv2.INTER_LINEAR)


def _colour(
    rng: np.random.Generator, low: Sequence[int], high: Sequence[int]
) -> npt.NDArray[np.float32]:
    return np.array([rng.uniform(lo, hi) for lo, hi in zip(low, high, strict=True)], np.float32)


def _wood(rng: np.random.Generator, w: int, h: int) -> FloatImage:
    base = _colour(rng, (110, 65, 30), (190, 130, 80))
    warp = _smooth_noise(rng, w, h, 64) * rng.uniform(20, 60)
    along_x = rng.random() < 0.5  # planks run across or along the picture
    axis = np.arange(w if along_x else h, dtype=np.float32)
    coord = axis[None, :] if along_x else axis[:, None]
    grain = np.sin((coord + warp) * rng.uniform(0.05, 0.2)) * 0.5 + 0.5
    fine = _smooth_noise(rng, w, h, 4) * 0.15
    shade = (0.75 + 0.2 * grain + fine)[..., None]
    return (base * shade).astype(np.float32)


def _desk(rng: np.random.Generator, w: int, h: int) -> FloatImage:
    base = (
        _colour(rng, (150, 150, 145), (235, 230, 225))
        if rng.random() < 0.6
        else _colour(rng, (60, 60, 60), (140, 120, 100))
    )
    shade = 0.9 + 0.12 * _smooth_noise(rng, w, h, 96)
    return (base * shade[..., None]).astype(np.float32)


def _cloth(rng: np.random.Generator, w: int, h: int) -> FloatImage:
    base = _colour(rng, (40, 40, 60), (200, 180, 200))
    period = rng.uniform(3, 7)
    xs = np.arange(w, dtype=np.float32)[None, :]
    ys = np.arange(h, dtype=np.float32)[:, None]
    weave = 0.9 + 0.06 * np.sin(xs * 2 * math.pi / period) * np.sin(ys * 2 * math.pi / period)
    shade = weave * (0.85 + 0.2 * _smooth_noise(rng, w, h, 128))
    return (base * shade[..., None]).astype(np.float32)


def _dark(rng: np.random.Generator, w: int, h: int) -> FloatImage:
    base = _colour(rng, (15, 15, 15), (55, 50, 50))
    shade = 0.8 + 0.5 * _smooth_noise(rng, w, h, 200)
    return (base * shade[..., None]).astype(np.float32)


def _keyboard(rng: np.random.Generator, w: int, h: int) -> FloatImage:
    img = np.empty((h, w, 3), np.float32)
    img[:] = _colour(rng, (25, 25, 25), (70, 70, 75))
    key = int(w * rng.uniform(0.05, 0.09))
    gap = max(2, key // 6)
    face = np.full(3, rng.uniform(40, 230), np.float32)  # key caps are grey
    for row, y in enumerate(range(int(rng.integers(0, key)), h, key + gap)):
        shift = (row * key // 3) % (key + gap)
        for x in range(-shift, w, key + gap):
            cv2.rectangle(img, (x, y), (x + key, y + key), face.tolist(), -1, cv2.LINE_AA)
    return img


# --- light and optics --------------------------------------------------------------------


def _light(image: FloatImage, rng: np.random.Generator, params: dict[str, Any]) -> None:
    """Uneven light: a gradient, a vignette, sometimes a desk-lamp hotspot and a hand shadow,
    and the colour cast of indoor light."""
    h, w = image.shape[:2]
    sh, sw = max(8, h // 8), max(8, w // 8)
    ys, xs = np.mgrid[0:sh, 0:sw].astype(np.float32)
    ys /= sh
    xs /= sw
    angle = rng.uniform(0, 2 * math.pi)
    gain = 1.0 + rng.uniform(0.05, 0.3) * (
        (xs - 0.5) * math.cos(angle) + (ys - 0.5) * math.sin(angle)
    )
    radius = np.hypot(xs - 0.5, ys - 0.5)
    gain *= 1.0 - rng.uniform(0.05, 0.35) * radius**2 * 2
    if rng.random() < 0.4:
        cx, cy = rng.uniform(0.1, 0.9, 2)
        gain += rng.uniform(0.1, 0.35) * np.exp(
            -((xs - cx) ** 2 + (ys - cy) ** 2) / rng.uniform(0.01, 0.06)
        )
        params["hotspot"] = True
    if rng.random() < 0.35:
        gain *= _hand_shadow(rng, sw, sh)
        params["shadow"] = True
    gain = cv2.resize(gain.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    exposure = rng.uniform(0.8, 1.08)
    cast = np.array([rng.uniform(0.95, 1.06), 1.0, rng.uniform(0.85, 1.02)], np.float32) * exposure
    image *= gain[..., None]
    image *= cast


def _hand_shadow(rng: np.random.Generator, w: int, h: int) -> FloatImage:
    """A soft dark blob coming in from one edge: the phone's or the hand's shadow."""
    mask = np.zeros((h, w), np.float32)
    edge = int(rng.integers(4))
    depth = rng.uniform(0.15, 0.4)
    pts = rng.uniform(0, 1, (5, 2))
    if edge == 0:
        pts[:, 1] *= depth
    elif edge == 1:
        pts[:, 0] = 1 - pts[:, 0] * depth
    elif edge == 2:
        pts[:, 1] = 1 - pts[:, 1] * depth
    else:
        pts[:, 0] *= depth
    hull = cv2.convexHull((pts * [w, h]).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1.0)
    k = int(max(w, h) * 0.15) | 1
    mask = cv2.GaussianBlur(mask, (k, k), 0)
    return (1.0 - rng.uniform(0.2, 0.45) * mask).astype(np.float32)


def _optics(
    image: FloatImage, rng: np.random.Generator, params: dict[str, Any], scale: float
) -> None:
    """Defocus or motion blur, then sensor noise (blotchy, as phone denoising leaves it)."""
    h, w = image.shape[:2]
    if rng.random() < 0.25:
        length = int(rng.integers(3, 8) * scale) | 1
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        rot = cv2.getRotationMatrix2D(
            (length / 2 - 0.5, length / 2 - 0.5), rng.uniform(0, 180), 1.0
        )
        kernel = cv2.warpAffine(kernel, rot, (length, length))
        image[:] = cv2.filter2D(image, -1, kernel / max(kernel.sum(), 1e-6))
        params["blur"] = f"motion{length}"
    else:
        sigma = rng.uniform(0.3, 1.5) * scale
        image[:] = cv2.GaussianBlur(image, (0, 0), sigma)
        params["blur"] = f"gauss{sigma:.1f}"
    strength = rng.uniform(2.0, 7.0)
    noise = rng.standard_normal((h // 2 + 1, w // 2 + 1, 3), dtype=np.float32) * strength
    noise = cv2.resize(noise, (w, h), interpolation=cv2.INTER_LINEAR)
    image += noise
    params["noise"] = round(strength, 1)


# --- screens -----------------------------------------------------------------------------


def _screen_photo(
    page: Image.Image,
    boxes: Sequence[Box],
    kind: str,
    rng: np.random.Generator,
    megapixels: float | None,
) -> Capture:
    """The page in a viewer on a monitor, photographed: the viewer may show the whole page
    (small text) or fit its width (top part only)."""
    sw, sh = ((1920, 1080), (1680, 1050), (1600, 900))[int(rng.integers(3))]
    screen, to_screen, viewport = _viewer(page, sw, sh, rng)
    bezel = int(sw * rng.uniform(0.01, 0.03))
    monitor = np.zeros((sh + 2 * bezel, sw + 2 * bezel, 3), np.uint8)
    monitor[:] = int(rng.integers(10, 40))
    monitor[bezel : bezel + sh, bezel : bezel + sw] = _display(screen, rng)
    mh, mw = monitor.shape[:2]
    # Frame the part of the screen that shows the page, as people zoom in on what they send.
    shift = np.array([[1, 0, bezel], [0, 1, bezel], [0, 0, 1]], np.float64)
    x0, y0, x1, y1 = _shown_rect(shift @ to_screen, page.size, viewport, bezel)
    w, h = frame_size(rng, megapixels, landscape=(x1 - x0) > (y1 - y0))
    quad = _page_quad(rng, round(x1 - x0), round(y1 - y0), w, h)
    subject = cv2.getPerspectiveTransform(_corners(x1 - x0, y1 - y0), quad.astype(np.float32))
    matrix = subject.astype(np.float64) @ np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]])
    quad = cv2.perspectiveTransform(_corners(mw, mh)[None].astype(np.float64), matrix)[0]
    geometry = _Geometry([(to_screen, viewport), (matrix @ shift, (0, 0, w - 1, h - 1))])
    image = _dark(rng, w, h) if rng.random() < 0.6 else _background(rng, w, h)
    _composite(image, monitor, matrix, quad, rng)
    _moire(image, matrix, mw, mh, bezel, rng)
    params: dict[str, Any] = {"frame": [w, h], "screen": [sw, sh], "tilt": _tilt(quad)}
    _light(image, rng, params)
    _optics(image, rng, params, scale=w / 1600 * 0.7)
    return _finish(image, boxes, kind, rng, geometry, params, rotation=0)


def _shown_rect(to_monitor: Matrix, size: tuple[int, int], viewport: Box, bezel: int) -> Box:
    """The page's rectangle on the monitor, clipped to the viewer's viewport."""
    pw, ph = size
    x0, y0 = (to_monitor @ [0, 0, 1])[:2]
    x1, y1 = (to_monitor @ [pw, ph, 1])[:2]
    vx0, vy0, vx1, vy1 = (v + bezel for v in viewport)
    return (max(x0, vx0), max(y0, vy0), min(x1, vx1), min(y1, vy1))


def _viewer(
    page: Image.Image, sw: int, sh: int, rng: np.random.Generator
) -> tuple[npt.NDArray[np.uint8], Matrix, Box]:
    """A document viewer on screen: toolbar, grey canvas, the page fitted to height or width."""
    dark = rng.random() < 0.5
    screen = Image.new("RGB", (sw, sh), (72, 72, 76) if dark else (226, 228, 232))
    bar = int(sh * rng.uniform(0.04, 0.07))
    ImageDraw.Draw(screen).rectangle(
        (0, 0, sw, bar), fill=(45, 45, 48) if dark else (245, 246, 248)
    )
    pw, ph = page.size
    if rng.random() < 0.5:
        scale = (sh - bar) * rng.uniform(0.9, 0.98) / ph
        top = bar + ((sh - bar) - ph * scale) / 2
    else:
        scale = sw * rng.uniform(0.42, 0.62) / pw
        top = bar + rng.uniform(-0.08, 0.02) * ph * scale
    left = (sw - pw * scale) / 2
    shown = page.resize((round(pw * scale), round(ph * scale)), Image.Resampling.LANCZOS)
    screen.paste(shown, (round(left), round(top)))
    ImageDraw.Draw(screen).rectangle(
        (0, 0, sw, bar), fill=(45, 45, 48) if dark else (245, 246, 248)
    )
    to_screen = np.array([[scale, 0, left], [0, scale, top], [0, 0, 1]], np.float64)
    return np.asarray(screen), to_screen, (0.0, float(bar), float(sw - 1), float(sh - 1))


def _display(screen: npt.NDArray[np.uint8], rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """What a camera sees of a monitor: less contrast, a bluish cast, raised blacks."""
    img = screen.astype(np.float32)
    contrast = rng.uniform(0.72, 0.9)
    img = img * contrast + rng.uniform(15, 45)
    img *= np.array(
        [rng.uniform(0.88, 0.98), rng.uniform(0.95, 1.0), rng.uniform(1.0, 1.1)], np.float32
    )
    return img.clip(0, 255).astype(np.uint8)


def _moire(
    image: FloatImage, matrix: Matrix, mw: int, mh: int, bezel: int, rng: np.random.Generator
) -> None:
    """Interference between the screen's pixel grid and the sensor: curved bands of light and
    dark, only where the screen is."""
    h, w = image.shape[:2]
    inner = np.array(
        [[bezel, bezel], [mw - bezel, bezel], [mw - bezel, mh - bezel], [bezel, mh - bezel]],
        np.float64,
    )
    pts = cv2.perspectiveTransform(inner[None], matrix)[0]
    mask = np.zeros((h, w), np.float32)
    cv2.fillConvexPoly(mask, pts.astype(np.int32), 1.0)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    period = rng.uniform(5, 25)
    angle = rng.uniform(0, math.pi)
    curve = rng.uniform(-3e-4, 3e-4)
    phase = (xs * math.cos(angle) + ys * math.sin(angle) + curve * (xs - w / 2) ** 2) * (
        2 * math.pi / period
    )
    bands = 1.0 - rng.uniform(0.06, 0.18) * (0.5 + 0.5 * np.cos(phase))
    image *= (1.0 - mask + mask * bands)[..., None]


# --- scans and screenshots ---------------------------------------------------------------


def _scan(
    page: Image.Image,
    boxes: Sequence[Box],
    kind: str,
    rng: np.random.Generator,
    megapixels: float | None,
) -> Capture:
    """A flatbed scan: a small rotation, no perspective, often grey, mild noise."""
    pw, ph = page.size
    angle = float(rng.uniform(-2.0, 2.0))
    shift = rng.uniform(-0.01, 0.01, 2) * [pw, ph]
    rot = cv2.getRotationMatrix2D((pw / 2, ph / 2), angle, 1.0)
    rot[:, 2] += shift
    bed = int(rng.integers(235, 256))
    img = cv2.warpAffine(
        np.asarray(page), rot, (pw, ph), flags=cv2.INTER_LINEAR, borderValue=(bed, bed, bed)
    )
    matrix = np.vstack([rot, [0, 0, 1]])
    geometry = _Geometry([(np.eye(3), (0, 0, pw, ph)), (matrix, (0, 0, pw - 1, ph - 1))])
    image = img.astype(np.float32)
    image = image * rng.uniform(1.0, 1.1) - rng.uniform(0, 12)  # scanners push contrast
    image += rng.standard_normal(image.shape[:2], dtype=np.float32)[..., None] * rng.uniform(1, 4)
    grey = bool(rng.random() < 0.5)
    params: dict[str, Any] = {"angle": round(angle, 2), "grey": grey}
    return _finish(image, boxes, kind, rng, geometry, params, rotation=0, grey=grey)


def _screenshot(
    page: Image.Image,
    boxes: Sequence[Box],
    kind: str,
    rng: np.random.Generator,
    megapixels: float | None,
) -> Capture:
    """A plain PNG: the page itself (an exported image), or a phone viewer showing it."""
    pw, ph = page.size
    paper_like = 1.3 < ph / pw < 1.5  # A4 pages may sit in a viewer; phone-born images do not
    if not paper_like or rng.random() < 0.5:
        scale = float(rng.choice((1.0, 0.8, 1080 / pw))) if paper_like else 1.0
        shown = page.resize((round(pw * scale), round(ph * scale)), Image.Resampling.LANCZOS)
        matrix = np.diag([shown.width / pw, shown.height / ph, 1.0])
        geometry = _Geometry([(matrix, (0, 0, shown.width - 1, shown.height - 1))])
        params: dict[str, Any] = {"style": "image", "scale": round(scale, 3)}
        image = np.asarray(shown).astype(np.float32)
    else:
        image, geometry, params = _phone_viewer(page, rng)
    return _finish(image, boxes, kind, rng, geometry, params, rotation=0, png=True)


def _phone_viewer(
    page: Image.Image, rng: np.random.Generator
) -> tuple[FloatImage, _Geometry, dict[str, Any]]:
    sw, sh = 1080, int(rng.choice((2340, 2400, 2160)))
    screen = Image.new("RGB", (sw, sh), (237, 237, 237))
    draw = ImageDraw.Draw(screen)
    status, nav = 90, 140
    draw.rectangle((0, 0, sw, status + nav), fill=(247, 247, 247))
    small = font("sans", 36)
    draw.text(
        (50, status / 2),
        f"{int(rng.integers(7, 23))}:{int(rng.integers(0, 60)):02d}",
        font=small,
        fill=(0, 0, 0),
        anchor="lm",
    )
    draw.text(
        (sw / 2, status + nav / 2),
        "文件预览",
        font=font("sans", 44),
        fill=(20, 20, 20),
        anchor="mm",
    )
    draw.text((50, status + nav / 2), "〈", font=font("sans", 50), fill=(20, 20, 20), anchor="lm")
    pw, ph = page.size
    scale = sw / pw
    top = status + nav + rng.uniform(-0.1, 0.0) * ph * scale
    shown = page.resize((sw, round(ph * scale)), Image.Resampling.LANCZOS)
    screen.paste(shown, (0, round(top)))
    draw.rectangle((0, 0, sw, status + nav), fill=(247, 247, 247))
    draw.text(
        (sw / 2, status + nav / 2),
        "文件预览",
        font=font("sans", 44),
        fill=(20, 20, 20),
        anchor="mm",
    )
    matrix = np.array([[scale, 0, 0], [0, scale, top], [0, 0, 1]], np.float64)
    geometry = _Geometry([(matrix, (0, status + nav, sw - 1, sh - 1))])
    return np.asarray(screen).astype(np.float32), geometry, {"style": "phone_viewer"}


# --- encoding ----------------------------------------------------------------------------


def _finish(
    image: FloatImage,
    boxes: Sequence[Box],
    kind: str,
    rng: np.random.Generator,
    geometry: _Geometry,
    params: dict[str, Any],
    *,
    rotation: int,
    grey: bool = False,
    png: bool = False,
) -> Capture:
    pixels = image.clip(0, 255).astype(np.uint8)
    if rotation:
        pixels = np.ascontiguousarray(np.rot90(pixels, k=-rotation // 90))
        params["rotation"] = rotation
    if grey:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    elif pixels.ndim == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    if png:
        ok, buf = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, 6])
        ext = "png"
    else:
        quality = 60 if rng.random() < 0.25 else int(rng.integers(55, 86))
        ok, buf = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
        params["jpeg_quality"] = quality
        ext = "jpg"
    if not ok:
        raise RuntimeError("image encoding failed")
    height, width = pixels.shape[:2]
    return Capture(
        data=buf.tobytes(),
        ext=ext,
        kind=kind,
        width=width,
        height=height,
        visible=tuple(geometry.visible(b) for b in boxes),
        colour=not grey,
        params=params,
    )
