"""Page fingerprints: marks chosen by value, template text left out, copies verified by layout,
same-template siblings refused, and a compact, versioned encoding."""

from __future__ import annotations

import cmath
import math
import random
import re
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detectors import ConfigError, Page, ScanConfig, Scanner, TextLine, load_config
from detectors.config import DEFAULT_CONFIG_DIR, FingerprintSettings
from detectors.fingerprint.codec import decode, encode
from detectors.fingerprint.model import FINGERPRINT_VERSION, PageFingerprint
from detectors.fingerprint.page import fingerprint_page, registration_config
from detectors.fingerprint.verify import verify
from tests.corpus import capture as cp
from tests.corpus import rngs
from tests.corpus.document import make_document
from tests.corpus.render import layout, rasterize

HEADER = [
    "机密★1年",
    "吉林省人民政府办公厅文件",
]
BODY_A = [
    "各市（州）人民政府，省政府各厅委、各直属机构：",
    "为切实做好今冬明春森林草原防火工作，严防重特大火灾发生，",
    "经省政府同意，现就有关事项通知如下：一是压实属地管理责任，",
    "各地要在十一月底前完成林区输电线路隐患排查，建立整改台账，",
    "对长白山保护区周边的重点村屯实行包保到户，入山口全部设卡。",
    "二是强化值守，火险等级四级以上时段实行领导带班二十四小时在岗，",
    "航空护林站要提前完成机组进驻，扑火物资储备不少于上年同期。",
    "三是严格督查，省森防指将组成五个督导组分片开展明察暗访。",
]
BODY_B = [
    "各市（州）人民政府，省政府各厅委、各直属机构：",
    "为进一步规范全省政府网站和政务新媒体管理，提升政务公开水平，",
    "经省政府同意，现就有关事项通知如下：一是开展集中清理整合，",
    "对长期不更新、内容空白的栏目一律关停，年底前完成备案复核，",
    "各地要建立信息发布三审制度，涉及数据的稿件须经业务处室审签。",
    "二是加强安全防护，网站群平台要完成等级保护测评和密码应用改造，",
    "建立七乘二十四小时监测机制，发现篡改和攻击及时处置上报。",
    "三是强化考核评价，将检查结果纳入年度绩效考核，每季度通报一次。",
]
TITLE_A = "关于做好今冬明春森林草原防火工作的通知"
TITLE_B = "关于加强政府网站和政务新媒体管理的通知"
LEFT, PITCH, HEIGHT, WIDTH = 150, 62, 40, 940


def _lines(texts: list[str], top: int = 200) -> list[tuple[str, tuple[int, int, int, int]]]:
    return [
        (t, (LEFT, top + i * PITCH, LEFT + WIDTH, top + i * PITCH + HEIGHT))
        for i, t in enumerate(texts)
    ]


def _document(
    number: int, title: str, body: list[str]
) -> list[tuple[str, tuple[int, int, int, int]]]:
    texts = [*HEADER, f"吉政办发〔2024〕{number}号", title, *body, "吉林省人民政府办公厅", "— 1 —"]
    return _lines(texts)


def _page(rows: list[tuple[str, tuple[int, int, int, int]]]) -> Page:
    lines = [TextLine(text, bbox=bbox, confidence=0.95) for text, bbox in rows]
    return Page(source="p.jpg", number=1, lines=lines, image=None)


def _moved(
    rows: list[tuple[str, tuple[int, int, int, int]]], scale: float, dx: float, dy: float
) -> list[tuple[str, tuple[int, int, int, int]]]:
    def move(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        x0, y0, x1, y1 = box
        return (
            round(x0 * scale + dx),
            round(y0 * scale + dy),
            round(x1 * scale + dx),
            round(y1 * scale + dy),
        )

    return [(text, move(box)) for text, box in rows]


def _misread(text: str, rng: random.Random, rate: float) -> str:
    """OCR-style errors: characters swapped for look-alikes or others, a few dropped."""
    out = []
    for char in text:
        roll = rng.random()
        if roll < rate / 2:
            out.append(rng.choice("未己曰土入人大太"))
        elif roll < rate:
            continue
        else:
            out.append(char)
    return "".join(out)


@pytest.fixture(scope="module")
def settings(config: ScanConfig) -> FingerprintSettings:
    return config.fingerprint


@pytest.fixture(scope="module")
def original(settings: FingerprintSettings) -> PageFingerprint:
    fp = fingerprint_page(_page(_document(15, TITLE_A, BODY_A)), settings)
    assert fp is not None
    return fp


def test_a_fragment_selects_a_subset_of_the_page_marks(
    settings: FingerprintSettings, original: PageFingerprint
) -> None:
    rows = _document(15, TITLE_A, BODY_A)
    fragment = fingerprint_page(_page(rows[6:10]), settings)
    assert fragment is not None
    assert len(fragment.text_marks) >= settings.verify.min_query_marks
    assert set(fragment.text_marks) < set(original.text_marks)
    assert list(original.text_marks) == sorted(set(original.text_marks))


def test_template_lines_make_no_marks(settings: FingerprintSettings) -> None:
    """Marking, organ mark, signature, addressee and page number are every sibling's."""
    template = _lines(
        [*HEADER, "各市（州）人民政府，省政府各厅委、各直属机构：", "吉林省人民政府办公厅", "— 2 —"]
    )
    assert fingerprint_page(_page(template), settings) is None
    # OCR drops the addressee's closing colon: still the organ's addressees, not content.
    assert (
        fingerprint_page(
            _page(_lines(["各市（州）委，省委各部委，省直各单位党组（党委）"])), settings
        )
        is None
    )
    # A line of body text that starts with 各 is content.
    assert fingerprint_page(_page(_lines([BODY_A[3]])), settings) is not None


def test_telegram_fields_read_as_one_line_or_two_give_the_same_marks(
    settings: FingerprintSettings,
) -> None:
    """A text layer has 签批盘号：吉公发电〔2025〕16号 on one line; OCR of a photo often
    splits label and value. Labels and signers are template; the number is the document's."""
    body = BODY_A[1:4]
    joined = ["签发：王志强", "签批盘号：吉公发电〔2025〕16号", *body]
    split = ["签发", "签批盘号", "吉公发电【2025）16号", *body]
    one, two = (fingerprint_page(_page(_lines(rows)), settings) for rows in (joined, split))
    assert one is not None and two is not None
    assert one.text_marks == two.text_marks
    assert one.doc_number == two.doc_number != 0


def test_a_photo_of_the_header_alone_matches_by_its_document_number(
    settings: FingerprintSettings, original: PageFingerprint
) -> None:
    """The first photo in the leak cases is the header: marking, organ mark and 发文字号, no
    title yet. The number (agency, year and serial) names one document; a sibling's number
    differs by its serial."""
    header = fingerprint_page(_page(_document(15, TITLE_A, BODY_A)[:3]), settings)
    assert header is not None and len(header.text_marks) < settings.verify.min_query_marks
    match = verify(header, original, settings)
    assert match is not None and match.methods == ("doc_number",)
    sibling_header = fingerprint_page(_page(_document(16, TITLE_B, BODY_B)[:3]), settings)
    assert sibling_header is not None and verify(sibling_header, original, settings) is None
    # The original's number over another document's text: a misread number, no copy.
    misread = fingerprint_page(_page(_document(15, TITLE_B, BODY_B)), settings)
    assert misread is not None and misread.doc_number == original.doc_number
    assert verify(misread, original, settings) is None


def test_another_documents_header_photo_with_the_same_title_does_not_match(
    settings: FingerprintSettings, original: PageFingerprint
) -> None:
    """Titles repeat across organs (关于开展…的通知 / …的意见). A header photo of another
    organ's document whose only content is such a title, in the title's place, is no copy;
    one more line of the original is."""
    other = [
        ("内部", (LEFT, 200, LEFT + 120, 240)),
        ("东丰县教育局文件", (LEFT + 200, 262, LEFT + 740, 302)),
        ("东教发〔2024〕12号", (LEFT + 300, 324, LEFT + 640, 364)),
    ]
    title = _document(15, TITLE_A, BODY_A)[3]
    header = fingerprint_page(_page([*other, title]), settings)
    assert header is not None and len(header.text_marks) >= settings.verify.min_query_marks
    assert verify(header, original, settings) is None
    one_line = settings.model_copy(
        update={"verify": settings.verify.model_copy(update={"min_matched_lines": 1})}
    )
    assert verify(header, original, one_line) is not None
    more = fingerprint_page(_page([*other, title, _document(15, TITLE_A, BODY_A)[5]]), settings)
    assert more is not None and verify(more, original, settings) is not None


def test_a_page_that_does_not_lie_flat_still_lines_up(
    settings: FingerprintSettings, original: PageFingerprint
) -> None:
    """A lifted corner bends the lines: their boxes grow taller than the glyphs, and lower
    lines drift by a line or two. A sibling photographed the same way still does not match."""

    def bent(rows: list[tuple[str, tuple[int, int, int, int]]]) -> list:
        out = []
        for text, (x0, y0, x1, y1) in rows:
            drift = [140 * ((x - LEFT) / WIDTH) ** 2 * (y0 - 200) / 700 for x in (x0, x1)]
            out.append((text, (x0, round(y0 + min(drift)), x1, round(y1 + max(drift)))))
        return out

    copy = fingerprint_page(_page(bent(_document(15, TITLE_A, BODY_A))), settings)
    sibling = fingerprint_page(_page(bent(_document(16, TITLE_B, BODY_B))), settings)
    assert copy is not None and sibling is not None
    match = verify(copy, original, settings)
    assert match is not None and "layout" in match.methods
    assert verify(sibling, original, settings) is None


def _warped(
    rows: list[tuple[str, tuple[int, int, int, int]]],
    bend: Callable[[float, float], tuple[float, float]],
) -> list[Page]:
    """The rows of a page whose points `bend` moves: each line's box is the upright rectangle
    around its moved ends, with the slope between them, as OCR reports a slanted line."""
    lines = []
    for text, (x0, y0, x1, y1) in rows:
        (ax, ay), (bx, by) = bend(x0, (y0 + y1) / 2), bend(x1, (y0 + y1) / 2)
        half = (y1 - y0) / 2
        box = (
            round(min(ax, bx)),
            round(min(ay, by) - half),
            round(max(ax, bx)),
            round(max(ay, by) + half),
        )
        lines.append(TextLine(text, bbox=box, confidence=0.95, slope=(by - ay) / (bx - ax)))
    return [Page(source="p.jpg", number=1, lines=lines, image=None)]


def _curled(rows: list[tuple[str, tuple[int, int, int, int]]], depth: float) -> list[Page]:
    """The rows of a page that curls away from the camera at its right edge: characters
    there crowd together and sink by up to `depth` pixels, one line's worth and more, so
    that no single affine transform carries the whole page onto its flat original."""

    def bend(x: float, y: float) -> tuple[float, float]:
        u = (x - LEFT) / WIDTH
        return x - 0.12 * WIDTH * u**2, y + depth * u**2 + 0.3 * depth * u * (y - 200) / 700

    return _warped(rows, bend)


def _turned(degrees: float, x: float, y: float, centre: tuple[float, float]) -> tuple[float, float]:
    z = complex(x - centre[0], y - centre[1]) * cmath.exp(1j * math.radians(degrees))
    return centre[0] + z.real, centre[1] + z.imag


def test_a_curled_page_lines_up_across_the_whole_page(
    settings: FingerprintSettings, original: PageFingerprint
) -> None:
    """A page curling off the desk bends its lines more than an affine fit can follow; the
    second-degree fit does, and text laid out elsewhere still does not line up."""
    (copy,) = (fingerprint_page(p, settings) for p in _curled(_document(15, TITLE_A, BODY_A), 90))
    assert copy is not None
    match = verify(copy, original, settings)
    assert match is not None and match.score >= 0.9
    texts = [t for t, _ in _document(15, TITLE_A, BODY_A)[3:11]]
    shuffled = _lines([texts[i] for i in (5, 2, 7, 0, 3, 6, 1, 4)])
    (moved,) = (fingerprint_page(p, settings) for p in _curled(shuffled, 90))
    assert moved is not None and verify(moved, original, settings) is None


def test_a_page_left_turned_as_it_lay_lines_up(
    settings: FingerprintSettings, original: PageFingerprint
) -> None:
    """A folded page whose lines disagree on its turn is read turned as it lay, here by 40
    degrees; a page turned like that is no more a copy when its lines are shuffled."""
    centre = (LEFT + WIDTH / 2, 600.0)

    def turn(x: float, y: float) -> tuple[float, float]:
        return _turned(40, x, y, centre)

    (copy,) = (fingerprint_page(p, settings) for p in _warped(_document(15, TITLE_A, BODY_A), turn))
    assert copy is not None
    match = verify(copy, original, settings)
    assert match is not None and match.score >= 0.9
    texts = [t for t, _ in _document(15, TITLE_A, BODY_A)[3:11]]
    shuffled = _lines([texts[i] for i in (5, 2, 7, 0, 3, 6, 1, 4)])
    (moved,) = (fingerprint_page(p, settings) for p in _warped(shuffled, turn))
    assert moved is not None and verify(moved, original, settings) is None


def test_a_page_in_pieces_lines_up_piece_by_piece(
    settings: FingerprintSettings, original: PageFingerprint
) -> None:
    """A hard crease splits a page into pieces that moved each their own way: the lower half
    here lies turned by 4 degrees and shifted by a line against the upper half. No one
    transform carries both; fitted patch by patch, the page lines up."""
    split = 200 + 8 * PITCH

    def crease(x: float, y: float) -> tuple[float, float]:
        if y < split:
            return x, y
        tx, ty = _turned(4, x, y, (LEFT, split))
        return tx + 45, ty + 50

    rows = _document(15, TITLE_A, BODY_A)
    (copy,) = (fingerprint_page(p, settings) for p in _warped(rows, crease))
    assert copy is not None
    whole = settings.model_copy(
        update={"layout": settings.layout.model_copy(update={"max_patches": 1})}
    )
    match, one_fit = verify(copy, original, settings), verify(copy, original, whole)
    assert match is not None and match.score >= 0.9
    assert one_fit is None or one_fit.score <= match.score - 0.25


def test_characters_of_a_slanted_line_follow_its_slope(
    settings: FingerprintSettings, original: PageFingerprint
) -> None:
    """A page turned by 5° that nobody deskewed, read as table cells (two boxes a row): each
    OCR box is the upright rectangle around a slanted piece of line, so a character's height
    on the page is read off the line's slope, not the box's middle, which is off by half the
    piece's rise at its ends, and differently in every cell."""
    turn = float(np.tan(np.radians(5.0)))

    def turned(slope: float) -> Page:
        lines = []
        for text, (x0, y0, x1, y1) in _document(15, TITLE_A, BODY_A):
            half = len(text) // 2
            middle = x0 + (x1 - x0) * half / max(len(text), 1)
            for part, (a, b) in ((text[:half], (x0, middle)), (text[half:], (middle, x1))):
                if not part:
                    continue
                top = (y0 + y1) / 2 + (a - LEFT) * turn - (y1 - y0) / 2
                box = (round(a), round(top), round(b), round(top + (b - a) * turn + y1 - y0))
                lines.append(TextLine(part, bbox=box, confidence=0.95, slope=slope))
        return Page(source="p.jpg", number=1, lines=lines, image=None)

    following = fingerprint_page(turned(turn), settings)
    against = fingerprint_page(turned(-turn), settings)  # read rising where it falls
    assert following is not None and against is not None
    # One fit for the whole page: later patches would pick up the misplaced cells one by one.
    whole = settings.model_copy(
        update={"layout": settings.layout.model_copy(update={"max_patches": 1})}
    )
    match, wrong = verify(following, original, whole), verify(against, original, whole)
    assert match is not None and match.score >= 0.9
    assert wrong is None or wrong.score < match.score - 0.1


def test_ocr_errors_keep_most_marks(
    settings: FingerprintSettings, original: PageFingerprint
) -> None:
    rng = random.Random(3)
    rows = _document(15, TITLE_A, BODY_A)
    noisy = fingerprint_page(_page([(_misread(t, rng, 0.04), b) for t, b in rows]), settings)
    assert noisy is not None
    kept = len(set(noisy.text_marks) & set(original.text_marks)) / len(noisy.text_marks)
    assert kept >= 0.75
    match = verify(noisy, original, settings)
    assert match is not None and match.methods == ("text", "layout")


def test_a_same_template_sibling_does_not_verify(
    settings: FingerprintSettings, original: PageFingerprint
) -> None:
    sibling = fingerprint_page(_page(_document(16, TITLE_B, BODY_B)), settings)
    assert sibling is not None
    assert verify(sibling, original, settings) is None
    # Its top alone (marking, organ mark, number, title, addressee) neither.
    top = fingerprint_page(_page(_document(16, TITLE_B, BODY_B)[:7]), settings)
    assert top is not None and verify(top, original, settings) is None


def test_a_cropped_rescaled_lower_half_verifies(
    settings: FingerprintSettings, original: PageFingerprint
) -> None:
    rows = _document(15, TITLE_A, BODY_A)
    crop = fingerprint_page(_page(_moved(rows[7:], 0.62, -40, -380)), settings)
    assert crop is not None
    match = verify(crop, original, settings)
    assert match is not None and match.score >= 0.9


def test_the_same_text_laid_out_elsewhere_does_not_line_up(
    settings: FingerprintSettings, original: PageFingerprint
) -> None:
    """Shared sentences in other places are no copy: lines shuffled down the page."""
    rows = _document(15, TITLE_A, BODY_A)
    texts = [t for t, _ in rows[3:11]]
    shuffled = _lines([texts[i] for i in (5, 2, 7, 0, 3, 6, 1, 4)])
    fp = fingerprint_page(_page(shuffled), settings)
    assert fp is not None and verify(fp, original, settings) is None


# A stock passage two unrelated pages share, wrapped at other places on each (from the
# Fandol registry corpus, seed 77: a sibling's page 2 was matched to another organ's page 2).
STOCK_ON_ONE = [
    "（一）存在的主要问题。有关工作经费按照现行渠道解决，",
    "确保专款专用。要加强对重点领域、重点部位、重点时段的巡",
    "查检查，做到全覆盖、无死角。",
    "（二）下一步工作打算。部分地方和单位思想认识不到位，",
    "工作落实存在上热中温下冷现象。要建立健全工作台账，明确",
    "责任单位、责任人和完成时限，确保各项任务落到实处。现将",
    "有关情况通报如下，请各单位引以为戒，举一反三，切实抓好",
    "整改。",
    "请遵照执行。",
]
STOCK_ON_ANOTHER = [
    "请示报告。",
    "三、严格值班值守，及时报送重要信息",
    "要建立健全工作台账，明确责任单位、责任人和完成时限，确保",
    "各项任务落到实处。现将有关情况通报如下，请各单位引以为戒，举",
    "一反三，切实抓好整改。",
    "请认真贯彻执行。",
]


def _set(texts: list[str], top: int) -> Page:
    """Lines set at one character width, so that a line is as long as its text."""
    return _page(
        [
            (t, (LEFT, top + i * PITCH, LEFT + 34 * len(t), top + i * PITCH + 40))
            for i, t in enumerate(texts)
        ]
    )


def test_a_stock_passage_wrapped_elsewhere_is_no_copy(settings: FingerprintSettings) -> None:
    """Each line of a passage wrapped at other places is a piece that a patch could carry,
    one line's length away from where the page's own fit puts it: no crumpled piece moves
    that far, so those patches do not count."""
    one = fingerprint_page(_set(STOCK_ON_ONE, 200), settings)
    another = fingerprint_page(_set(STOCK_ON_ANOTHER, 140), settings)
    assert one is not None and another is not None
    assert verify(another, one, settings) is None
    unbounded = settings.model_copy(
        update={"layout": settings.layout.model_copy(update={"max_patch_shift": 1000.0})}
    )
    assert verify(another, one, unbounded) is not None  # what the bound turns away


def test_text_without_layout_is_checked_by_order(
    settings: FingerprintSettings, original: PageFingerprint
) -> None:
    """A re-typed copy (no boxes) matches by its text in order; shuffled sentences do not."""
    texts = [t for t, _ in _document(15, TITLE_A, BODY_A)]
    retyped = Page(source="a.txt", number=1, lines=[TextLine("".join(texts[3:]))])
    fp = fingerprint_page(retyped, settings)
    assert fp is not None
    match = verify(fp, original, settings)
    assert match is not None and match.methods == ("text", "order")
    reordered = Page(source="b.txt", number=1, lines=[TextLine(t) for t in reversed(texts[3:])])
    fp = fingerprint_page(reordered, settings)
    assert fp is not None and verify(fp, original, settings) is None


def test_registry_frequency_weighs_down_shared_formulas(
    settings: FingerprintSettings, original: PageFingerprint
) -> None:
    """Marks found on many registered pages count little: a page sharing only them is no copy."""
    rows = _document(15, TITLE_A, BODY_A)
    query = fingerprint_page(_page(rows[3:11]), settings)
    assert query is not None
    assert verify(query, original, settings) is not None
    everywhere = dict.fromkeys(query.text_marks, 5)
    match = verify(query, original, settings, everywhere)
    assert match is not None  # a copy is still a copy when everything is common
    # ...but not when what it shares weighs next to nothing (on 50 pages each: stock text).
    assert verify(query, original, settings, dict.fromkeys(query.text_marks, 50)) is None


def test_image_hashes_of_regions() -> None:
    config = load_config()
    rng = random.Random(5)
    spec = layout(make_document(rng, "file"), rng)[0]
    page = Page(source="p.png", number=1, image=np.asarray(rasterize(spec)))
    fp = fingerprint_page(page, config.fingerprint)
    assert fp is not None and fp.text_marks == ()
    assert set(fp.image_hashes) == {"page", "body", "top", "bottom"}
    assert all(0 <= h < 2**64 for h in fp.image_hashes.values())


def test_codec_round_trip_and_size(
    settings: FingerprintSettings, original: PageFingerprint
) -> None:
    fp = replace(original, image_hashes={"page": 2**64 - 1, "body": 12345})
    assert fp.doc_number != 0
    data = encode(fp)
    assert decode(data) == fp
    assert len(data) <= 1536
    with pytest.raises(ValueError, match="version"):
        decode(encode(replace(fp, version=FINGERPRINT_VERSION + 1)))
    with pytest.raises(ValueError, match="truncated"):
        decode(data[:-3])
    with pytest.raises(ValueError, match="not an encoded"):
        decode(b"XX" + data[2:])


def test_settings_are_validated(tmp_path: Path) -> None:
    folder = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, folder)
    path = folder / "fingerprint.yaml"
    original = path.read_text()
    out_of_range = re.sub(r"(?m)^(  threshold:) [0-9.]+", r"\1 1.5", original, count=1)
    assert out_of_range != original
    path.write_text(out_of_range)
    with pytest.raises(ConfigError, match=r"fingerprint\.yaml: verify\.threshold"):
        load_config(folder)
    path.write_text(original.replace('"〇": "0"', '"〇": "00"'))
    with pytest.raises(ConfigError, match="one character each"):
        load_config(folder)
    path.write_text(original)
    loaded = load_config(folder).fingerprint
    assert loaded.markings is not None and loaded.headers is not None
    assert loaded.index.min_shared_marks >= 1 and loaded.index.max_candidates >= 1


def test_registration_reads_whole_pages(config: ScanConfig) -> None:
    registering = registration_config(config)
    assert registering.scan.ocr.rec_char_budget == config.fingerprint.registration.rec_char_budget
    assert registering.scan.ocr.rec_char_budget > config.scan.ocr.rec_char_budget
    assert registering.fingerprint == config.fingerprint


def _photo_page(scanner: Scanner, image: Image.Image, kind: str, seed: int) -> Page:
    _, g = rngs(seed, "fingerprint-test", kind)
    shot = cp.capture(image, [], kind, g)
    return next(scanner.read_pages(shot.data, f"shot.{shot.ext}"))


def test_real_photo_matches_its_page_and_not_a_sibling(config: ScanConfig) -> None:
    """Rendered pages, a phone photo, real OCR: the photo verifies against its own page and
    not against a same-template sibling (same organ, header, style; other title and body)."""
    rng = random.Random(21)
    doc = make_document(rng, "file")
    sibling = make_document(random.Random(22), "file")
    sibling.organ, sibling.mark, sibling.mark_suffix, sibling.rule = (
        doc.organ,
        doc.mark,
        doc.mark_suffix,
        doc.rule,
    )
    sibling.addressee, sibling.classification, sibling.handling = (
        doc.addressee,
        doc.classification,
        doc.handling,
    )
    image, sibling_image = (
        rasterize(layout(d, random.Random(7), seed=1)[0]) for d in (doc, sibling)
    )
    registering = Scanner(registration_config(config))
    scanner = Scanner(config, engine=registering.engine)
    fps = []
    for picture in (image, sibling_image):
        page = Page(source="r.png", number=1, image=np.asarray(picture), needs_ocr=True)
        registering.read(page)
        fps.append(fingerprint_page(page, config.fingerprint))
    registered, registered_sibling = fps
    assert registered is not None and registered_sibling is not None
    photo = fingerprint_page(_photo_page(scanner, image, "photo", 21), config.fingerprint)
    assert photo is not None
    match = verify(photo, registered, config.fingerprint)
    assert match is not None and "layout" in match.methods
    assert verify(photo, registered_sibling, config.fingerprint) is None


def test_distinctive_marks_carry_a_noisy_copy_only_in_a_large_registry(
    settings: FingerprintSettings, original: PageFingerprint
) -> None:
    """A copy whose OCR garbled most lines (a dense table, small print) keeps too small a share
    of the original's marks; enough marks that stand on this registered page alone still make
    it a copy, but only where the registry is large enough for "on one page" to mean rare."""
    rows = _document(15, TITLE_A, BODY_A)
    noisy = [(_garbled(t) if i % 3 else t, box) for i, (t, box) in enumerate(rows)]
    query = fingerprint_page(_page(noisy), settings)
    assert query is not None
    assert verify(query, original, settings) is None  # too little of it is the original's
    on_this_page_only = {m: 1 for m in original.text_marks}
    rule = settings.verify.distinctive
    match = verify(query, original, settings, on_this_page_only, rule.min_population)
    assert match is not None and "distinctive" in match.methods
    small = rule.min_population - 1
    assert verify(query, original, settings, on_this_page_only, small) is None


def test_one_quoted_sentence_does_not_make_a_sibling_a_copy(
    settings: FingerprintSettings, original: PageFingerprint
) -> None:
    """A sibling whose text is stock sentences of many registered documents, plus one sentence,
    in its place, that only the original has: weighted by rarity, that sentence is most of the
    sibling's weight, but it is a tenth of its page."""
    body = [*BODY_B[:3], BODY_A[3], *BODY_B[4:]]
    sibling = fingerprint_page(_page(_document(16, TITLE_B, body)), settings)
    assert sibling is not None
    quoted = set(sibling.text_marks) & set(original.text_marks)
    frequency = {m: 1 if m in quoted else 20 for m in sibling.text_marks}
    population = settings.verify.distinctive.min_population
    assert len(quoted) >= settings.verify.distinctive.min_marks  # rare marks, in place
    assert len(quoted) < settings.verify.min_plain_share * len(sibling.text_marks)
    assert verify(sibling, original, settings, frequency, population) is None
    no_floor = settings.model_copy(
        update={"verify": settings.verify.model_copy(update={"min_plain_share": 0.0})}
    )
    assert verify(sibling, original, no_floor, frequency, population) is not None


def _garbled(text: str) -> str:
    """Every other character replaced, as OCR does with small print."""
    return "".join("口" if i % 2 else c for i, c in enumerate(text))
