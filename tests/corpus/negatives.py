"""Hard negatives: pictures that look a little like leaked documents and must scan clean.

Red posters and banners, e-invoices with red seals, chat screenshots and novels that use the
words 秘密/机密/内部 in prose, slides with red bars, menus, receipts, property notices,
certificates with a company seal, calendars, web articles that cite a 发文字号 inline, and
newspaper front pages with a red masthead. Each generator draws on a PIL image and returns a
`PageSpec` whose `base` is that image; the only elements recorded are the ones labels care
about (seals), so `labels.page_labels` stays the single source of truth.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from PIL import Image, ImageDraw

from tests.corpus import text as tx
from tests.corpus.render import (
    ASCENT,
    RGB,
    Element,
    PageSpec,
    Stamp,
    font,
    red_ink,
    star_points,
    text_width,
    wrap,
)

Draw = ImageDraw.ImageDraw


def _spec(image: Image.Image, kind: str, seed: int, *elements: Element) -> PageSpec:
    return PageSpec(
        image.width,
        image.height,
        150.0,
        elements=list(elements),
        form=kind,
        facts={"negative_kind": kind},
        seed=seed,
        base=image,
    )


def _text(
    draw: Draw,
    xy: tuple[float, float],
    text: str,
    key: str,
    px: float,
    fill: RGB,
    anchor: str = "ls",
) -> None:
    draw.text(xy, text, font=font(key, round(px)), fill=fill, anchor=anchor)


def _block(
    draw: Draw,
    text: str,
    x: float,
    y: float,
    width: float,
    key: str,
    px: float,
    fill: RGB,
    pitch: float,
    indent: float = 2,
) -> float:
    """Wraps `text` into a column; returns the baseline after the last line."""
    for i, line in enumerate(wrap(text, key, px, width, indent * px)):
        _text(draw, (x + (indent * px if i == 0 else 0), y), line, key, px, fill)
        y += pitch
    return y


def _fit_size(text: str, key: str, px: float, width: float) -> float:
    natural = text_width(key, px, text)
    return px if natural <= width else px * width / natural


def _company(rng: random.Random, brands: tuple[str, ...], trades: tuple[str, ...]) -> str:
    return f"{rng.choice(tx.CITIES)[0]}{rng.choice(brands)}{rng.choice(trades)}有限公司"


def _seal_element(
    rng: random.Random, cx: float, cy: float, r: float, name: str, **kw: object
) -> Element:
    stamp = Stamp(cx, cy, r, red_ink(rng), name, rotation=rng.uniform(-15, 15), **kw)  # type: ignore[arg-type]
    return Element("seal", shapes=[stamp], attrs={"text": name, "oval": stamp.aspect < 0.9})


# --- festive red -------------------------------------------------------------------------

FESTIVE = (
    "热烈庆祝中华人民共和国成立75周年",
    "喜迎国庆",
    "新春快乐",
    "恭贺新禧",
    "欢度春节",
    "热烈庆祝公司成立二十周年",
    "热烈祝贺第十二届职工代表大会胜利召开",
    "喜迎党的二十大",
    "热烈欢迎各位领导莅临指导",
    "中秋快乐 阖家团圆",
    "元旦快乐",
    "安全生产月",
)
GOLD = ((250, 214, 80), (255, 230, 120), (240, 190, 60), (255, 255, 255))


def festival_poster(rng: random.Random, seed: int) -> PageSpec:
    """Red background, yellow or gold text, stars and lanterns."""
    w, h = rng.choice(((1240, 1754), (1080, 1920), (1600, 1200)))
    top, bottom = red_ink(rng), (rng.randint(150, 190), 0, rng.randint(0, 20))
    image = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(image)
    for y in range(0, h, 8):  # vertical gradient
        t = y / h
        draw.rectangle(
            (0, y, w, y + 8),
            fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
        )
    gold = rng.choice(GOLD)
    key = rng.choice(("serif_bold", "sans_bold"))
    words = rng.choice(FESTIVE)
    lines = [words] if len(words) <= 8 else [words[: len(words) // 2], words[len(words) // 2 :]]
    px = _fit_size(max(lines, key=len), key, w * 0.16, w * 0.86)
    y = h * rng.uniform(0.3, 0.45)
    for line in lines:
        _text(draw, (w / 2, y), line, key, px, gold, anchor="ms")
        y += px * 1.3
    for _ in range(rng.randint(4, 12)):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h * 0.25), rng.uniform(10, 40)
        draw.polygon(star_points(cx, cy, r), fill=gold)
    for _ in range(rng.randint(0, 3)):  # lanterns
        cx, cy, r = rng.uniform(0.1, 0.9) * w, rng.uniform(0.05, 0.2) * h, rng.uniform(40, 80)
        draw.ellipse(
            (cx - r, cy - r * 0.8, cx + r, cy + r * 0.8), fill=(255, 60, 30), outline=gold, width=4
        )
        draw.line((cx, cy - r * 1.6, cx, cy - r * 0.8), fill=gold, width=3)
    sender = rng.choice(("总工会", "文化馆", "某某有限公司", "社区居委会"))
    sub = f"{rng.choice(tx.PROVINCES)[0]}{sender} 敬贺"
    _text(draw, (w / 2, h * 0.9), sub, "sans", w * 0.035, gold, anchor="ms")
    return _spec(image, "festival_poster", seed)


def banner(rng: random.Random, seed: int) -> PageSpec:
    """Big red text on white between red decorative lines, or a red cloth banner: the closest
    look-alike of a red organ mark with its red rule."""
    red = red_ink(rng)
    words = rng.choice(FESTIVE)
    if rng.random() < 0.5:  # a red cloth banner with white or yellow characters
        w, h = rng.choice(((2000, 500), (1800, 420), (2400, 600)))
        image = Image.new("RGB", (w, h), red)
        draw = ImageDraw.Draw(image)
        px = _fit_size(words, "sans_bold", h * 0.55, w * 0.92)
        _text(
            draw, (w / 2, h / 2 + px * 0.35), words, "sans_bold", px, rng.choice(GOLD), anchor="ms"
        )
        return _spec(image, "banner", seed)
    w, h = rng.choice(((1240, 1754), (1600, 1000), (1240, 900)))
    image = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    key = rng.choice(("serif_bold", "sans_bold"))
    px = _fit_size(words, key, w * 0.09, w * 0.84)
    y = h * rng.uniform(0.15, 0.35)
    thick = rng.randint(3, 8)
    draw.line((w * 0.08, y - px * 1.3, w * 0.92, y - px * 1.3), fill=red, width=thick)
    _text(draw, (w / 2, y), words, key, px, red, anchor="ms")
    draw.line((w * 0.08, y + px * 0.5, w * 0.92, y + px * 0.5), fill=red, width=thick)
    if rng.random() < 0.5:
        draw.line(
            (w * 0.08, y + px * 0.5 + thick * 2, w * 0.92, y + px * 0.5 + thick * 2),
            fill=red,
            width=max(1, thick // 3),
        )
    slogan = rng.choice(
        ("不忘初心 牢记使命", "凝心聚力 共创辉煌", "安全第一 预防为主", "同心同德 再创佳绩")
    )
    _text(draw, (w / 2, y + px * 2.2), slogan, key, px * 0.55, red, anchor="ms")
    _text(
        draw,
        (w / 2, h * 0.85),
        f"{tx.date_text(rng, tx.date(rng), arabic=True)}",
        "sans",
        w * 0.03,
        red,
        anchor="ms",
    )
    return _spec(image, "banner", seed)


# --- invoices, receipts, menus -----------------------------------------------------------


def _money(rng: random.Random, low: float = 5, high: float = 5000) -> float:
    return round(rng.uniform(low, high), 2)


def _uscc(rng: random.Random) -> str:
    """统一社会信用代码-like company tax id (18 chars, not a personal ID)."""
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    return "91" + rng.choice(tx.ID_REGIONS) + "".join(rng.choice(chars) for _ in range(10))


def e_invoice(rng: random.Random, seed: int) -> PageSpec:
    """电子发票（普通发票）: brown-red frame and table lines, oval seals, amounts."""
    w, h = 1600, 1000
    image = Image.new("RGB", (w, h), (255, 255, 252))
    draw = ImageDraw.Draw(image)
    line = (rng.randint(150, 190), rng.randint(60, 90), rng.randint(40, 70))
    dark = (30, 30, 30)
    title = rng.choice(
        (
            "电子发票（普通发票）",
            "电子发票（增值税专用发票）",
            f"{rng.choice(tx.PROVINCES)[0][:2]}增值税电子普通发票",
        )
    )
    _text(draw, (w / 2, 95), title, "serif_bold", 46, line, anchor="ms")
    draw.line((w / 2 - 260, 112, w / 2 + 260, 112), fill=line, width=2)
    draw.line((w / 2 - 260, 118, w / 2 + 260, 118), fill=line, width=2)
    for i, (label, value) in enumerate(
        (
            ("发票号码：", f"{rng.randint(10**19, 10**20 - 1)}"),
            ("开票日期：", tx.date_text(rng, tx.date(rng), arabic=True)),
        )
    ):
        _text(draw, (1110, 70 + i * 36), label + value, "sans", 24, dark)
    x0, y0, x1, y1 = 60, 170, w - 60, 900
    draw.rectangle((x0, y0, x1, y1), outline=line, width=3)
    rows = (y0, 330, 380, 640, 700, 860, y1)
    for y in rows[1:-1]:
        draw.line((x0, y, x1, y), fill=line, width=2)
    draw.line((w / 2, y0, w / 2, 330), fill=line, width=2)
    company = _company(rng, ("鑫源", "华泰", "恒达", "博远"), ("商贸", "餐饮管理", "科技", "物流"))
    buyer = rng.choice((tx.person_name(rng), tx.organ(rng).name))
    for col, (who, name) in enumerate((("购买方", buyer), ("销售方", company))):
        cx = x0 + 30 + col * (w / 2 - x0)
        _text(draw, (cx, y0 + 50), f"{who}信息", "sans_bold", 26, line)
        _text(draw, (cx, y0 + 100), f"名称：{name}", "sans", 24, dark)
        _text(
            draw, (cx, y0 + 140), f"统一社会信用代码/纳税人识别号：{_uscc(rng)}", "sans", 22, dark
        )
    headers = ("项目名称", "规格型号", "单位", "数量", "单价", "金额", "税率/征收率", "税额")
    xs = [x0 + 20 + i * (x1 - x0 - 40) / len(headers) for i in range(len(headers))]
    for x, head in zip(xs, headers, strict=True):
        _text(draw, (x, 365), head, "sans", 22, line)
    total = 0.0
    for r in range(rng.randint(1, 5)):
        amount = _money(rng, 10, 2000)
        total += amount
        item = rng.choice(
            (
                "*餐饮服务*餐费",
                "*办公用品*打印纸",
                "*信息技术服务*技术服务费",
                "*住宿服务*住宿费",
                "*交通运输服务*客运服务费",
            )
        )
        cells = (
            item,
            "",
            rng.choice(("次", "箱", "项", "间")),
            "1",
            f"{amount:.2f}",
            f"{amount:.2f}",
            "6%",
            f"{amount * 0.06:.2f}",
        )
        for x, cell in zip(xs, cells, strict=True):
            _text(draw, (x, 420 + r * 40), cell, "sans", 22, dark)
    _text(
        draw,
        (x0 + 20, 680),
        f"价税合计（大写）  ⊗{rng.choice(('壹仟', '贰佰', '叁仟'))}元整"
        f"       （小写）¥{total * 1.06:.2f}",
        "sans",
        26,
        dark,
    )
    _text(draw, (x0 + 20, 760), f"备注：{rng.choice(('', '报销用', '员工差旅'))}", "sans", 22, dark)
    _text(draw, (x0 + 20, 950), f"开票人：{tx.person_name(rng)}", "sans", 24, dark)
    supervise = _seal_element(
        rng,
        w / 2 - 360 + rng.uniform(-20, 20),
        90,
        85,
        "全国统一发票监制章",
        star=False,
        aspect=0.66,
        inner=("国家税务总局", f"{rng.choice(tx.PROVINCES)[0]}税务局"),
    )
    seller = _seal_element(
        rng,
        x1 - 260 + rng.uniform(-40, 40),
        800,
        120,
        company,
        star=False,
        aspect=0.66,
        inner=(_uscc(rng), "发票专用章"),
    )
    return _spec(image, "e_invoice", seed, supervise, seller)


def receipt(rng: random.Random, seed: int) -> PageSpec:
    """A thermal shopping receipt: narrow, grey print, items and a total."""
    w, h = rng.choice((580, 640)), rng.choice((1500, 1700, 1900))
    image = Image.new("RGB", (w, h), (246, 245, 240))
    draw = ImageDraw.Draw(image)
    ink = (rng.randint(40, 90),) * 3
    key = rng.choice(("sans", "wqy"))
    store = rng.choice(("华润万家", "永辉超市", "苏果超市", "物美便利", "欧亚商都", "沃尔玛"))
    _text(
        draw,
        (w / 2, 80),
        f"{store}（{rng.choice(tx.CITIES)[0][:-1]}店）",
        "sans_bold",
        34,
        ink,
        anchor="ms",
    )
    y = 140
    for label in (
        f"单号：{rng.randint(10**11, 10**12)}",
        f"收银员：{rng.randint(1000, 9999)}",
        f"时间：{tx.date(rng):%Y-%m-%d} {rng.randint(8, 21):02d}:{rng.randint(0, 59):02d}",
    ):
        _text(draw, (30, y), label, key, 24, ink)
        y += 36
    draw.line((20, y, w - 20, y), fill=ink, width=1)
    y += 40
    total = 0.0
    goods = (
        "农夫山泉550ml",
        "金龙鱼食用油",
        "伊利纯牛奶",
        "洗洁精",
        "面包",
        "鸡蛋（盒）",
        "苹果",
        "卷纸",
        "酸奶",
        "大米5kg",
    )
    for item in rng.sample(goods, k=rng.randint(3, 9)):
        price = _money(rng, 1, 80)
        total += price
        _text(draw, (30, y), item, key, 24, ink)
        _text(draw, (w - 30, y), f"{price:.2f}", key, 24, ink, anchor="rs")
        y += 38
    draw.line((20, y, w - 20, y), fill=ink, width=1)
    y += 45
    for label in (
        f"合计：{total:.2f}",
        f"实收：{math.ceil(total):.2f}",
        f"找零：{math.ceil(total) - total:.2f}",
        "谢谢惠顾，欢迎再次光临！",
        f"服务热线：400-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
    ):
        _text(draw, (30, y), label, key, 26, ink)
        y += 42
    return _spec(image, "receipt", seed)


def menu(rng: random.Random, seed: int) -> PageSpec:
    """A restaurant menu: name in big red, dishes with prices, red ornaments."""
    w, h = 1240, 1754
    image = Image.new(
        "RGB", (w, h), rng.choice(((255, 250, 235), (250, 244, 228), (255, 255, 255)))
    )
    draw = ImageDraw.Draw(image)
    red = red_ink(rng)
    name = rng.choice(("老北京涮肉", "湘味小厨", "川香阁", "东北饺子馆", "粤品茶餐厅", "江南人家"))
    _text(draw, (w / 2, 200), name, "serif_bold", 110, red, anchor="ms")
    draw.line((150, 250, w - 150, 250), fill=red, width=5)
    _text(
        draw,
        (w / 2, 310),
        rng.choice(("招牌菜单", "精品菜单", "本店推荐")),
        "sans",
        44,
        red,
        anchor="ms",
    )
    dishes = (
        "宫保鸡丁",
        "鱼香肉丝",
        "红烧肉",
        "水煮鱼",
        "麻婆豆腐",
        "锅包肉",
        "地三鲜",
        "酸菜鱼",
        "糖醋里脊",
        "干锅花菜",
        "小鸡炖蘑菇",
        "剁椒鱼头",
        "回锅肉",
        "清炒时蔬",
        "蒜蓉西兰花",
        "扬州炒饭",
    )
    y = 420
    for dish in rng.sample(dishes, k=rng.randint(8, 14)):
        _text(draw, (200, y), dish, "serif", 42, (40, 30, 30))
        draw.line(
            (200 + text_width("serif", 42, dish) + 20, y - 10, w - 330, y - 10),
            fill=(180, 160, 140),
            width=1,
        )
        _text(draw, (w - 200, y), f"¥{rng.randint(12, 128)}", "serif", 42, red, anchor="rs")
        y += 82
    _text(
        draw, (w / 2, h - 120), f"订餐电话：{tx.mobile(rng)}", "sans", 36, (60, 60, 60), anchor="ms"
    )
    return _spec(image, "menu", seed)


# --- prose ---------------------------------------------------------------------------------

CHAT_MESSAGES = (
    "这是我们之间的秘密，别告诉别人哈",
    "公司内部聚餐定在周五晚上六点",
    "我在看一部关于机密任务的小说，挺好看的",
    "内部人员优先报名，名额有限",
    "明天开会讨论稿子的事",
    "收到",
    "好的",
    "周末加班吗？",
    "文件我发你邮箱了",
    "今天的会议改到下午三点",
    "这个方案还是讨论稿，大家先看看提提意见",
    "领导说这件事暂时保密",
    "绝密！今天食堂有红烧肉",
    "谁有充电宝借我用一下",
    "下班一起去吃火锅？",
    "孩子学校通知明天放假",
    "内部推荐一个岗位，有兴趣的私聊我",
    "机密级别的八卦：老王要当爸爸了",
    "你们看新闻了吗",
    "哈哈哈哈",
    "记得交周报",
    "快递到了帮我拿一下",
    "请大家注意保存好自己的发票",
    "这个是内部价，不对外",
)


def chat_screenshot(rng: random.Random, seed: int) -> PageSpec:
    """A WeChat-like group chat: white and green bubbles, with the trigger words in talk."""
    w, h = 1080, rng.choice((2340, 2400, 2160))
    image = Image.new("RGB", (w, h), (237, 237, 237))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, w, 230), fill=(237, 237, 237))
    group = rng.choice(
        ("业务通联群", "办公室工作群", "三年二班家长群", "项目部沟通群", "相亲相爱一家人")
    )
    _text(
        draw, (w / 2, 180), f"{group}({rng.randint(8, 300)})", "sans", 46, (20, 20, 20), anchor="ms"
    )
    _text(
        draw,
        (50, 60),
        f"{rng.randint(8, 22)}:{rng.randint(0, 59):02d}",
        "sans_bold",
        36,
        (0, 0, 0),
        anchor="ls",
    )
    draw.line((0, 230, w, 230), fill=(215, 215, 215), width=2)
    y = 290.0
    messages = rng.sample(CHAT_MESSAGES, k=rng.randint(6, 12))
    for msg in messages:
        if y > h - 250:
            break
        y = _bubble(draw, rng, msg, y, w, mine=rng.random() < 0.35)
    draw.rectangle((0, h - 160, w, h), fill=(246, 246, 246))
    draw.rounded_rectangle((120, h - 130, w - 230, h - 40), radius=12, fill=(255, 255, 255))
    return _spec(image, "chat_screenshot", seed)


def _bubble(draw: Draw, rng: random.Random, msg: str, y: float, w: int, *, mine: bool) -> float:
    px, pad, avatar = 44.0, 26, 96
    lines = wrap(msg, "sans", px, w * 0.58)
    bw = max(text_width("sans", px, line) for line in lines) + 2 * pad
    bh = len(lines) * px * 1.4 + 2 * pad - px * 0.4
    ax = w - 30 - avatar if mine else 30
    draw.rounded_rectangle(
        (ax, y, ax + avatar, y + avatar),
        radius=10,
        fill=tuple(rng.randint(60, 220) for _ in range(3)),
    )
    if not mine:
        _text(draw, (ax + avatar + 30, y + 24), tx.person_name(rng), "sans", 30, (140, 140, 140))
        y += 40
    bx = ax - 24 - bw if mine else ax + avatar + 24
    draw.rounded_rectangle(
        (bx, y, bx + bw, y + bh), radius=12, fill=(149, 236, 105) if mine else (255, 255, 255)
    )
    ty = y + pad + px * ASCENT
    for line in lines:
        _text(draw, (bx + pad, ty), line, "sans", px, (25, 25, 25))
        ty += px * 1.4
    return y + max(bh, avatar) + 50


NOVEL = (
    "他把那封信小心地折好，压在抽屉最底层，这是他和她之间的秘密。",
    "夜色渐深，组织交给他的机密任务还没有任何进展，他点了一支烟，望着窗外发呆。",
    "“内部消息，”老周压低声音说，“厂里下个月要调整工资。”",
    "林晓知道，这个秘密一旦说出口，一切都将无法挽回。",
    "档案室的门虚掩着，走廊尽头传来脚步声，他屏住了呼吸。",
    "母亲总说，做人要守得住秘密，也要守得住本心。",
    "那份标着机密字样的文件袋，在电影里出现了整整三次。",
    "他们约定，这件事只在家庭内部商量，不让外人知道。",
    "雨一直下，小镇上的人都在议论那桩发生在二十年前的旧案。",
    "张科长推了推眼镜：“这事还在讨论，先别往外说。”",
    "她翻开日记本，第一页写着：绝对不能让任何人看到。",
    "车站的钟声响了，他终于下定决心，把藏了多年的秘密告诉她。",
    "公司内部竞聘的消息传开后，办公室里的气氛变得微妙起来。",
    "老人笑了笑，说这不过是村里人尽皆知的秘密罢了。",
)


def novel_page(rng: random.Random, seed: int) -> PageSpec:
    """A page of fiction: the trigger words in dialogue and narration, never as markings."""
    w, h = rng.choice(((1240, 1754), (1080, 1600), (1000, 1500)))
    image = Image.new(
        "RGB", (w, h), rng.choice(((255, 255, 255), (250, 246, 236), (244, 240, 228)))
    )
    draw = ImageDraw.Draw(image)
    key = rng.choice(("serif", "serif", "sans", "wqy"))
    px = w * rng.uniform(0.03, 0.038)
    margin = w * rng.uniform(0.09, 0.14)
    y = h * 0.08
    if rng.random() < 0.5:
        name = rng.choice(("秘密", "夜雨", "旧信", "归途", "机密档案", "内部调查"))
        chapter = f"第{tx.cn_number(rng.randint(1, 30))}章　{name}"
        _text(draw, (w / 2, y + px * 2), chapter, "serif_bold", px * 1.4, (20, 20, 20), anchor="ms")
        y += px * 4.5
    pool = list(NOVEL)
    rng.shuffle(pool)
    while y < h * 0.88 and pool:
        para = "".join(pool.pop() for _ in range(min(len(pool), rng.randint(1, 3))))
        y = _block(draw, para, margin, y + px, w - 2 * margin, key, px, (30, 30, 30), px * 1.8)
    _text(
        draw,
        (w / 2, h - h * 0.04),
        str(rng.randint(12, 380)),
        key,
        px * 0.8,
        (90, 90, 90),
        anchor="ms",
    )
    return _spec(image, "novel_page", seed)


def web_article(rng: random.Random, seed: int) -> PageSpec:
    """A public government web article (screenshot): a red site bar, and document numbers
    cited inline in prose, never alone on a line."""
    w, h = rng.choice(((1080, 2200), (1440, 1800)))
    image = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    red = red_ink(rng)
    org = tx.organ(rng)
    site = (
        f"{org.region if org.region != '全国' else '中国'}政府网"
        if rng.random() < 0.5
        else f"{org.name}门户网站"
    )
    bar = h * 0.06
    draw.rectangle((0, 0, w, bar), fill=red)
    _text(draw, (40, bar * 0.68), site, "sans_bold", bar * 0.45, (255, 255, 255))
    _text(draw, (40, bar * 1.5), "首页 > 政务公开 > 政策解读", "sans", w * 0.022, (100, 100, 100))
    region = org.region if org.region != "全国" else ""
    title = f"{region}{tx.subject_phrase(rng, org)}工作取得阶段性成效"
    y = _block(
        draw, title, 40, bar * 2.6, w - 80, "sans_bold", w * 0.04, (20, 20, 20), w * 0.055, indent=0
    )
    meta = (
        f"来源：{org.office}　发布时间：{tx.date(rng):%Y-%m-%d}　浏览次数：{rng.randint(100, 9999)}"
    )
    _text(draw, (40, y), meta, "sans", w * 0.022, (120, 120, 120))
    y += w * 0.05
    cited = tx.doc_number(rng, rng.choice(("国办发", "国发", "中办发", org.code)), tx.year(rng))
    paras = [
        f"根据《国务院办公厅关于{tx.subject_phrase(rng, org)}的通知》（{cited}）文件精神，"
        f"{org.name}高度重视，迅速部署，" + tx.prose_sentences(rng, 1, org),
        tx.prose_sentences(rng, rng.randint(2, 3), org),
        f"下一步，{org.name}将认真贯彻{cited}文件要求，" + tx.prose_sentences(rng, 2, org),
    ]
    px = w * 0.032
    for para in paras:
        y = _block(draw, para, 40, y + px, w - 80, "sans", px, (40, 40, 40), px * 1.75)
    return _spec(image, "web_article", seed)


def property_notice(rng: random.Random, seed: int) -> PageSpec:
    """物业通知 in black with a phone number, often stamped by the property company: a seal
    alone must not alarm."""
    w, h = 1240, 1754
    image = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    black = (20, 20, 20)
    title = rng.choice(("物业通知", "停水通知", "温馨提示", "关于小区电梯维修的通知", "停电通知"))
    _text(draw, (w / 2, 260), title, "sans_bold", 80, black, anchor="ms")
    _text(draw, (130, 420), "尊敬的各位业主：", "serif", 44, black)
    complex_ = rng.choice(tx.COMPLEXES)
    body = (
        f"因{rng.choice(('市政管网改造', '二次供水设施清洗', '电梯年检维修', '高压线路检修'))}，"
        f"{complex_}将于{tx.date(rng):%m月%d日}上午8:00至下午18:00"
        f"{rng.choice(('停水', '停电', '暂停使用电梯'))}，"
        "请各位业主提前做好准备。给您带来的不便，敬请谅解！如有疑问请联系物业服务中心，"
        f"联系电话：{tx.mobile(rng)}。"
    )
    y = _block(draw, body, 130, 510, w - 260, "serif", 44, black, 80)
    company = _company(rng, ("万科", "碧桂园", "金地", "恒泰", "安居"), ("物业服务",))
    y = max(y + 120, 1150)
    sign = f"{complex_}物业服务中心"
    _text(draw, (w - 150, y), sign, "serif", 44, black, anchor="rs")
    _text(draw, (w - 150, y + 80), tx.date_text(rng, tx.date(rng)), "serif", 44, black, anchor="rs")
    elements = []
    if rng.random() < 0.7:
        cx = w - 150 - text_width("serif", 44, sign) / 2
        elements.append(_seal_element(rng, cx, y + 20, 120, company))
    return _spec(image, "property_notice", seed, *elements)


def certificate(rng: random.Random, seed: int) -> PageSpec:
    """荣誉证书: red or gold border, big title, a company's round seal (no document around it)."""
    w, h = 1754, 1240
    image = Image.new("RGB", (w, h), rng.choice(((255, 252, 240), (255, 255, 255))))
    draw = ImageDraw.Draw(image)
    red = red_ink(rng)
    border = rng.choice((red, (200, 160, 60)))
    for i, width in enumerate((18, 4)):
        m = 40 + i * 36
        draw.rectangle((m, m, w - m, h - m), outline=border, width=width)
    _text(
        draw,
        (w / 2, 330),
        "荣誉证书",
        "serif_bold",
        150,
        rng.choice((red, (200, 150, 40))),
        anchor="ms",
    )
    name = tx.person_name(rng)
    honor = rng.choice(
        ("优秀员工", "先进工作者", "优秀共产党员", "三好学生", "岗位能手", "优秀志愿者")
    )
    text = f"{name}同志：在{tx.year(rng)}年度工作中表现突出，被评为“{honor}”，特发此证，以资鼓励。"
    _block(draw, text, 260, 560, w - 520, "serif", 58, (30, 30, 30), 100)
    org = rng.choice(
        (
            f"{rng.choice(tx.CITIES)[0]}{rng.choice(('恒通', '宏达', '新世纪'))}集团有限公司",
            tx.organ(rng).name + "工会委员会",
        )
    )
    _text(draw, (w - 320, 1000), org, "serif", 48, (30, 30, 30), anchor="rs")
    _text(
        draw,
        (w - 320, 1070),
        tx.date_text(rng, tx.date(rng)),
        "serif",
        48,
        (30, 30, 30),
        anchor="rs",
    )
    seal = _seal_element(rng, w - 320 - text_width("serif", 48, org) / 2, 1010, 125, org)
    return _spec(image, "certificate", seed, seal)


def calendar(rng: random.Random, seed: int) -> PageSpec:
    """A wall calendar month: red title band, red weekends and festival names."""
    w, h = 1240, 1754
    image = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    red = red_ink(rng)
    year, month = tx.year(rng), rng.randint(1, 12)
    draw.rectangle((0, 0, w, 300), fill=red if rng.random() < 0.6 else (255, 255, 255))
    title_colour = (255, 255, 255) if image.getpixel((5, 5)) != (255, 255, 255) else red
    _text(draw, (w / 2, 200), f"{year}年 {month}月", "serif_bold", 120, title_colour, anchor="ms")
    days = "日一二三四五六"
    cell = (w - 100) / 7
    for i, d in enumerate(days):
        _text(
            draw,
            (50 + cell * (i + 0.5), 420),
            d,
            "sans_bold",
            48,
            red if i in (0, 6) else (40, 40, 40),
            anchor="ms",
        )
    start = (tx.dt.date(year, month, 1).weekday() + 1) % 7
    length = 31 if month in (1, 3, 5, 7, 8, 10, 12) else 30 if month != 2 else 28
    festivals = {1: "元旦", 5: "劳动节", 10: "国庆节"}
    for day in range(1, length + 1):
        row, col = divmod(start + day - 1, 7)
        x, y = 50 + cell * (col + 0.5), 560 + row * 200
        colour = red if col in (0, 6) or (day == 1 and month in festivals) else (30, 30, 30)
        _text(draw, (x, y), str(day), "sans_bold", 72, colour, anchor="ms")
        lunar = (
            festivals.get(month, "")
            if day == 1
            else rng.choice(("初一", "初八", "十五", "廿三", "初五", "十二"))
        )
        _text(draw, (x, y + 50), lunar, "sans", 28, colour, anchor="ms")
    return _spec(image, "calendar", seed)


def slide(rng: random.Random, seed: int) -> PageSpec:
    """A presentation slide: red title bar or red title with a red line, bullets."""
    w, h = 1600, 900
    image = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    red = red_ink(rng)
    org = tx.organ(rng)
    title = rng.choice(
        (
            f"{tx.year(rng)}年工作总结",
            "安全生产培训",
            "加强内部管理 提升服务水平",
            "党建工作汇报",
            "项目进展情况汇报",
        )
    )
    if rng.random() < 0.5:
        draw.rectangle((0, 0, w, 150), fill=red)
        _text(draw, (70, 100), title, "sans_bold", 64, (255, 255, 255))
    else:
        _text(draw, (w / 2, 120), title, "serif_bold", 72, red, anchor="ms")
        draw.line((80, 165, w - 80, 165), fill=red, width=rng.randint(3, 7))
        draw.polygon(star_points(w / 2, 165, 18), fill=red)
    y = 280.0
    for bullet in rng.sample(tx.HEADINGS, k=rng.randint(3, 5)):
        draw.rectangle((110, y - 30, 130, y - 10), fill=red)
        _text(draw, (160, y), bullet, "sans", 46, (40, 40, 40))
        y += 100
    draw.line((0, h - 70, w, h - 70), fill=red, width=4)
    _text(draw, (70, h - 25), org.name, "sans", 28, (100, 100, 100))
    return _spec(image, "slide", seed)


def newspaper(rng: random.Random, seed: int) -> PageSpec:
    """A newspaper front page: red masthead and rule, dated, columns of news."""
    w, h = 1240, 1754
    image = Image.new("RGB", (w, h), (248, 246, 240))
    draw = ImageDraw.Draw(image)
    red = red_ink(rng)
    paper = rng.choice(
        ("人民日报", "吉林日报", "湖南日报", "长春晚报", "法治日报", "中国青年报", "经济日报")
    )
    _text(draw, (w / 2, 190), paper, "serif_bold", 150, red, anchor="ms")
    day = tx.date_text(rng, tx.date(rng), arabic=True)
    date_line = f"{day}　星期{rng.choice('一二三四五六日')}　今日{rng.choice((8, 12, 16, 24))}版"
    _text(draw, (w / 2, 260), date_line, "sans", 28, (40, 40, 40), anchor="ms")
    draw.line((60, 285, w - 60, 285), fill=red, width=6)
    org = tx.organ(rng)
    headline = (
        f"{org.region if org.region != '全国' else '全国'}扎实推进{tx.subject_phrase(rng, org)}"
    )
    _text(
        draw,
        (w / 2, 380),
        headline,
        "serif_bold",
        _fit_size(headline, "serif_bold", 56, w - 140),
        (20, 20, 20),
        anchor="ms",
    )
    cols, gap = 3, 30
    cw = (w - 120 - gap * (cols - 1)) / cols
    for c in range(cols):
        x = 60 + c * (cw + gap)
        _block(draw, tx.prose_sentences(rng, 8, org), x, 470, cw, "serif", 26, (40, 40, 40), 42)
        if c:
            draw.line((x - gap / 2, 450, x - gap / 2, h - 80), fill=(150, 150, 150), width=1)
    return _spec(image, "newspaper", seed)


GENERATORS: dict[str, Callable[[random.Random, int], PageSpec]] = {
    "festival_poster": festival_poster,
    "banner": banner,
    "e_invoice": e_invoice,
    "chat_screenshot": chat_screenshot,
    "novel_page": novel_page,
    "slide": slide,
    "menu": menu,
    "receipt": receipt,
    "property_notice": property_notice,
    "certificate": certificate,
    "calendar": calendar,
    "web_article": web_article,
    "newspaper": newspaper,
}
# How each kind usually reaches a group: kinds born on screens come as screenshots.
CAPTURE_KINDS: dict[str, tuple[str, ...]] = {
    "chat_screenshot": ("screenshot", "screenshot", "photo_screen"),
    "web_article": ("screenshot", "screenshot", "photo_screen"),
    "slide": ("photo_screen", "screenshot", "photo"),
    "e_invoice": ("screenshot", "scan", "photo"),
}
DEFAULT_CAPTURES = ("photo", "photo", "photo_rotated", "scan", "screenshot")


def make_negative(rng: random.Random, seed: int, kind: str | None = None) -> PageSpec:
    kind = kind or rng.choice(sorted(GENERATORS))
    return GENERATORS[kind](rng, seed)
