"""Synthetic pages and photos for the OCR and vision tests (and the OCR benchmark).

Everything is drawn with PIL and the Noto CJK fonts installed with the system, so the tests
need no binary fixtures. Geometry follows GB/T 9704-2012 in millimetres, scaled to the
requested pixel width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

SERIF_BOLD = "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc"
SERIF = "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"
SANS = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
SANS_BOLD = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"
SC_INDEX = 2  # the Simplified Chinese face inside the .ttc collections

RED = (220, 20, 30)
SEAL_RED = (225, 30, 40)
BLACK = (20, 20, 20)

ORGAN = "吉林省人民政府办公厅文件"
DOC_NUMBER = "吉政办发〔2024〕15号"
MARKING = "机密★1年"
COPY_NUMBER = "000123"
TITLE = "关于做好全省防汛抗旱工作的通知"

BODY = (
    "各市州人民政府，长白山管委会，各县市人民政府，省政府各厅委办直属机构：为切实做好今年汛期"
    "防汛抗旱各项工作，确保人民群众生命财产安全，经省政府同意，现就有关事项通知如下。一是压实"
    "防汛责任，各地要严格落实以行政首长负责制为核心的各项责任制，层层分解任务，明确责任人员。"
    "二是加强监测预警，气象水利自然资源等部门要密切关注天气变化，及时发布预警信息，做好会商研"
    "判。三是强化隐患排查，对水库堤防山洪地质灾害易发区城市低洼地带开展拉网式排查，建立台账，"
    "限期整改到位。四是做好应急准备，充实抢险队伍，储备物资器材，修订完善应急预案，开展实战演"
    "练。五是严格值班值守，实行领导带班和二十四小时值班制度，遇有重大险情灾情要第一时间报告，"
    "不得迟报漏报瞒报。六是加强宣传引导，及时发布权威信息，普及防灾避险知识，提高群众自救互救"
    "能力。各地各部门要把思想和行动统一到省委省政府决策部署上来，以高度负责的态度抓好各项工作"
    "落实，确保安全度汛。"
)


def font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=SC_INDEX)


@dataclass
class SynthPage:
    """A rendered page and the text drawn on it, line by line (for accuracy checks)."""

    image: np.ndarray
    lines: list[str] = field(default_factory=list)
    mark_box: tuple[int, int, int, int] | None = None
    rule_y: int | None = None
    seal_box: tuple[int, int, int, int] | None = None


def _text_centered(
    draw: ImageDraw.ImageDraw,
    cx: float,
    y: float,
    text: str,
    f: ImageFont.FreeTypeFont,
    fill: tuple,
) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=f)
    x = cx - (x1 - x0) / 2 - x0
    draw.text((x, y - y0), text, font=f, fill=fill)
    return (int(x + x0), int(y), int(x + x1), int(y + y1 - y0))


def _wrap(text: str, width: int) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)]


def render_official_page(
    width: int = 1240,
    *,
    organ: str = ORGAN,
    doc_number: str = DOC_NUMBER,
    marking: str | None = MARKING,
    body_lines: int = 18,
    chars_per_line: int = 28,
    seal: bool = True,
    star_rule: bool = False,
    top_half: bool = False,
) -> SynthPage:
    """A GB/T 9704 first page: copy number, marking, red organ mark, number, red rule, body."""
    mm = width / 210.0
    height = round(297 * mm)
    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    left, right = 28 * mm, (210 - 26) * mm
    pitch = (right - left) / chars_per_line
    body_font = font(SERIF, int(min(5.6 * mm, 0.97 * pitch)))
    line_pitch = 1.82 * body_font.size
    lines: list[str] = []

    y = 37 * mm
    for text in (COPY_NUMBER, marking):
        if text:
            draw.text((left, y), text, font=font(SANS, int(5.6 * mm)), fill=BLACK)
            lines.append(text)
            y += 8 * mm
    mark_font = font(SERIF_BOLD, int(min(15 * mm, (right - left) / len(organ))))
    mark_box = _text_centered(draw, width / 2, 62 * mm, organ, mark_font, RED)
    lines.append(organ)
    number_box = _text_centered(
        draw, width / 2, mark_box[3] + 12 * mm, doc_number, body_font, BLACK
    )
    lines.append(doc_number)
    rule_y = int(number_box[3] + 5 * mm)
    thickness = max(2, int(0.8 * mm))
    if star_rule:
        gap = 6 * mm
        draw.rectangle((left, rule_y, width / 2 - gap, rule_y + thickness), fill=RED)
        draw.rectangle((width / 2 + gap, rule_y, right, rule_y + thickness), fill=RED)
        _star(draw, width / 2, rule_y + thickness / 2, 4 * mm, RED)
    else:
        draw.rectangle((left, rule_y, right, rule_y + thickness), fill=RED)

    y = rule_y + 10 * mm
    title_font = font(SERIF_BOLD, int(7.7 * mm))
    _text_centered(draw, width / 2, y, TITLE, title_font, BLACK)
    lines.append(TITLE)
    y += 14 * mm
    body = (BODY * 4)[: body_lines * chars_per_line]
    for row in _wrap(body, chars_per_line)[:body_lines]:
        if y > height - 30 * mm:
            break
        for i, ch in enumerate(row):
            draw.text((left + i * pitch, y), ch, font=body_font, fill=BLACK)
        lines.append(row)
        y += line_pitch
    page = SynthPage(np.asarray(img).copy(), lines, mark_box, rule_y)
    if seal:
        r = int(21 * mm)
        cx, cy = int(right - 45 * mm), int(min(y + 5 * mm, height - r - 15 * mm))
        draw_seal(page.image, (cx, cy), r, organ.removesuffix("文件"))
        page.seal_box = (cx - r, cy - r, cx + r, cy + r)
    if top_half:
        page.image = page.image[: height // 2].copy()
    return page


def _star(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, fill: tuple) -> None:
    pts = []
    for i in range(10):
        rad = r if i % 2 == 0 else r * 0.4
        a = -math.pi / 2 + i * math.pi / 5
        pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
    draw.polygon(pts, fill=fill)


def draw_seal(
    image: np.ndarray,
    center: tuple[int, int],
    radius: int,
    text: str,
    *,
    aspect: float = 1.0,
    star: bool = True,
    strength: float = 0.9,
) -> None:
    """Multiply a red round (or oval, `aspect` = width/height) seal onto `image` in place.

    `strength` is the ink's opacity: 0.3 is a faded, pink stamp.
    """
    size = int(2 * radius * max(aspect, 1.0)) + 8
    layer = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(layer)
    c = size / 2
    rx, ry = radius * aspect if aspect > 1 else radius, radius
    ring = max(3, radius // 16)
    draw.ellipse((c - rx, c - ry, c + rx, c + ry), outline=255, width=ring)
    if star:
        _star(draw, c, c, radius * 0.3, 255)
    else:  # invoice seals carry the taxpayer number across the middle
        _text_centered(
            draw,
            c,
            c - radius * 0.12,
            "91220101MA0000000X",
            font(SANS_BOLD, max(8, int(radius * 0.2))),
            255,
        )
    glyph = font(SANS_BOLD, max(8, int(radius * 0.26)))
    n = len(text)
    span = math.radians(220 if aspect <= 1 else 160)
    for i, ch in enumerate(text):
        a = -math.pi / 2 - span / 2 + span * (i + 0.5) / n
        tile = Image.new("L", (glyph.size * 2, glyph.size * 2), 0)
        ImageDraw.Draw(tile).text((glyph.size / 2, glyph.size / 2), ch, font=glyph, fill=255)
        tile = tile.rotate(-math.degrees(a) - 90, resample=Image.BICUBIC)
        px = c + (rx - ring - glyph.size * 0.75) * math.cos(a) - tile.width / 2
        py = c + (ry - ring - glyph.size * 0.75) * math.sin(a) - tile.height / 2
        layer.paste(255, (int(px), int(py)), tile)
    alpha = np.asarray(layer, dtype=np.float32)[..., None] / 255.0 * strength
    x0, y0 = center[0] - size // 2, center[1] - size // 2
    # Clip the layer to the image (a seal may stand at the edge).
    lx, ly = max(0, -x0), max(0, -y0)
    x0, y0 = max(0, x0), max(0, y0)
    region = image[y0 : y0 + size - ly, x0 : x0 + size - lx].astype(np.float32)
    a = alpha[ly : ly + region.shape[0], lx : lx + region.shape[1]]
    ink = np.array(SEAL_RED, dtype=np.float32) / 255.0
    image[y0 : y0 + region.shape[0], x0 : x0 + region.shape[1]] = (
        region * (1 - a + a * ink)
    ).astype(np.uint8)


def render_banner(width: int = 1600, *, red_background: bool = False) -> np.ndarray:
    """A festive banner: 热烈庆祝 … in red on white, or in yellow on red."""
    height = width // 4
    bg, fg = ((200, 20, 25), (255, 220, 60)) if red_background else ((255, 255, 255), RED)
    img = Image.new("RGB", (width, height), bg)
    draw = ImageDraw.Draw(img)
    _text_centered(
        draw, width / 2, height * 0.3, "热烈庆祝公司成立二十周年", font(SERIF_BOLD, height // 4), fg
    )
    return np.asarray(img).copy()


def render_slide(width: int = 1600) -> np.ndarray:
    """A 16:9 slide with a filled red title bar and black bullet text."""
    height = width * 9 // 16
    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, width, height // 7), fill=(190, 20, 30))
    _text_centered(
        draw,
        width / 2,
        height // 28,
        "二〇二四年工作总结",
        font(SANS_BOLD, height // 14),
        (255, 255, 255),
    )
    f = font(SANS, height // 22)
    for i, text in enumerate(
        ["一、全年营业收入稳步增长", "二、重点项目按期推进", "三、客户满意度持续提升"]
    ):
        draw.text((width * 0.1, height * (0.3 + 0.15 * i)), text, font=f, fill=BLACK)
    return np.asarray(img).copy()


def render_red_title_slide(width: int = 1600) -> np.ndarray:
    """A slide with a big red title and a thin red line under it (a common false alarm)."""
    height = width * 9 // 16
    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    _text_centered(
        draw,
        width / 2,
        height * 0.08,
        "热烈欢迎各位领导莅临指导",
        font(SERIF_BOLD, height // 12),
        RED,
    )
    draw.rectangle((width * 0.1, height * 0.22, width * 0.9, height * 0.22 + 4), fill=RED)
    f = font(SANS, height // 22)
    for i, text in enumerate(
        ["一、全年营业收入稳步增长", "二、重点项目按期推进", "三、客户满意度持续提升"]
    ):
        draw.text((width * 0.1, height * (0.35 + 0.15 * i)), text, font=f, fill=BLACK)
    return np.asarray(img).copy()


def render_invoice(width: int = 1600) -> np.ndarray:
    """An e-invoice: red title with a double underline, red table grid, oval seal."""
    height = int(width * 0.62)
    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    box = _text_centered(
        draw,
        width / 2,
        height * 0.05,
        "电子发票（普通发票）",
        font(SERIF_BOLD, height // 16),
        (180, 60, 50),
    )
    for dy in (8, 14):
        draw.line((box[0], box[3] + dy, box[2], box[3] + dy), fill=(180, 60, 50), width=2)
    x0, x1, y0, y1 = width * 0.04, width * 0.96, height * 0.2, height * 0.9
    draw.rectangle((x0, y0, x1, y1), outline=(180, 60, 50), width=3)
    for fy in (0.32, 0.62, 0.72, 0.8):
        y = y0 + (y1 - y0) * (fy - 0.2) / 0.7 + (y1 - y0) * 0.0
        draw.line((x0, y, x1, y), fill=(180, 60, 50), width=2)
    for fx in (0.08, 0.5, 0.54):
        draw.line((width * fx, y0, width * fx, y0 + (y1 - y0) * 0.2), fill=(180, 60, 50), width=2)
    f = font(SANS, height // 40)
    for i, text in enumerate(
        [
            "名称：某某科技有限公司",
            "纳税人识别号：91220101MA0000000X",
            "项目名称 办公用品 金额 1280.00",
        ]
    ):
        draw.text((width * 0.1, y0 + 20 + i * height * 0.06), text, font=f, fill=BLACK)
    page = np.asarray(img).copy()
    draw_seal(
        page,
        (int(width * 0.8), int(height * 0.1)),
        int(height * 0.07),
        "某某科技有限公司发票专用章",
        aspect=1.5,
        star=False,
    )
    return page


def render_plain_document(width: int = 1240) -> np.ndarray:
    """A black-only document: title and body, no red at all."""
    page = render_official_page(width, seal=False, marking=None).image
    red = (page[..., 0] > 150) & (page[..., 1] < 120)
    page[red] = (30, 30, 30)
    return page


def render_screenshot(width: int = 1080, height: int = 2340) -> np.ndarray:
    """A phone screenshot of a chat with a table: status bar, bubbles, a bordered table."""
    img = Image.new("RGB", (width, height), (237, 237, 237))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, width, 160), fill=(237, 237, 237))
    f = font(SANS, 40)
    draw.text((40, 60), "工作群（36）", font=f, fill=BLACK)
    draw.rectangle((60, 300, width - 60, 1900), fill=(255, 255, 255), outline=(0, 0, 0), width=3)
    for i in range(1, 12):
        draw.line((60, 300 + i * 133, width - 60, 300 + i * 133), fill=(0, 0, 0), width=2)
        draw.text(
            (90, 340 + (i - 1) * 133), f"张三{i}  138001380{i:02d}  排查完成", font=f, fill=BLACK
        )
    draw.line((width // 2, 300, width // 2, 1900), fill=(0, 0, 0), width=2)
    return np.asarray(img).copy()


def render_monitor(page: np.ndarray, width: int = 1920) -> np.ndarray:
    """A monitor showing `page` in an office-system window: black bezel, grey UI, title bar."""
    height = width * 9 // 16
    screen = np.full((height, width, 3), 205, np.uint8)
    screen[: height // 14] = (40, 90, 160)
    ph, pw = page.shape[:2]
    scale = 0.9 * height / ph
    shown = cv2.resize(page, (int(pw * scale), int(ph * scale)), interpolation=cv2.INTER_AREA)
    y0, x0 = height // 14 + 10, (width - shown.shape[1]) // 2
    screen[y0 : y0 + shown.shape[0], x0 : x0 + shown.shape[1]] = shown[: height - y0]
    bezel = width // 40
    framed = np.full((height + 2 * bezel, width + 2 * bezel, 3), 18, np.uint8)
    framed[bezel:-bezel, bezel:-bezel] = screen
    return framed


def textured_background(
    height: int, width: int, seed: int = 0, *, dark: bool = False
) -> np.ndarray:
    """A wood-like desk: brown base, grain streaks, noise."""
    rng = np.random.default_rng(seed)
    ys = np.arange(height, dtype=np.float32)[:, None]
    xs = np.arange(width, dtype=np.float32)[None, :]
    grain = np.sin(xs / 23.0 + 3 * np.sin(ys / 140.0)) * 0.5 + 0.5
    noise = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 3)
    base = np.array((110, 78, 50) if not dark else (45, 42, 40), dtype=np.float32)
    tex = base[None, None, :] * (0.8 + 0.25 * grain[..., None] + 0.08 * noise[..., None])
    return np.clip(tex, 0, 255).astype(np.uint8)


def photograph(
    page: np.ndarray,
    size: tuple[int, int] = (3000, 4000),
    *,
    seed: int = 0,
    warm: bool = False,
    fill: float = 0.78,
    jpeg_quality: int = 88,
    rotate_k: int = 0,
    offset: tuple[float, float] = (0.0, 0.0),
    turn: float = 0.0,
    desk: tuple[int, int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Photograph `page` on a desk: perspective, shading, optional warm cast, blur, JPEG.

    Returns the photo (H x W x 3 RGB, `size` = (width, height)) and the page corners in it
    (TL, TR, BR, BL of the page as printed, before `rotate_k` quarter turns of the photo).
    `offset` moves the page by that share of the frame (to let it run off an edge), `turn`
    turns it on the desk by that many degrees counter-clockwise, and `desk` is a plain desk
    colour instead of wood (a white table is as bright as the paper).
    """
    rng = np.random.default_rng(seed)
    w, h = size
    ph, pw = page.shape[:2]
    scale = fill * min(w / pw, h / ph)
    cw, ch = pw * scale, ph * scale
    cx = w * (0.5 + offset[0] + rng.uniform(-0.04, 0.04))
    cy = h * (0.5 + offset[1] + rng.uniform(-0.03, 0.03))
    jitter = 0.06 * min(cw, ch)
    corners = np.array(
        [
            [cx - cw / 2, cy - ch / 2],
            [cx + cw / 2, cy - ch / 2],
            [cx + cw / 2, cy + ch / 2],
            [cx - cw / 2, cy + ch / 2],
        ],
        dtype=np.float32,
    )
    corners += rng.uniform(-jitter, jitter, corners.shape).astype(np.float32)
    corners[0:2, 0] += np.float32(0.04 * cw) * np.array([1, -1], dtype=np.float32)  # top narrower
    if turn:
        spin = cv2.getRotationMatrix2D((float(cx), float(cy)), turn, 1.0)
        corners = (corners @ spin[:, :2].T + spin[:, 2]).astype(np.float32)
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, corners)
    photo = textured_background(h, w, seed)
    if desk is not None:
        photo[:] = desk
    cv2.warpPerspective(page, matrix, (w, h), dst=photo, borderMode=cv2.BORDER_TRANSPARENT)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    shade = 0.82 + 0.18 * (1 - ((xx - w * 0.3) ** 2 + (yy - h * 0.2) ** 2) / (w * w + h * h))
    img = photo.astype(np.float32) * shade[..., None]
    if warm:
        img *= np.array([1.0, 0.82, 0.55], dtype=np.float32)
    img = cv2.GaussianBlur(img, (0, 0), 1.1)
    img += rng.normal(0, 3, img.shape).astype(np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    assert ok
    out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()
    if rotate_k:
        out = np.ascontiguousarray(np.rot90(out, rotate_k))
    return out, corners


def downscale(image: np.ndarray, max_side: int) -> np.ndarray:
    """What the extractor does to camera images (decode at most this large)."""
    h, w = image.shape[:2]
    s = max_side / max(h, w)
    if s >= 1:
        return image
    return cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)


def char_accuracy(truth: list[str], lines: list[str]) -> float:
    """1 - edit distance / length over the concatenated text (whitespace ignored)."""
    a = "".join("".join(truth).split())
    b = "".join("".join(lines).split())
    return max(0.0, 1.0 - _edit_distance(a, b) / max(1, len(a)))


def _edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]
