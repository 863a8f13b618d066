"""Negatives of the second model: red things that are not an official document's red header
(issue 11's list: community notices, menus, text PDFs with a red heading, receipts and
invoices with red print and an oval seal, a newspaper's red masthead, a book page, a red gate
plaque) and other hard negatives (a festive banner, chat prose, a news page quoting a
document number, a certificate with a round seal). Drawn with PIL, or set as DOCX like the
positives (`paper_negative`) where a word processor is what makes them.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from tests.corpus2 import vocab as vc
from tests.corpus2.paper import Paper, Para, Span
from tests.corpus2.scenes import ui_font

RGB = tuple[int, int, int]
Pixels = np.ndarray

FILLER = (
    "本周三下午两点在社区活动室开展垃圾分类宣传活动，欢迎广大居民踊跃参加。",
    "近期气温变化较大，请各位业主注意防寒保暖，关好门窗，安全用电用气。",
    "因管网改造施工，小区将于周六上午八时至下午五时暂停供水，请提前做好储水准备。",
    "春风拂过山岗，村口的老槐树又抽出了新芽，孩子们在树下追逐嬉戏。",
    "本产品适用于家庭及办公场所，使用前请仔细阅读说明书并妥善保管。",
    "他把那封信折好放进抽屉，这是他们之间的秘密，谁也没有再提起。",
)


def _red(r: random.Random) -> RGB:
    return (r.randint(190, 235), r.randint(10, 45), r.randint(10, 40))


def _lines(
    draw: ImageDraw.ImageDraw,
    r: random.Random,
    box: tuple[int, int, int, int],
    px: int,
    ink: RGB = (30, 30, 30),
) -> None:
    """Fill `box` with running filler text, wrapped by character count."""
    x0, y0, x1, y1 = box
    per_line = max(4, (x1 - x0) // px)
    text = "".join(r.choice(FILLER) for _ in range(40))
    y, i = y0, 0
    while y + px < y1:
        draw.text((x0, y), text[i : i + per_line], font=ui_font(px), fill=ink)
        i += per_line
        y += int(px * 1.6)


def _oval_seal(
    draw: ImageDraw.ImageDraw, cx: int, cy: int, w: int, h: int, text: str, colour: RGB
) -> None:
    draw.ellipse((cx - w, cy - h, cx + w, cy + h), outline=colour, width=max(3, w // 20))
    draw.text((cx, cy - h // 3), text[:10], font=ui_font(max(10, w // 6)), fill=colour, anchor="mm")
    draw.text(
        (cx, cy + h // 5), "发票专用章", font=ui_font(max(10, w // 6)), fill=colour, anchor="mm"
    )
    draw.text(
        (cx, cy + h // 2),
        "".join(str(random.Random(text).randint(0, 9)) for _ in range(15)),
        font=ui_font(max(8, w // 9)),
        fill=colour,
        anchor="mm",
    )


def _round_seal(draw: ImageDraw.ImageDraw, cx: int, cy: int, radius: int, colour: RGB) -> None:
    draw.ellipse(
        (cx - radius, cy - radius, cx + radius, cy + radius),
        outline=colour,
        width=max(3, radius // 14),
    )
    draw.regular_polygon((cx, cy, radius // 3), 5, rotation=0, fill=colour)


def menu(r: random.Random) -> Image.Image:
    w, h = 1240, 1754
    img = Image.new("RGB", (w, h), (252, 248, 238))
    d = ImageDraw.Draw(img)
    red = _red(r)
    d.text(
        (w / 2, 150),
        r.choice(("职工食堂本周菜谱", "今日推荐菜单", "江湾小馆菜单")),
        font=ui_font(90),
        fill=red,
        anchor="mm",
    )
    d.line((150, 240, w - 150, 240), fill=red, width=6)
    d.line((150, 252, w - 150, 252), fill=red, width=2)
    dishes = (
        "红烧肉",
        "清蒸鲈鱼",
        "宫保鸡丁",
        "麻婆豆腐",
        "蒜蓉西兰花",
        "番茄炒蛋",
        "酸辣土豆丝",
        "老鸭汤",
        "扬州炒饭",
        "鲜肉小笼",
    )
    for i, dish in enumerate(r.sample(dishes, 8)):
        y = 340 + i * 150
        d.text((200, y), dish, font=ui_font(56), fill=(40, 30, 20))
        d.text((w - 200, y), f"{r.randint(8, 88)}元", font=ui_font(56), fill=red, anchor="ra")
    return img


def receipt(r: random.Random) -> Image.Image:
    w, h = 720, 1500
    img = Image.new("RGB", (w, h), (250, 250, 246))
    d = ImageDraw.Draw(img)
    red = _red(r)
    city = r.choice(vc.CITIES)[0]
    d.text((w / 2, 80), f"{city}出租汽车专用发票", font=ui_font(46), fill=red, anchor="mm")
    d.text(
        (w / 2, 140),
        f"发票代码 1{r.randint(10**10, 10**11 - 1)}",
        font=ui_font(28),
        fill=red,
        anchor="mm",
    )
    d.line((40, 180, w - 40, 180), fill=red, width=3)
    fields = ("车号", "日期", "上车", "下车", "单价", "里程", "等候", "金额")
    for i, name in enumerate(fields):
        d.text((60, 220 + i * 80), name, font=ui_font(34), fill=red)
        d.text(
            (240, 220 + i * 80),
            f"{r.randint(10, 999)}.{r.randint(0, 99):02d}",
            font=ui_font(34),
            fill=(30, 30, 40),
        )
    _oval_seal(d, w // 2, 1080, 200, 120, city + "出租汽车有限公司", red)
    return img


def invoice(r: random.Random) -> Image.Image:
    w, h = 1700, 1100
    img = Image.new("RGB", (w, h), (250, 248, 244))
    d = ImageDraw.Draw(img)
    brown = (r.randint(150, 190), r.randint(50, 80), r.randint(30, 60))
    d.text((w / 2, 90), "电子发票（普通发票）", font=ui_font(64), fill=brown, anchor="mm")
    d.line((560, 140, w - 560, 140), fill=brown, width=3)
    d.line((560, 150, w - 560, 150), fill=brown, width=3)
    d.rectangle((80, 220, w - 80, 960), outline=brown, width=3)
    for y in (380, 760, 860):
        d.line((80, y, w - 80, y), fill=brown, width=2)
    for i, head in enumerate(
        ("项目名称", "规格型号", "单位", "数量", "单价", "金额", "税率", "税额")
    ):
        d.text((110 + i * 190, 400), head, font=ui_font(28), fill=brown)
    d.text(
        (110, 250), "购买方信息　名称：江湾市某科技有限公司", font=ui_font(30), fill=(30, 30, 30)
    )
    d.text(
        (110, 880),
        f"价税合计（大写）　{r.choice(('壹仟', '叁佰', '伍仟'))}元整",
        font=ui_font(30),
        fill=(30, 30, 30),
    )
    _oval_seal(d, w - 350, 1000, 170, 100, "江湾市某商贸有限公司", _red(r))
    return img


def newspaper(r: random.Random) -> Image.Image:
    w, h = 1500, 2100
    img = Image.new("RGB", (w, h), (238, 234, 224))
    d = ImageDraw.Draw(img)
    red = _red(r)
    d.text(
        (w / 2, 130),
        r.choice(("江湾日报", "临澜晚报", "北岑日报")),
        font=ui_font(170),
        fill=red,
        anchor="mm",
    )
    d.line((60, 250, w - 60, 250), fill=red, width=8)
    d.text(
        (60, 270),
        f"2024年{r.randint(1, 12)}月{r.randint(1, 28)}日　星期三　今日12版　"
        f"国内统一连续出版物号 CN 22-00{r.randint(10, 99)}",
        font=ui_font(26),
        fill=(40, 40, 40),
    )
    d.line((60, 320, w - 60, 320), fill=(40, 40, 40), width=2)
    d.text(
        (w / 2, 400), "我市重点项目建设跑出加速度", font=ui_font(76), fill=(20, 20, 20), anchor="mm"
    )
    d.rectangle((60, 480, 760, 980), fill=(150, 150, 146))
    for col in range(3):
        x0 = 60 + col * 480
        _lines(
            d, r, (x0 + 720 * (col == 0 and False), 1010 if col < 2 else 480, x0 + 440, h - 80), 26
        )
    return img


def book_page(r: random.Random) -> Image.Image:
    w, h = 1100, 1600
    img = Image.new("RGB", (w, h), (246, 240, 226))
    d = ImageDraw.Draw(img)
    d.text(
        (w / 2, 70),
        r.choice(("第三章　山中岁月", "乡土纪事", "江湾往事")),
        font=ui_font(28),
        fill=(90, 90, 90),
        anchor="mm",
    )
    if r.random() < 0.5:
        d.text(
            (w / 2, 220),
            "第" + r.choice("一二三四五六七") + "章",
            font=ui_font(64),
            fill=_red(r),
            anchor="mm",
        )
    _lines(d, r, (110, 330, w - 110, h - 120), 38, (35, 32, 30))
    d.text(
        (w / 2, h - 60), str(r.randint(12, 300)), font=ui_font(28), fill=(90, 90, 90), anchor="mm"
    )
    return img


def gate_plaque(r: random.Random) -> Image.Image:
    """A gate pillar with a vertical plaque: the organ's name in red characters, top to bottom,
    as institutes and offices hang them."""
    w, h = 1200, 1600
    wall = np.full((h, w, 3), r.randint(120, 190), np.uint8)
    wall = (
        (
            wall.astype(np.int16)
            + np.random.default_rng(r.randint(0, 10**6)).integers(-18, 18, (h, w, 1))
        )
        .clip(0, 255)
        .astype(np.uint8)
    )
    img = Image.fromarray(wall)
    d = ImageDraw.Draw(img)
    org = vc.organ(r).name
    chars = list(org)
    px = min(110, 1300 // len(chars))
    x0 = r.randint(380, 620)
    d.rectangle(
        (x0, 80, x0 + px + 80, 140 + len(chars) * px + 60),
        fill=(240, 240, 236),
        outline=(170, 160, 130),
        width=8,
    )
    colour = _red(r) if r.random() < 0.7 else (20, 20, 20)
    for i, char in enumerate(chars):
        d.text(
            (x0 + 40 + px / 2, 140 + i * px + px / 2),
            char,
            font=ui_font(px - 8),
            fill=colour,
            anchor="mm",
        )
    return img


def banner(r: random.Random) -> Image.Image:
    w, h = 2000, 600
    img = Image.new("RGB", (w, h), _red(r))
    d = ImageDraw.Draw(img)
    slogan = r.choice(
        (
            "热烈庆祝中华人民共和国成立七十五周年",
            "热烈欢迎各位领导莅临指导",
            "安全生产月　人人讲安全",
        )
    )
    d.text(
        (w / 2, h / 2),
        slogan,
        font=ui_font(min(120, 1800 // len(slogan))),
        fill=(255, 222, 90),
        anchor="mm",
    )
    return img


def chat(r: random.Random) -> Image.Image:
    w, h = 1080, 2200
    img = Image.new("RGB", (w, h), (237, 237, 237))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, w, 220), fill=(247, 247, 247))
    d.text((w / 2, 150), "家人群(6)", font=ui_font(40), fill=(20, 20, 20), anchor="mm")
    msgs = (
        "周末回家吃饭吗？这是我们之间的秘密，先别告诉奶奶。",
        "公司内部聚餐定在周五，我晚点到。",
        "那部电影讲的是一个机密任务，挺好看的。",
        "收到，内部消息说下周降温，多穿点。",
        "好的，注意保存好发票，回头报销。",
    )
    y = 280
    for i, msg in enumerate(r.sample(msgs, 4)):
        mine = i % 2 == 1
        width = min(700, 40 * len(msg) // 2 + 80)
        x = w - 140 - width if mine else 140
        d.rounded_rectangle(
            (x, y, x + width, y + 200), 16, fill=(149, 236, 105) if mine else (255, 255, 255)
        )
        for j in range(0, len(msg), 15):
            d.text(
                (x + 24, y + 24 + j // 15 * 52),
                msg[j : j + 15],
                font=ui_font(40),
                fill=(20, 20, 20),
            )
        y += 260
    return img


def news_quote(r: random.Random) -> Image.Image:
    w, h = 1240, 1754
    img = Image.new("RGB", (w, h), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.text((w / 2, 120), "如何读懂一份红头文件", font=ui_font(60), fill=(20, 20, 20), anchor="mm")
    d.text(
        (w / 2, 200),
        "来源：江湾晚报　2024-05-12",
        font=ui_font(26),
        fill=(120, 120, 120),
        anchor="mm",
    )
    quote = (
        "记者了解到，按照国办发〔2012〕1号文件的规定，公文格式由国家标准统一规范。"
        "一些单位在材料上标注“内部，注意保存”，提醒工作人员妥善保管，但这类标注并非法定密级。"
        "专家表示，所谓绝密、机密、秘密三个等级，只能由有权机关依法确定。"
    )
    y = 300
    for j in range(0, len(quote), 26):
        d.text((110, y), quote[j : j + 26], font=ui_font(38), fill=(30, 30, 30))
        y += 64
    _lines(d, r, (110, y + 40, w - 110, h - 100), 38)
    return img


def certificate(r: random.Random) -> Image.Image:
    w, h = 1754, 1240
    img = Image.new("RGB", (w, h), (253, 248, 236))
    d = ImageDraw.Draw(img)
    red = _red(r)
    d.rectangle((40, 40, w - 40, h - 40), outline=red, width=18)
    d.text((w / 2, 230), "荣誉证书", font=ui_font(130), fill=(200, 150, 40), anchor="mm")
    d.text((220, 480), f"{vc.person(r)}同志：", font=ui_font(52), fill=(30, 30, 30))
    d.text(
        (300, 580),
        "在2024年度工作中表现突出，被评为先进工作者，特发此证。",
        font=ui_font(44),
        fill=(30, 30, 30),
    )
    d.text((w - 300, 930), "江湾市总工会", font=ui_font(44), fill=(30, 30, 30), anchor="ma")
    _round_seal(d, w - 300, 960, 150, red)
    return img


Drawn = Callable[[random.Random], Image.Image]
# kind → (drawing, look-alike?, seal state: True round, None oval, False none)
DRAWN: dict[str, tuple[Drawn, bool, bool | None]] = {
    "menu": (menu, True, False),
    "receipt": (receipt, True, None),
    "invoice": (invoice, True, None),
    "newspaper": (newspaper, True, False),
    "book_page": (book_page, True, False),
    "gate_plaque": (gate_plaque, True, False),
    "banner": (banner, False, False),
    "chat": (chat, False, False),
    "news_quote": (news_quote, False, False),
    "certificate": (certificate, False, True),
}
SET_AS_DOCX = ("community_notice", "red_heading_pdf")
KINDS = (*DRAWN, *SET_AS_DOCX)


def paper_negative(r: random.Random, kind: str) -> Paper:
    """A word-processed look-alike: a community notice (big red title, red double rule, no
    organ mark, no number) or an ordinary text document with a red heading."""
    org = vc.organ(r)
    paper = Paper(kind, org, margins_mm=(r.uniform(20, 35), 25, 30, 25))
    red = r.random() < 0.8
    if kind == "community_notice":
        title = r.choice(("通　知", "温馨提示", "停水通知", "关于开展消防安全检查的通知"))
        paper.blocks.append(
            Para(
                (Span(title, "song", r.choice((40.0, 48.0, 56.0)), red=red, bold=True),),
                align="center",
                after=6,
                rule=r.choice(("double", "thickthin")),
            )
        )
        signer = r.choice(("江湾花园物业服务中心", "青溪社区居民委员会", "望亭小区业主委员会"))
    else:
        title = r.choice(
            ("2024年新员工入职培训资料", "产品使用说明", "读书分享会活动方案", "家庭安全用电小常识")
        )
        paper.blocks.append(
            Para(
                (Span(title, "hei", r.choice((26.0, 30.0, 36.0)), red=True, bold=True),),
                align="center",
                after=14,
            )
        )
        signer = r.choice(("人力资源部", "江湾某科技有限公司", "读书会"))
    for _ in range(r.randint(2, 5)):
        text = "".join(r.sample(FILLER, 2))
        paper.blocks.append(
            Para((Span(text, "fang", 16),), align="both", indent_chars=2, line_pt=28)
        )
    paper.blocks.append(Para((Span(signer, "fang", 16),), align="right", before=24))
    paper.blocks.append(Para((Span(vc.date_text(r, 2024), "fang", 16),), align="right"))
    paper.facts.update(form=kind, red_title=red)
    return paper
