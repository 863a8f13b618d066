"""How a page of the second model reaches a chat: drawn with OpenCV and PIL, independently of
`tests/corpus/capture.py`.

Every scene takes the page raster (RGB array) and returns the picture plus a `View`: the
chain of page→picture transforms with the rectangle each one clips to, so that the fraction
of any page box still in the picture is known exactly (crops, screens that show only the top
of a page). Scenes: clean digital original, phone photo, crop, far shot, chat thumbnail,
scanned PDF, government website screenshot, WeChat file preview, OA viewer, photo of a monitor.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

# cv2's stubs type every result as a loose ndarray: the aliases say what we mean, not more.
Pixels = npt.NDArray[Any]
"""uint8 RGB."""
Floats = npt.NDArray[Any]
"""float32 RGB, for light and optics arithmetic."""
Matrix = npt.NDArray[np.float64]
Box = tuple[float, float, float, float]
Rng = np.random.Generator

UI_FONTS = (
    "/tmp/fx/usr/share/texlive/texmf-dist/fonts/opentype/public/fandol/FandolHei-Regular.otf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)


@functools.lru_cache(maxsize=32)
def ui_font(px: int) -> ImageFont.FreeTypeFont:
    path = next(p for p in UI_FONTS if Path(p).is_file())
    return ImageFont.truetype(path, px)


@dataclass
class View:
    """Page pixels → picture pixels, stage by stage: (transform, clip rectangle after it)."""

    stages: list[tuple[Matrix, Box]] = field(default_factory=list)

    def then(self, matrix: Matrix, clip: Box) -> View:
        self.stages.append((matrix, clip))
        return self

    def visible(self, box: Box) -> float:
        x0, y0, x1, y1 = box
        gx, gy = np.meshgrid(np.linspace(x0, x1, 12), np.linspace(y0, y1, 5))
        pts = np.vstack([gx.ravel(), gy.ravel(), np.ones(gx.size)])
        keep = np.ones(gx.size, bool)
        for matrix, (cx0, cy0, cx1, cy1) in self.stages:
            pts = matrix @ pts
            pts = pts / pts[2]
            keep &= (pts[0] >= cx0) & (pts[0] <= cx1) & (pts[1] >= cy0) & (pts[1] <= cy1)
        return float(keep.mean())

    def scale(self) -> float:
        """Linear scale page→picture (geometric mean of the chain), for glyph sizes."""
        total = 1.0
        for matrix, _ in self.stages:
            total *= math.sqrt(abs(np.linalg.det(matrix[:2, :2])))
        return total


@dataclass
class Shot:
    pixels: Pixels
    view: View
    colour: bool = True
    params: dict[str, Any] = field(default_factory=dict)


def _scale(s: float) -> Matrix:
    return np.diag([s, s, 1.0])


def _move(dx: float, dy: float) -> Matrix:
    return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], np.float64)


def _bounds(pixels: Pixels) -> Box:
    h, w = pixels.shape[:2]
    return (0.0, 0.0, float(w - 1), float(h - 1))


def resize(page: Pixels, s: float) -> Pixels:
    h, w = page.shape[:2]
    mode = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    return cv2.resize(page, (max(1, round(w * s)), max(1, round(h * s))), interpolation=mode)


# --- flat pictures ----------------------------------------------------------------------


def digital(page: Pixels, g: Rng) -> Shot:
    """The page exported as an image, as the sender's software wrote it."""
    return Shot(page, View().then(np.eye(3), _bounds(page)), params={"scene": "digital"})


def thumbnail(page: Pixels, g: Rng, page_glyph: float) -> Shot:
    """A chat thumbnail: the picture shrunk until body glyphs are ~14 px, then re-encoded."""
    s = float(g.uniform(0.9, 1.1)) * 14.0 / page_glyph
    small = resize(page, s)
    small = cv2.GaussianBlur(small, (0, 0), 0.4)
    return Shot(small, View().then(_scale(s), _bounds(small)), params={"scene": "thumbnail"})


def scanned(page: Pixels, g: Rng) -> Shot:
    """A copier's scan: page slightly turned and shifted on the glass, grey half the time,
    toner speckle and a darker edge where the lid did not close."""
    h, w = page.shape[:2]
    angle = float(g.uniform(-1.5, 1.5))
    rot: Matrix = np.asarray(cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0), np.float64)
    rot[:, 2] += g.uniform(-0.012, 0.012, 2) * (w, h)
    img = cv2.warpAffine(page, rot, (w, h), borderValue=(248, 248, 246)).astype(np.float32)
    edge = np.linspace(1, 0, w, dtype=np.float32) ** 8 * float(g.uniform(30, 90))
    img -= edge[None, :, None]
    speckle = g.random((h, w)) < 0.0008
    img[speckle] = 40
    img = img * float(g.uniform(1.02, 1.12)) - float(g.uniform(4, 18))
    grey = bool(g.random() < 0.4)
    out = img.clip(0, 255).astype(np.uint8)
    if grey:
        out = np.repeat(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    view = View().then(np.vstack([rot, [0, 0, 1]]), _bounds(out))
    return Shot(out, view, colour=not grey, params={"scene": "scan", "angle": round(angle, 2)})


# --- photographs of paper ---------------------------------------------------------------


def _surface(g: Rng, w: int, h: int) -> Floats:
    """A table, desk mat or bedspread: a base colour, low-frequency blotches, fine grain and a
    few objects (a pen, a mug's rim, a phone) that a page detector must ignore."""
    base = np.array(
        [
            (118, 84, 58),
            (172, 160, 146),
            (60, 64, 72),
            (200, 196, 186),
            (92, 110, 96),
        ][int(g.integers(5))],
        np.float32,
    )
    blotch = cv2.resize(
        g.normal(0, 1, (6, 8)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC
    )
    grain = g.normal(0, 6, (h, w)).astype(np.float32)
    img = base[None, None, :] + (blotch * 14 + grain)[..., None]
    canvas = np.ascontiguousarray(img.clip(0, 255).astype(np.uint8))
    for _ in range(int(g.integers(0, 3))):
        x, y = int(g.integers(0, w)), int(g.integers(0, h))
        colour = tuple(int(v) for v in g.integers(0, 255, 3))
        if g.random() < 0.5:
            cv2.line(
                canvas,
                (x, y),
                (x + int(g.integers(-300, 300)), y + int(g.integers(-60, 60))),
                colour,
                int(g.integers(6, 16)),
            )
        else:
            cv2.circle(canvas, (x, y), int(g.integers(40, 120)), colour, int(g.integers(8, 20)))
    return canvas.astype(np.float32)


def _quad(g: Rng, pw: int, ph: int, fw: int, fh: int, fill: float) -> Floats:
    """Where the page's corners land in the frame: centred, `fill` of the frame's height or
    width, tilted, keystoned by the camera's angle."""
    s = fill * min(fw / pw, fh / ph)
    w, h = pw * s, ph * s
    cx = fw / 2 + float(g.uniform(-0.08, 0.08)) * fw
    cy = fh / 2 + float(g.uniform(-0.06, 0.06)) * fh
    angle = math.radians(float(g.uniform(-7, 7)))
    corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    pts = corners @ rot.T
    # Keystone: the far edge (top) is shorter when the phone leans back.
    lean = float(g.uniform(0.0, 0.16))
    pts[:2, 0] *= 1 - lean
    pts += g.normal(0, 0.012 * max(w, h), (4, 2))
    return (pts + np.array([cx, cy])).astype(np.float32)


def _lighting(img: Floats, g: Rng, params: dict[str, Any]) -> None:
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    lx, ly = float(g.uniform(0, w)), float(g.uniform(0, h))
    falloff = 1 - float(g.uniform(0.1, 0.35)) * (((xx - lx) / w) ** 2 + ((yy - ly) / h) ** 2)
    cast = np.array(
        [(1.04, 1.0, 0.9), (0.94, 0.98, 1.06), (1.0, 1.0, 1.0), (1.06, 0.98, 0.86)][
            int(g.integers(4))
        ],
        np.float32,
    )
    img *= falloff[..., None] * cast * float(g.uniform(0.8, 1.05))
    if g.random() < 0.4:  # the phone's or a hand's shadow: a soft dark band
        x0 = float(g.uniform(0, w))
        band = 1 - 0.35 * np.exp(-(((xx - x0 - 0.4 * yy) / (0.12 * w)) ** 2))
        img *= band[..., None]
        params["shadow"] = True


def _camera(img: Floats, g: Rng, params: dict[str, Any], sharp: float) -> Pixels:
    """Lens blur or a little shake, sensor noise, then the phone's own sharpening."""
    if g.random() < 0.35:
        k = int(g.integers(3, 7))
        kernel: Floats = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k
        kernel = cv2.warpAffine(
            kernel, cv2.getRotationMatrix2D((k / 2, k / 2), float(g.uniform(0, 180)), 1), (k, k)
        )
        img = cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6))
        params["shake"] = k
    else:
        sigma = float(g.uniform(0.3, 1.2)) * sharp
        img = cv2.GaussianBlur(img, (0, 0), sigma)
        params["blur"] = round(sigma, 2)
    img = img + g.normal(0, float(g.uniform(2, 7)), img.shape[:2]).astype(np.float32)[..., None]
    soft = cv2.GaussianBlur(img, (0, 0), 2)
    img = img + float(g.uniform(0.0, 0.6)) * (img - soft)
    return img.clip(0, 255).astype(np.uint8)


def photo(
    page: Pixels, g: Rng, *, fill: float | None = None, frame: tuple[int, int] | None = None
) -> Shot:
    """A phone photo of the page lying on a surface."""
    ph, pw = page.shape[:2]
    fw, fh = frame or [(1200, 1600), (1500, 2000), (1536, 2048), (1080, 1440)][int(g.integers(4))]
    fill = fill if fill is not None else float(g.uniform(0.72, 0.95))
    quad = _quad(g, pw, ph, fw, fh, fill)
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, quad).astype(np.float64)
    img = _surface(g, fw, fh)
    warped = cv2.warpPerspective(
        page, matrix, (fw, fh), flags=cv2.INTER_AREA if fill * fh < ph else cv2.INTER_LINEAR
    )
    mask = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), matrix, (fw, fh))
    alpha = cv2.GaussianBlur(mask, (3, 3), 0).astype(np.float32)[..., None] / 255
    # Paper is not flat white: slightly warm and darker than the page's pure white.
    paper = warped.astype(np.float32) * np.array([0.97, 0.95, 0.9], np.float32)
    img = img * (1 - alpha) + paper * alpha
    params: dict[str, Any] = {"scene": "photo", "frame": [fw, fh], "fill": round(fill, 2)}
    _lighting(img, g, params)
    out = _camera(img, g, params, sharp=fw / 1500)
    return Shot(out, View().then(matrix, (0, 0, fw - 1, fh - 1)), params=params)


def far_shot(page: Pixels, g: Rng, page_glyph: float) -> Shot:
    """The page small in a wide frame (a notice board, a desk seen from a chair): ~12 px body
    glyphs."""
    fw, fh = (1600, 1200) if g.random() < 0.5 else (1200, 1600)
    ph, pw = page.shape[:2]
    page_scale = float(g.uniform(12, 14)) / page_glyph
    shot = photo(page, g, fill=page_scale / min(fw / pw, fh / ph), frame=(fw, fh))
    shot.params["scene"] = "far"
    return shot


def crop(shot: Shot, g: Rng) -> Shot:
    """The sender crops the picture: 60-90 % of the page kept, cut at the bottom and often a
    side, as people keep the part they mean to show."""
    h, w = shot.pixels.shape[:2]
    keep = float(g.uniform(0.6, 0.9))
    y1 = int(h * keep)
    x0 = int(w * float(g.uniform(0.0, 0.08))) if g.random() < 0.5 else 0
    x1 = w - (int(w * float(g.uniform(0.0, 0.08))) if g.random() < 0.5 else 0)
    out = np.ascontiguousarray(shot.pixels[:y1, x0:x1])
    shot.view.then(_move(-x0, 0), (0, 0, x1 - x0 - 1, y1 - 1))
    return Shot(
        out, shot.view, shot.colour, dict(shot.params, crop=[x0, 0, x1, y1], kept=round(keep, 2))
    )


# --- screens ---------------------------------------------------------------------------


def _text(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    px: int,
    fill: tuple[int, int, int],
    anchor: str = "la",
) -> None:
    draw.text(xy, text, font=ui_font(px), fill=fill, anchor=anchor)


def _paste(screen: Image.Image, page: Pixels, s: float, x: float, y: float, clip: Box) -> Matrix:
    shown = Image.fromarray(resize(page, s))
    cx0, cy0, cx1, cy1 = (round(v) for v in clip)
    region = screen.crop((cx0, cy0, cx1, cy1))
    region.paste(shown, (round(x - cx0), round(y - cy0)))
    screen.paste(region, (cx0, cy0))
    return _move(x, y) @ _scale(s)


def website(page: Pixels, g: Rng, org: str) -> Shot:
    """A government website's article page: browser bar, site banner, menu, breadcrumbs,
    article title and date, then the document's own image in the middle of the screen."""
    sw, sh = [(1920, 1080), (1440, 900), (1366, 768), (1536, 864)][int(g.integers(4))]
    screen = Image.new("RGB", (sw, sh), (244, 245, 247))
    d = ImageDraw.Draw(screen)
    d.rectangle((0, 0, sw, 74), fill=(222, 225, 230))
    d.rounded_rectangle((120, 40, sw - 220, 68), 12, fill=(255, 255, 255))
    host = "www." + ["jiangwan", "linlan", "beicen", "qingxi"][int(g.integers(4))] + ".gov.cn"
    _text(
        d,
        (140, 45),
        f"https://{host}/zwgk/zfwj/art/2023/art_{int(g.integers(1000, 9999))}.html",
        16,
        (40, 40, 40),
    )
    for i, tab in enumerate(("政府信息公开", "首页")):
        d.rounded_rectangle(
            (10 + 210 * i, 6, 200 + 210 * i, 36), 6, fill=(244, 245, 247) if i else (205, 209, 215)
        )
        _text(d, (24 + 210 * i, 12), tab, 15, (30, 30, 30))
    banner = (180, 20, 24) if g.random() < 0.55 else (20, 82, 160)
    d.rectangle((0, 74, sw, 190), fill=banner)
    _text(d, (sw * 0.12, 108), org + "门户网站", 44, (255, 255, 255))
    d.rectangle((0, 190, sw, 236), fill=(255, 255, 255))
    for i, item in enumerate(("首页", "政务公开", "政务服务", "互动交流", "走进" + org[:3])):
        _text(d, (sw * 0.12 + i * 150, 202), item, 20, (50, 50, 50))
    _text(d, (sw * 0.12, 254), "当前位置：首页 > 政务公开 > 政府文件 > 正文", 16, (110, 110, 110))
    content = (sw * 0.1, 286, sw * 0.9, sh + 4000)
    d.rectangle(content, fill=(255, 255, 255))
    _text(d, (sw / 2, 312), "关于印发有关工作方案的通知", 28, (20, 20, 20), anchor="ma")
    _text(
        d,
        (sw / 2, 356),
        f"发布时间：2023-{int(g.integers(1, 12)):02d}-{int(g.integers(1, 28)):02d}"
        f"　来源：{org}办公室　【字体：大 中 小】",
        15,
        (120, 120, 120),
        anchor="ma",
    )
    d.line((content[0] + 30, 384, content[2] - 30, 384), fill=(220, 220, 220), width=1)
    pw = page.shape[1]
    s = float(g.uniform(0.5, 0.68)) * sw / pw
    x = (sw - pw * s) / 2
    y = 404.0
    matrix = _paste(screen, page, s, x, y, (0, 0, sw, sh))
    view = View().then(matrix, (0, 0, sw - 1, sh - 1))
    return Shot(
        np.asarray(screen),
        view,
        params={"scene": "website", "screen": [sw, sh], "page_scale": round(s, 3)},
    )


def wechat_preview(page: Pixels, g: Rng, name: str) -> Shot:
    """WeChat's file preview on a phone: status bar, title bar with the file name, the page
    at 40-60 % of the screen's width, grey around it, the bottom action bar."""
    sw, sh = 1080, [2340, 2400, 2160][int(g.integers(3))]
    dark = g.random() < 0.25
    screen = Image.new("RGB", (sw, sh), (25, 25, 25) if dark else (237, 237, 237))
    d = ImageDraw.Draw(screen)
    top, bottom = 96 + 132, sh - 190
    bar = (38, 38, 38) if dark else (247, 247, 247)
    ink = (230, 230, 230) if dark else (25, 25, 25)
    d.rectangle((0, 0, sw, top), fill=bar)
    _text(d, (60, 30), f"{int(g.integers(8, 22))}:{int(g.integers(0, 60)):02d}", 38, ink)
    _text(d, (sw - 200, 30), "5G 86%", 34, ink)
    _text(d, (48, 140), "✕", 48, ink)
    _text(d, (sw / 2, 150), name if len(name) < 16 else name[:15] + "…", 40, ink, anchor="ma")
    _text(d, (sw - 90, 140), "···", 48, ink)
    pw = page.shape[1]
    s = float(g.uniform(0.4, 0.6)) * sw / pw
    x = (sw - pw * s) / 2
    y = top + float(g.uniform(30, 260))
    matrix = _paste(screen, page, s, x, y, (0, top, sw, bottom))
    d.rectangle((0, bottom, sw, sh), fill=bar)
    for i, label in enumerate(("用其他应用打开", "转发", "收藏")):
        _text(d, (sw * (0.2 + 0.3 * i), bottom + 60), label, 32, ink, anchor="ma")
    view = View().then(matrix, (0, top, sw - 1, bottom - 1))
    return Shot(
        np.asarray(screen),
        view,
        params={"scene": "wechat_preview", "width_share": round(pw * s / sw, 2)},
    )


def _oa_screen(page: Pixels, g: Rng, org: str, sw: int, sh: int) -> tuple[Image.Image, View]:
    screen = Image.new("RGB", (sw, sh), (233, 236, 241))
    d = ImageDraw.Draw(screen)
    d.rectangle((0, 0, sw, 56), fill=(26, 64, 122))
    _text(d, (24, 14), org + "协同办公系统", 24, (255, 255, 255))
    _text(d, (sw - 330, 18), "待办(12)　消息　退出", 18, (220, 230, 245))
    d.rectangle((0, 56, 210, sh), fill=(244, 246, 250))
    for i, item in enumerate(
        ("收文管理", "　待办收文", "　已办收文", "发文管理", "公文查询", "会议管理", "督查督办")
    ):
        _text(d, (22, 80 + i * 40), item, 18, (40, 40, 40))
    d.rectangle((220, 66, sw - 10, 110), fill=(255, 255, 255))
    _text(d, (236, 78), "收文阅办单　｜　正文　｜　附件　｜　流程跟踪", 18, (60, 60, 60))
    panel = (230, 120, sw - 300, sh - 10)
    d.rectangle(panel, fill=(128, 128, 132))
    d.rectangle((sw - 290, 120, sw - 10, sh - 10), fill=(255, 255, 255))
    for i, item in enumerate(("办理意见：", "请　阅。", "拟办：", "请办公室阅处", "办理期限：3日")):
        _text(d, (sw - 276, 136 + i * 34), item, 17, (50, 50, 50))
    pw = page.shape[1]
    width = panel[2] - panel[0]
    s = float(g.uniform(0.7, 0.96)) * width / pw
    x = panel[0] + (width - pw * s) / 2
    y = panel[1] + float(g.uniform(6, 30))
    matrix = _paste(screen, page, s, x, y, panel)
    view = View().then(matrix, (panel[0], panel[1], panel[2] - 1, panel[3] - 1))
    return screen, view


def oa_viewer(page: Pixels, g: Rng, org: str) -> Shot:
    """An office-automation system showing the incoming document in its reading pane."""
    sw, sh = [(1600, 900), (1920, 1080), (1440, 900)][int(g.integers(3))]
    screen, view = _oa_screen(page, g, org, sw, sh)
    return Shot(np.asarray(screen), view, params={"scene": "oa_viewer", "screen": [sw, sh]})


# --- a photo of a monitor ----------------------------------------------------------------


def _subpixels(screen: Pixels) -> Floats:
    """The screen as its panel emits it: each pixel three vertical stripes (R, G, B) with a
    dark gap, at three times the resolution. Photographing this grid makes the moiré.

    Light, not pixel values: a stripe carries its pixel's whole light (2.4 times the value
    on a third of the width) and is not clipped at 255, or a mid-grey window would emit as
    much as paper white and the photo would lose the page's contrast to the grey around it.
    The camera's exposure clips, at the end."""
    big = np.repeat(np.repeat(screen, 3, axis=0), 3, axis=1).astype(np.float32)
    stripes = np.zeros((1, big.shape[1], 3), np.float32)
    for channel in range(3):
        stripes[0, channel::3, channel] = 1.0
    rows = np.ones((big.shape[0], 1, 1), np.float32)
    rows[2::3] = 0.55  # the black matrix between pixel rows
    return big * stripes * rows * 2.4


def _cast(img: Floats, g: Rng, params: dict[str, Any]) -> None:
    """The camera's white balance against the panel's backlight: red drifts to magenta (blue
    added) or to orange (green added), whites go bluish."""
    kind = ("magenta", "orange", "blue")[int(g.integers(3))]
    r, gch, b = img[..., 0], img[..., 1], img[..., 2]
    redness = np.clip((r - np.maximum(gch, b)) / 255, 0, 1)
    if kind == "magenta":
        img[..., 2] += redness * float(g.uniform(50, 110))
    elif kind == "orange":
        img[..., 1] += redness * float(g.uniform(40, 90))
    img *= np.array([0.92, 0.98, 1.08], np.float32)
    params["cast"] = kind


def monitor_photo(page: Pixels, g: Rng, org: str) -> Shot:
    """The page on an office monitor (OA viewer or full-screen), photographed with a phone:
    bezel, tilt, the subpixel grid beating against the sensor (moiré, rainbow bands), a
    colour cast, glare."""
    sw, sh = (1280, 800) if g.random() < 0.5 else (1366, 768)
    if g.random() < 0.5:
        screen_img, view = _oa_screen(page, g, org, sw, sh)
        screen = np.asarray(screen_img)
    else:
        pw = page.shape[1]
        s = float(g.uniform(0.95, 1.5)) * sw / pw * 0.5
        canvas = Image.new("RGB", (sw, sh), (90, 90, 94))
        matrix = _paste(
            canvas, page, s, (sw - pw * s) / 2, float(g.uniform(-40, 10)), (0, 0, sw, sh)
        )
        view = View().then(matrix, (0, 0, sw - 1, sh - 1))
        screen = np.asarray(canvas)
    bezel = int(g.integers(18, 40))
    panel = _subpixels(screen)
    ph3, pw3 = panel.shape[:2]
    framed = np.full((ph3 + 6 * bezel, pw3 + 6 * bezel, 3), int(g.integers(12, 36)), np.float32)
    framed[3 * bezel : 3 * bezel + ph3, 3 * bezel : 3 * bezel + pw3] = panel
    to_panel = _move(3 * bezel, 3 * bezel) @ _scale(3.0)
    fw, fh = (1600, 1200) if g.random() < 0.7 else (2000, 1500)
    fh3, fw3 = framed.shape[:2]
    quad = _quad(g, fw3, fh3, fw, fh, float(g.uniform(0.8, 1.02)))
    src = np.array([[0, 0], [fw3, 0], [fw3, fh3], [0, fh3]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, quad).astype(np.float64)
    # INTER_LINEAR, not AREA: a camera samples the grid, it does not average it; this aliasing
    # is where the moiré and its rainbow bands come from.
    grid = cv2.warpPerspective(
        framed, matrix, (fw, fh), flags=cv2.INTER_LINEAR, borderValue=(30, 28, 26)
    )
    # The lens low-passes most of the grid away: what is left of it is the moiré.
    plain = np.repeat(np.repeat(screen, 3, axis=0), 3, axis=1)
    flat = np.full_like(framed, framed[0, 0, 0])
    flat[3 * bezel : 3 * bezel + ph3, 3 * bezel : 3 * bezel + pw3] = plain
    smooth = cv2.warpPerspective(
        flat, matrix, (fw, fh), flags=cv2.INTER_AREA, borderValue=(30, 28, 26)
    )
    strength = float(g.uniform(0.12, 0.4))
    img = smooth.astype(np.float32) * (1 - strength) + grid.astype(np.float32) * strength
    img = cv2.GaussianBlur(img, (0, 0), float(g.uniform(0.6, 1.3)))
    params: dict[str, Any] = {"scene": "monitor", "frame": [fw, fh], "moire": round(strength, 2)}
    _cast(img, g, params)
    yy, xx = np.mgrid[0:fh, 0:fw].astype(np.float32)
    gx, gy = float(g.uniform(0.2, 0.8)) * fw, float(g.uniform(0.2, 0.8)) * fh
    img += (
        float(g.uniform(10, 45))
        * np.exp(-(((xx - gx) ** 2 + (yy - gy) ** 2) / (0.08 * fw * fw)))[..., None]
    )
    img += g.normal(0, 3, img.shape[:2]).astype(np.float32)[..., None]
    out = img.clip(0, 255).astype(np.uint8)
    view.then(matrix @ to_panel, (0, 0, fw - 1, fh - 1))
    return Shot(out, view, params=params)


def encode(
    shot: Shot, g: Rng, *, png: bool = False, quality: int | None = None
) -> tuple[bytes, str]:
    bgr = cv2.cvtColor(shot.pixels, cv2.COLOR_RGB2BGR)
    if png:
        ok, buf = cv2.imencode(".png", bgr)
        return buf.tobytes(), "png"
    q = quality or int(g.integers(58, 90))
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, q])
    if not ok:
        raise RuntimeError("encoding failed")
    shot.params["jpeg_quality"] = q
    return buf.tobytes(), "jpg"
