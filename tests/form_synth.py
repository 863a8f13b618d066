"""Pages the corpus generator does not draw: telegram forms, 上行文, an organ name alone, and
red look-alikes (community notices, menus, receipts, invoices, newspapers, book pages,
itineraries, gate plaques). Drawn with PIL in the installed CJK fonts, scanned by the tests
with the real OCR engine, so that the detectors are judged on what OCR makes of them.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
import pymupdf
from PIL import Image, ImageDraw, ImageFont
from vision_synth import BLACK, RED, SANS, SANS_BOLD, SERIF, SERIF_BOLD, draw_seal, font

WIDTH, HEIGHT = 1240, 1754
"""A4 at 150 dpi."""
MM = WIDTH / 210
LEFT, RIGHT = round(28 * MM), round(WIDTH - 26 * MM)

BODY = (
    "各区县人民政府，市政府各部门：为切实做好今年汛期防汛抗旱各项工作，确保人民群众生命财产安全"
    "，经市政府同意，现就有关事项通知如下。一是压实防汛责任，各地要严格落实各项责任制，层层分解"
    "任务，明确责任人员。二是加强监测预警，气象水利等部门要密切关注天气变化，及时发布预警信息。"
    "三是强化隐患排查，对水库堤防山洪地质灾害易发区开展拉网式排查，建立台账，限期整改到位。"
)

TELEGRAM_FIELDS = (
    ("发电单位", "江湾市人民政府办公室", "签　发", "卢思远"),
    ("密　级", "机密", "等　级", "加急"),
    ("电报号", "湾政办电〔2023〕44号", "份　号", "000046"),
)


def _canvas(width: int = WIDTH, height: int = HEIGHT) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("RGB", (width, height), (252, 252, 250))
    return img, ImageDraw.Draw(img)


def _centered(
    draw: ImageDraw.ImageDraw, y: float, text: str, f: ImageFont.FreeTypeFont, fill: tuple
) -> tuple[int, int, int, int]:
    box = draw.textbbox((0, 0), text, font=f)
    x = (WIDTH - (box[2] - box[0])) / 2 - box[0]
    draw.text((x, y - box[1]), text, font=f, fill=fill)
    return int(x + box[0]), int(y), int(x + box[2]), int(y + box[3] - box[1])


def _fit(text: str, path: str, size: int, width: float) -> ImageFont.FreeTypeFont:
    """The font at `size`, smaller where `text` would not fit in `width`."""
    f = font(path, size)
    while f.size > 12 and f.getlength(text) > width:
        f = font(path, f.size - 2)
    return f


def _body(draw: ImageDraw.ImageDraw, y: float, rows: int, *, size: int = 33) -> float:
    """Running black text from `y`, justified to the text width; returns the next line's y."""
    f = font(SERIF, size)
    per_line = int((RIGHT - LEFT) // size)
    text = (BODY * 4)[: rows * per_line]
    for i in range(0, len(text), per_line):
        draw.text((LEFT, y), text[i : i + per_line], font=f, fill=BLACK)
        y += size * 1.75
    return y


def _title_and_body(draw: ImageDraw.ImageDraw, y: float, title: str, rows: int = 8) -> float:
    _centered(draw, y, title, font(SERIF_BOLD, 44), BLACK)
    return _body(draw, y + 90, rows)


def _rule(draw: ImageDraw.ImageDraw, y: float, *, double: bool = False, thick: int = 4) -> None:
    draw.rectangle((LEFT, y, RIGHT, y + thick), fill=RED)
    if double:
        draw.rectangle((LEFT, y + thick + 6, RIGHT, y + thick + 7), fill=RED)


def _array(img: Image.Image) -> np.ndarray:
    return np.asarray(img).copy()


# Documents.


def telegram_form(
    title: str = "密码电报",
    fields: tuple[tuple[str, str, str, str], ...] = TELEGRAM_FIELDS,
    *,
    grid: tuple[int, int, int] = RED,
    title_ink: tuple[int, int, int] = RED,
) -> np.ndarray:
    """明电 / 密码电报: a red title over a table ruled in red, label and value in cells of
    their own, labels letter-spaced; then the telegram's title and text."""
    img, draw = _canvas()
    mark = _fit(title, SERIF_BOLD, 96, RIGHT - LEFT)
    top = _centered(draw, 150, title, mark, title_ink)[3] + 50
    row_h = 78
    cols = (LEFT, LEFT + 0.18 * (RIGHT - LEFT), LEFT + 0.62 * (RIGHT - LEFT))
    cols += (LEFT + 0.77 * (RIGHT - LEFT), RIGHT)
    bottom = top + row_h * len(fields)
    draw.rectangle((LEFT, top, RIGHT, bottom), outline=grid, width=4)
    for i in range(1, len(fields)):
        draw.line((LEFT, top + i * row_h, RIGHT, top + i * row_h), fill=grid, width=2)
    for x in cols[1:-1]:
        draw.line((x, top, x, bottom), fill=grid, width=2)
    label_font = font(SANS, 30)
    for r, row in enumerate(fields):
        y = top + r * row_h + (row_h - 34) / 2
        for c, text in enumerate(row):
            width = cols[c + 1] - cols[c] - 24
            f = label_font if c % 2 == 0 else _fit(text, SERIF, 32, width)
            draw.text((cols[c] + 12, y), text, font=f, fill=BLACK)
    _title_and_body(draw, bottom + 80, "关于做好近期防汛工作的紧急通知", rows=10)
    return _array(img)


def upward_report(*, kind: str = "请示", organ: str = "江湾市交通运输局文件") -> np.ndarray:
    """上行文 (GB/T 9704 §7.2.3): the organ mark 80 mm below the top of the type area (which
    is 37 mm from the page's edge), the number left and 签发人 right two lines below it, the
    red rule 4 mm under them: past the middle of the page."""
    img, draw = _canvas()
    draw.text((LEFT, 40 * MM), "000012", font=font(SANS, 32), fill=BLACK)
    draw.text((LEFT, 48 * MM), "特急", font=font(SANS_BOLD, 32), fill=BLACK)
    mark = _fit(organ, SERIF_BOLD, 92, RIGHT - LEFT)
    bottom = _centered(draw, (37 + 80) * MM, organ, mark, RED)[3]
    y = bottom + 14 * MM
    body = font(SERIF, 33)
    draw.text((LEFT + 33, y), "湾交〔2023〕12号", font=body, fill=BLACK)
    issuer = "签发人：卢思远"
    draw.text((RIGHT - 33 - body.getlength(issuer), y), issuer, font=body, fill=BLACK)
    _rule(draw, y + 33 + 4 * MM)
    title = f"江湾市交通运输局关于调整城区公交线路的{kind}"
    _title_and_body(draw, y + 33 + 14 * MM, title, rows=8)
    return _array(img)


def organ_alone_notice() -> np.ndarray:
    """An issued notice whose red organ name stands alone at the top: no number, no rule."""
    img, draw = _canvas()
    organ = "江湾市人民政府办公室"
    _centered(draw, 170, organ, _fit(organ, SERIF_BOLD, 92, RIGHT - LEFT), RED)
    y = _title_and_body(draw, 400, "关于做好二〇二三年春节期间安全生产工作的通知", rows=12)
    f = font(SERIF, 33)
    for text in ("江湾市人民政府办公室", "2023年1月12日"):
        draw.text((RIGHT - 60 - f.getlength(text), y + 60), text, font=f, fill=BLACK)
        y += 58
    page = _array(img)
    draw_seal(page, (RIGHT - 200, int(y - 20)), 130, "江湾市人民政府办公室")
    return page


# Red look-alikes.


def community_notice() -> np.ndarray:
    """A residents' notice on a notice board: big red title, red double rule, no organ."""
    img, draw = _canvas()
    _centered(draw, 160, "停水通知", font(SANS_BOLD, 150), RED)
    _rule(draw, 360, double=True, thick=6)
    draw.text((LEFT, 420), "各位业主：", font=font(SANS, 40), fill=BLACK)
    y = _body(draw, 490, 9, size=40)
    f = font(SANS, 40)
    for text in ("锦绣花园物业服务处", "2023年6月5日"):
        draw.text((RIGHT - f.getlength(text), y + 50), text, font=f, fill=BLACK)
        y += 60
    return _array(img)


def menu() -> np.ndarray:
    """A restaurant menu: red title, red dish names, black prices."""
    img, draw = _canvas()
    _centered(draw, 120, "湘味小厨", font(SERIF_BOLD, 120), RED)
    _rule(draw, 300)
    dishes = ("剁椒鱼头", "小炒黄牛肉", "农家一碗香", "擂辣椒皮蛋", "手撕包菜", "酸辣土豆丝")
    f, price = font(SANS_BOLD, 48), font(SANS, 44)
    for i, dish in enumerate(dishes):
        y = 400 + i * 170
        draw.text((LEFT, y), dish, font=f, fill=RED)
        draw.text((RIGHT - 180, y), f"{38 + 6 * i}元", font=price, fill=BLACK)
        draw.text((LEFT, y + 70), "精选食材，现点现做，香辣可口", font=font(SANS, 32), fill=BLACK)
    return _array(img)


def taxi_receipt() -> np.ndarray:
    """A taxi receipt: narrow paper, red printed title and frame, black printed fare."""
    img, draw = _canvas(620, 1400)
    draw.text((60, 60), "江湾市出租汽车", font=font(SANS_BOLD, 52), fill=RED)
    draw.text((60, 130), "专用发票", font=font(SANS_BOLD, 52), fill=RED)
    draw.rectangle((40, 230, 580, 1300), outline=RED, width=3)
    f = font(SANS, 34)
    rows = ("电话 12345", "车号 湾B·T3921", "日期 2023-06-05", "上车 08:31", "下车 08:52")
    rows += ("单价 2.30元", "里程 9.4km", "等候 00:03:12", "金额 31.60元")
    for i, text in enumerate(rows):
        draw.text((70, 270 + i * 105), text, font=f, fill=BLACK)
    return _array(img)


def quota_invoice() -> np.ndarray:
    """A fixed-amount invoice (定额发票): red title, red amount, red frame and seal."""
    img, draw = _canvas(1100, 620)
    draw.rectangle((30, 30, 1070, 590), outline=RED, width=4)
    _centre_in(draw, 1100, 60, "江湾市通用定额发票", font(SERIF_BOLD, 64), RED)
    _centre_in(draw, 1100, 200, "壹拾元", font(SERIF_BOLD, 110), RED)
    f = font(SANS, 32)
    draw.text((70, 400), "发票代码 144002300110", font=f, fill=BLACK)
    draw.text((70, 460), "发票号码 03317764", font=f, fill=BLACK)
    page = _array(img)
    draw_seal(page, (880, 470), 90, "江湾市税务局", aspect=1.5)
    return page


def _centre_in(
    draw: ImageDraw.ImageDraw,
    width: int,
    y: float,
    text: str,
    f: ImageFont.FreeTypeFont,
    fill: tuple,
) -> None:
    box = draw.textbbox((0, 0), text, font=f)
    draw.text(((width - (box[2] - box[0])) / 2 - box[0], y - box[1]), text, font=f, fill=fill)


def newspaper() -> np.ndarray:
    """A newspaper's front page: red masthead, red rule, headline, text in columns."""
    img, draw = _canvas()
    _centered(draw, 60, "江湾日报", font(SERIF_BOLD, 170), RED)
    _rule(draw, 290, thick=6)
    draw.text((LEFT, 310), "2023年6月5日 星期一 第12345期", font=font(SANS, 28), fill=BLACK)
    _centered(draw, 400, "全市上下奋力推进高质量发展", font(SERIF_BOLD, 64), BLACK)
    f = font(SERIF, 26)
    column = (RIGHT - LEFT - 60) // 3
    per = int(column // 26)
    for c in range(3):
        x = LEFT + c * (column + 30)
        for r in range(30):
            start = (c * 30 + r) * per % len(BODY)
            draw.text((x, 540 + r * 40), (BODY * 2)[start : start + per], font=f, fill=BLACK)
    return _array(img)


def book_page() -> np.ndarray:
    """A book page: running head, red chapter title over a red line, text, page number."""
    img, draw = _canvas()
    draw.text((LEFT, 80), "城市治理概论", font=font(SANS, 26), fill=(90, 90, 90))
    _centered(draw, 200, "第三章　基层社会治理", font(SERIF_BOLD, 64), RED)
    _rule(draw, 300, thick=3)
    _body(draw, 360, 24)
    _centered(draw, 1660, "· 57 ·", font(SANS, 28), BLACK)
    return _array(img)


def itinerary() -> np.ndarray:
    """An air itinerary: printed form in black, with a red round seal of the issuing agent."""
    img, draw = _canvas(1600, 900)
    _centre_in(draw, 1600, 40, "航空运输电子客票行程单", font(SANS_BOLD, 56), BLACK)
    f = font(SANS, 30)
    rows = ("旅客姓名 王小明    有效身份证件号码 ********", "自 江湾 CAN    至 北京 PEK")
    rows += (
        "承运人 南方航空    航班号 CZ3101    日期 2023-06-05",
        "票价 1280.00   燃油附加费 60.00",
    )
    for i, text in enumerate(rows):
        draw.text((70, 190 + i * 90), text, font=f, fill=BLACK)
    draw.line((60, 170, 1540, 170), fill=BLACK, width=2)
    page = _array(img)
    draw_seal(page, (1300, 700), 130, "江湾航空服务有限公司")
    return page


def gate_plaque() -> np.ndarray:
    """A photo of an institute's gate plaque: red name on a light plaque, stone and trees."""
    rng = np.random.default_rng(7)
    scene = np.zeros((1600, 1200, 3), np.float32)
    scene[:] = (120, 118, 110)
    scene[1100:] = (80, 90, 70)
    scene += rng.normal(0, 8, scene.shape).astype(np.float32)
    img = Image.fromarray(np.clip(scene, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    draw.rectangle((420, 120, 780, 1400), fill=(235, 232, 225))
    f = font(SERIF_BOLD, 84)
    for i, ch in enumerate("江湾市农业科学研究院"):
        draw.text((555, 150 + i * 122), ch, font=f, fill=RED)
    return cv2.GaussianBlur(_array(img), (0, 0), 1.2)


# Captures.


def monitor_photo(page: np.ndarray, *, cast: str = "magenta", seed: int = 0) -> np.ndarray:
    """A phone photo of `page` on a monitor: moiré, rainbow bands, and red shifted toward
    magenta or orange by the panel and the camera's white balance."""
    h, w = page.shape[:2]
    rng = np.random.default_rng(seed)
    img = page.astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0.2, 0.6)
    wave = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) / 3.1)
    beat = 0.5 + 0.5 * np.sin((xx * 0.7 - yy * 0.3) / 37.0)
    img *= (0.86 + 0.1 * wave * beat)[..., None]
    bands = np.stack([np.sin(yy / 53.0 + p) for p in (0.0, 2.1, 4.2)], axis=-1)
    img += 14 * bands
    tint = {"magenta": (1.0, 0.86, 1.12), "orange": (1.08, 0.98, 0.72)}[cast]
    img *= np.array(tint, np.float32)
    if cast == "magenta":  # the panel's red subpixels bleed into blue
        img[..., 2] += 0.6 * np.clip(img[..., 0] - img[..., 1], 0, None)
    else:  # warm white balance pulls red toward orange
        img[..., 1] += 0.5 * np.clip(img[..., 0] - img[..., 1], 0, None)
    img = cv2.GaussianBlur(img, (0, 0), 1.0) + rng.normal(0, 4, img.shape).astype(np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()


def jpeg(image: np.ndarray, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "PNG")
    return buf.getvalue()


# Text-layer PDFs.

_PDF_RED = (0.85, 0.05, 0.1)
_PDF_BLACK = (0.08, 0.08, 0.08)


def telegram_pdf() -> bytes:
    """A clean digital 明电: red title and red table lines, label and value as separate
    text spans in their cells."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    left, right = 80.0, 515.0
    page.insert_text(
        (130, 110), "江湾市人民政府办公室明电", fontname="china-s", fontsize=28, color=_PDF_RED
    )
    top, row_h = 140.0, 32.0
    cols = (left, left + 80, left + 270, left + 335, right)
    bottom = top + row_h * len(TELEGRAM_FIELDS)
    shape = page.new_shape()
    shape.draw_rect(pymupdf.Rect(left, top, right, bottom))
    for i in range(1, len(TELEGRAM_FIELDS)):
        shape.draw_line((left, top + i * row_h), (right, top + i * row_h))
    for x in cols[1:-1]:
        shape.draw_line((x, top), (x, bottom))
    shape.finish(color=_PDF_RED, width=1.2)
    shape.commit()
    for r, row in enumerate(TELEGRAM_FIELDS):
        for c, text in enumerate(row):
            page.insert_text(
                (cols[c] + 6, top + r * row_h + 21),
                text,
                fontname="china-s",
                fontsize=12,
                color=_PDF_BLACK,
            )
    _pdf_body(page, bottom + 50, "关于做好近期防汛工作的紧急通知")
    return _pdf_bytes(doc)


def red_heading_pdf(heading: str, *, rule: bool = False) -> bytes:
    """An ordinary text PDF whose heading is printed in red (a report, a plan, a handout)."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_text((90, 110), heading, fontname="china-s", fontsize=24, color=_PDF_RED)
    if rule:
        page.draw_line((80, 128), (515, 128), color=_PDF_RED, width=2)
    _pdf_body(page, 170, None)
    return _pdf_bytes(doc)


def organ_alone_pdf() -> bytes:
    """A notice as issued in PDF: the red organ name alone at the top, then title and text."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_text(
        (130, 110), "江湾市人民政府办公室", fontname="china-s", fontsize=32, color=_PDF_RED
    )
    _pdf_body(page, 190, "关于做好春节期间安全生产工作的通知")
    return _pdf_bytes(doc)


def _pdf_body(page: pymupdf.Page, y: float, title: str | None) -> None:
    if title:
        page.insert_text((110, y), title, fontname="china-s", fontsize=18, color=_PDF_BLACK)
        y += 45
    per_line = 27
    for i in range(0, 14 * per_line, per_line):
        text = (BODY * 3)[i : i + per_line]
        page.insert_text((80, y), text, fontname="china-s", fontsize=16, color=_PDF_BLACK)
        y += 28


def _pdf_bytes(doc: pymupdf.Document) -> bytes:
    data = doc.tobytes()
    doc.close()
    return bytes(data)
