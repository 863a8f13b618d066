"""Pictures of pages for the console: an incident's evidence with its finding boxes drawn over
it, and the thumbnail of a registered document.

A finding's box is in pixels of the page image the scanner read: a photo decoded at
`vision.decode_max_side`, found, straightened and turned upright; a PDF page rendered at the
scanner's resolution. So the evidence page is made again the same way, with the scanner's own
extraction and capture preparation, and the boxes fall where the scanner saw the text.
Everything here is blocking and CPU-bound: handlers call it through `PageArtist.run`.
"""

from __future__ import annotations

import asyncio
import io
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import redis
from aiohttp import web
from PIL import Image, ImageDraw, ImageFont

from bot import keys
from bot.redis_text import binary
from bot.sealing import Sealer, SealError
from bot.settings import BotSettings
from detectors import Page, ScanConfig, Scanner
from detectors.extract import ExtractContext, extract_pages
from detectors.extract.sniff import IMAGE_KINDS
from detectors.fingerprint.page import registration_config
from detectors.vision.capture import prepare_capture

P = ParamSpec("P")
T = TypeVar("T")

EVIDENCE_MAX_SIDE = 1600
THUMBNAIL_SIZE = (180, 240)
CACHED_PICTURES = 24
FONT_PATHS = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", "DejaVuSans-Bold.ttf")
# One colour per detector family, the rest share the last one; the page's table uses the same.
BOX_COLOURS = {
    "classification_marking": (200, 30, 30),
    "handling_marking": (200, 30, 30),
    "known_document": (120, 40, 200),
    "document_header": (230, 110, 0),
    "red_header": (230, 110, 0),
    "seal": (210, 0, 120),
    "personal_data": (0, 130, 90),
}
OTHER_COLOUR = (0, 110, 200)


@dataclass(frozen=True)
class EvidenceView:
    """One picture of an incident: a page (of an archive member, perhaps) with findings."""

    member: str | None
    page: int

    @property
    def caption(self) -> str:
        where = f"{self.member}, " if self.member else ""
        return f"{where}page {self.page}"


def evidence_views(report: Mapping[str, Any]) -> list[EvidenceView]:
    """The pictures worth showing: each page with a boxed finding; an image's only page when
    its findings have no box (say, a marking in its EXIF)."""
    findings = report.get("findings", [])
    boxed = {
        EvidenceView(f.get("member"), int(f["page"])) for f in findings if f.get("bbox") is not None
    }
    if boxed:
        return sorted(boxed, key=lambda v: (v.member or "", v.page))
    if str(report.get("media_type", "")) in IMAGE_KINDS:
        return [EvidenceView(None, 1)]
    return []


def numbered_findings(report: Mapping[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """Findings with the number their box carries on the evidence picture (1, 2, ...)."""
    return list(enumerate(report.get("findings", []), start=1))


def box_colour(detector: str) -> tuple[int, int, int]:
    return BOX_COLOURS.get(detector, OTHER_COLOUR)


class PageArtist:
    """Draws pages with the scanner's reading, one at a time (OCR is CPU- and memory-heavy),
    and keeps the last few pictures: an officer going back and forth does not redraw them."""

    def __init__(
        self, config: ScanConfig, *, scanner: Scanner | None = None, cached: int = CACHED_PICTURES
    ) -> None:
        self._config = config
        self._scanner = scanner or Scanner(config)
        self._lock = asyncio.Semaphore(1)
        self._cache: OrderedDict[tuple[str, ...], bytes] = OrderedDict()
        self._cached = cached

    async def run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        async with self._lock:
            return await asyncio.to_thread(function, *args, **kwargs)

    def registration_scanner(self) -> Scanner:
        """A scanner for `Registry.register` that shares this one's OCR engine."""
        return Scanner(registration_config(self._config), engine=self._scanner.engine)

    def evidence(
        self,
        cache_key: str,
        data: bytes,
        filename: str,
        view: EvidenceView,
        findings: Sequence[Mapping[str, Any]],
    ) -> bytes | None:
        """The page of `view` as a PNG with every finding's box on it; None when the file has
        no such page or it has no picture (a text file)."""
        key = (cache_key, view.member or "", str(view.page))
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        page = self._page(data, filename, view)
        if page is None or page.image is None:
            return None
        image = page.image
        if page.needs_ocr and page.is_capture:
            image = prepare_capture(image, self._scanner.engine, self._config.scan.vision).image
        picture = _draw_boxes(Image.fromarray(image), view, findings)
        self._cache[key] = picture
        while len(self._cache) > self._cached:
            self._cache.popitem(last=False)
        return picture

    def thumbnail(self, data: bytes, filename: str) -> bytes | None:
        """The first page with a picture, small, as a PNG; None for a file without one."""
        for page in self._pages(data, filename):
            if page.image is not None:
                image = Image.fromarray(page.image)
                image.thumbnail(THUMBNAIL_SIZE, Image.Resampling.LANCZOS)
                return png(image)
        return None

    def _page(self, data: bytes, filename: str, view: EvidenceView) -> Page | None:
        for page in self._pages(data, filename):
            member = None if page.source == filename else page.source
            if (member, page.number) == (view.member, view.page):
                return page
        return None

    def _pages(self, data: bytes, filename: str) -> Iterator[Page]:
        context = ExtractContext(
            limits=self._config.scan.limits,
            decode_max_side=self._config.scan.vision.decode_max_side,
            decode_min_side=self._config.scan.vision.decode_min_side,
        )
        return (p for p in extract_pages(data, filename, context) if not p.is_metadata)


class EvidencePictures:
    """Evidence pictures drawn when the incident opens (by the worker that found it), kept as
    long as the evidence: an officer opening the alert's link does not wait for OCR.

    They show the leaked page, so they are sealed like the evidence itself (`bot.sealing`, the
    key name bound in). With `retention.evidence_picture` off there are none: nothing is drawn
    or kept, and the console shows the findings only.
    """

    def __init__(
        self, client: redis.Redis, settings: BotSettings, sealer: Sealer | None = None
    ) -> None:
        self._redis = client
        self._sealer = sealer or Sealer.from_environment()
        self._seconds = max(1, round(settings.retention.evidence_days * 86_400))
        self.enabled = settings.retention.evidence_picture

    def get(self, sha256: str, view: EvidenceView) -> bytes | None:
        """The kept picture, or None (never drawn, expired, or sealed with another key)."""
        key = _picture_key(sha256, view)
        found = self._redis.get(key) if self.enabled else None
        if found is None:
            return None
        try:
            return self._sealer.open(binary(found), key.encode())
        except SealError:  # drawn again from the evidence, or refused with the blob's reason
            return None

    def put(self, sha256: str, view: EvidenceView, picture: bytes) -> None:
        if self.enabled:
            key = _picture_key(sha256, view)
            sealed = self._sealer.seal(picture, key.encode())
            self._redis.set(key, sealed, ex=self._seconds)

    def draw_all(
        self, artist: PageArtist, sha256: str, data: bytes, report: Mapping[str, Any]
    ) -> int:
        """Draw and keep every picture of a report; how many there are."""
        if not self.enabled:
            return 0
        drawn = 0
        filename = str(report.get("source") or "evidence")
        for view in evidence_views(report):
            picture = artist.evidence(sha256, data, filename, view, report.get("findings", []))
            if picture is not None:
                self.put(sha256, view, picture)
                drawn += 1
        return drawn


def _picture_key(sha256: str, view: EvidenceView) -> str:
    return f"{keys.EVIDENCE_PICTURE}{sha256}:{view.member or ''}:{view.page}"


ARTIST = web.AppKey("page_artist", PageArtist)
PICTURES = web.AppKey("evidence_pictures", EvidencePictures)


def _draw_boxes(
    image: Image.Image, view: EvidenceView, findings: Sequence[Mapping[str, Any]]
) -> bytes:
    image = image.convert("RGB")
    scale = min(1.0, EVIDENCE_MAX_SIDE / max(image.size))
    if scale < 1.0:
        size = (round(image.width * scale), round(image.height * scale))
        image = image.resize(size, Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(image)
    line = max(2, round(max(image.size) / 400))
    font = _font(max(14, round(max(image.size) / 50)))
    drawn: list[Box] = []
    tags: list[Box] = []
    for number, finding in _boxed_on(view, findings):
        x0, y0, x1, y1 = (round(v * scale) for v in finding["bbox"])
        # A box over one already drawn (a marking inside the marking line) goes around it,
        # one line further out per box beneath, so that every outline shows.
        ring = sum(_overlap((x0, y0, x1, y1), other) > OVERLAP for other in drawn)
        drawn.append((x0, y0, x1, y1))
        pad = line * (1 + 2 * ring)
        colour = box_colour(str(finding.get("detector", "")))
        draw.rectangle((x0 - pad, y0 - pad, x1 + pad, y1 + pad), outline=colour, width=line)
        tag = str(number)
        left, top, right, bottom = (round(v) for v in draw.textbbox((0, 0), tag, font=font))
        width, height = right - left + 2 * line, bottom - top + 2 * line
        spot = _free_spot((x0 - pad, max(0, y0 - pad - height), width, height), tags)
        tags.append(spot)
        draw.rectangle(spot, fill=colour)
        draw.text((spot[0] + line - left, spot[1] + line - top), tag, fill="white", font=font)
    return png(image)


Box = tuple[int, int, int, int]
OVERLAP = 0.3
"""Two boxes sharing more than this part of the smaller one are drawn apart."""
DRAW_ORDER = tuple(BOX_COLOURS)
"""The most telling findings first, nearest their text: a marking before a header's parts."""


def _boxed_on(
    view: EvidenceView, findings: Sequence[Mapping[str, Any]]
) -> list[tuple[int, Mapping[str, Any]]]:
    """The findings boxed on this page with their numbers, in `DRAW_ORDER`."""
    on_page = [
        (number, finding)
        for number, finding in enumerate(findings, start=1)
        if finding.get("bbox") is not None
        and (finding.get("member"), int(finding["page"])) == (view.member, view.page)
    ]

    def rank(item: tuple[int, Mapping[str, Any]]) -> tuple[int, int]:
        detector = str(item[1].get("detector", ""))
        return (DRAW_ORDER.index(detector) if detector in DRAW_ORDER else len(DRAW_ORDER), item[0])

    return sorted(on_page, key=rank)


def _overlap(a: Box, b: Box) -> float:
    """The part of the smaller box that the two share (0 to 1)."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return width * height / max(1, smaller)


def _free_spot(wanted: tuple[int, int, int, int], taken: list[Box]) -> Box:
    """A number tag at `wanted` (x, y, width, height), moved right past the tags there."""
    x, y, width, height = wanted
    spot = (x, y, x + width, y + height)
    while any(_overlap(spot, other) > 0 for other in taken):
        x += width + 2
        spot = (x, y, x + width, y + height)
    return spot


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONT_PATHS:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
