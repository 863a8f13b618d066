"""The one entry point of the library: bytes in, a `ScanReport` out.

scan = extract pages (by content sniffing) → OCR the pages that need it (after finding,
rectifying and turning camera captures upright) → run every detector on every page →
decide the verdict. A problem with the input ends up in the report, never as an exception.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from functools import cached_property
from pathlib import Path

from detectors.config import ScanConfig
from detectors.context import PageContext
from detectors.errors import EncryptedContent, LimitExceeded, ScanError
from detectors.extract import extract_pages, media_kind
from detectors.extract.base import ExtractContext
from detectors.fingerprint import KnownDocuments, KnownMatch
from detectors.fingerprint.page import fingerprint_page
from detectors.model import Finding, Page, ScanReport, TextLine, Verdict
from detectors.ocr import create_engine
from detectors.ocr.base import Decided, OcrEngine
from detectors.ocr.layout import TextBox, in_top_band, reading_order
from detectors.policy import decide, deciding_detectors
from detectors.registry import ENCRYPTED, INCOMPLETE, KNOWN_DOCUMENT, PAGE_DETECTORS
from detectors.vision.capture import prepare_capture
from detectors.vision.screen import (
    ScreenPage,
    find_screen_page,
    lines_inside,
    on_screen,
    page_inside,
    read_alike,
    same_line,
)

log = logging.getLogger(__name__)


class Scanner:
    """Scans files with one config and one OCR engine, loaded on first need and then reused.

    With `known`, every page is also fingerprinted and looked up among the registered
    controlled documents.
    """

    def __init__(
        self,
        config: ScanConfig,
        *,
        engine: OcrEngine | None = None,
        engine_name: str | None = None,
        known: KnownDocuments | None = None,
    ) -> None:
        self.config = config
        self.known = known
        self._engine = engine
        self._engine_name = engine_name

    @property
    def engine(self) -> OcrEngine:
        if self._engine is None:
            words = self.config.markings.words
            self._engine = create_engine(self.config.scan.ocr, self._engine_name, words)
        return self._engine

    def scan_path(self, path: str | os.PathLike[str]) -> ScanReport:
        """Scan a file on disk; the size cap is checked before a byte is read."""
        source = str(path)
        limit = self.config.scan.limits.max_file_bytes
        try:
            size = Path(path).stat().st_size
            if size > limit:
                raise LimitExceeded(f"file of {size:,} bytes exceeds the {limit:,} byte cap")
            data = Path(path).read_bytes()
        except ScanError as exc:
            return ScanReport(source=source, error=str(exc))
        except OSError as exc:
            return ScanReport(source=source, error=f"unreadable: {exc.strerror or exc}")
        return self.scan(data, source)

    def scan(self, data: bytes, filename: str | None = None) -> ScanReport:
        started = time.perf_counter()
        name = filename or "<bytes>"
        report = ScanReport(source=name)
        timings = {"extract": 0.0, "ocr": 0.0, "detect": 0.0, "lookup": 0.0}
        ctx = self._extract_context()
        try:
            report.media_type = media_kind(data, name)
            for page in _timed_iter(extract_pages(data, name, ctx), timings, "extract"):
                with _timer(timings, "ocr"):
                    self.read(page)
                    screen = self.read_screen_page(page)
                with _timer(timings, "detect"):
                    member = _member(page, name)
                    report.findings += self.detect_page(page, member, report.warnings, screen)
                with _timer(timings, "lookup"):
                    for read in [page] if screen is None else [page, screen.page]:
                        report.findings += self.known_findings(read, member, report.warnings)
                report.pages += 0 if page.is_metadata else 1
        except EncryptedContent:
            ctx.encrypted(name)
        except ScanError as exc:
            if ctx.exhausted:  # a tree-wide cap stopped an archive: what was left is unread
                ctx.skipped(name, exc)
            report.error = str(exc)
        except Exception as exc:  # a bug or a library crash on hostile input: report it, go on
            log.exception("scan of %s failed", name)
            report.error = f"internal: {type(exc).__name__}: {exc}"
        self._finish(report, ctx, name)
        report.timings_ms = {k: round(v * 1000) for k, v in timings.items()}
        report.timings_ms["total"] = round((time.perf_counter() - started) * 1000)
        return report

    def read_pages(self, data: bytes, filename: str) -> Iterator[Page]:
        """The pages of a file, read (OCR'd where needed) but not judged: what registering a
        document fingerprints, so every page is read whole. Raises `ScanError` for input that
        cannot be read."""
        ctx = self._extract_context()
        for page in extract_pages(data, filename, ctx):
            self.read(page, whole=True)
            yield page

    def _extract_context(self) -> ExtractContext:
        return ExtractContext(
            limits=self.config.scan.limits,
            decode_max_side=self.config.scan.vision.decode_max_side,
            decode_min_side=self.config.scan.vision.decode_min_side,
        )

    def read(self, page: Page, *, whole: bool = False) -> None:
        """Fill `page.lines` by OCR where the page has no text layer; unless `whole`, the
        body of a page that its first lines already decide is read only in part."""
        if not page.needs_ocr or page.image is None:
            return
        boxes = None
        if page.is_capture:
            capture = prepare_capture(page.image, self.engine, self.config.scan.vision)
            page.image, boxes = capture.image, capture.boxes
        page.lines = self.engine.read(page.image, boxes, None if whole else self._decided(page))

    @cached_property
    def _deciding(self) -> tuple[str, ...]:
        """The page detectors whose finding alone makes a page critical (by the policy)."""
        return deciding_detectors(self.config.policy, PAGE_DETECTORS)

    def _decided(self, page: Page, before: Sequence[TextLine] = ()) -> Decided | None:
        """Whether lines read of `page` (with the lines `before` already known of it) decide
        its verdict: a detector that alone makes a page critical fires on them. None when
        the policy has no such detector: nothing can decide a page early."""
        deciding = self._deciding
        if not deciding:
            return None

        def decided(lines: list[TextLine]) -> bool:
            draft = replace(page, lines=reading_order([*before, *lines], lambda ln: ln.bbox))
            ctx = PageContext(page=draft, config=self.config)
            try:
                findings = [f for name in deciding for f in PAGE_DETECTORS[name](ctx)]
            except Exception:  # the page's own detection will report it; read the page whole
                log.exception("deciding on %s page %d failed", page.source, page.number)
                return False
            return decide(findings, self.config.policy) is Verdict.CRITICAL

        return decided

    def read_screen_page(self, page: Page) -> ScreenPage | None:
        """The document page inside a screenshot (a file preview, an OA pane, a website), read
        on its own; None when the picture shows no such page."""
        if not page.is_capture or page.image is None:
            return None
        box = find_screen_page(page.image, page.lines, self.config.scan.vision.screen_page)
        if box is None:
            return None
        inside = page_inside(page, box)
        if read_alike(page, box):
            inside.lines = lines_inside(page.lines, box)  # no OCR twice of the same pixels
        else:
            ocr = self.config.scan.ocr
            whole = [ln for ln in page.lines if ln.bbox and in_top_band(ln.bbox, page.height, ocr)]
            self._read_again(inside, lines_inside(page.lines, box), lines_inside(whole, box))
        return ScreenPage(box, inside)

    def _read_again(
        self, inside: Page, screen_lines: list[TextLine], read_whole: list[TextLine]
    ) -> None:
        """Read the page inside a screen at its own scale, where detection finds its small
        print. Recognition reads the same pixels at the same size either way, so a line the
        screen's reading already holds is taken from it (its text; the box is this pass's
        finer one); only the lines that detection found anew are recognised, and the lines
        of the page's top band that the screen's reading narrowed (it read `read_whole` at
        full size, its own top band): a marking atop a page mid-screen is read whole."""
        assert inside.image is not None
        boxes = self.engine.detect_lines(inside.image)
        if boxes is None:  # an engine without a separate detection pass
            self.read(inside)
            return

        def read_before(box: TextBox) -> TextLine | None:
            top = in_top_band(box.bbox, inside.height, self.config.scan.ocr)
            return same_line(box.bbox, read_whole if top else screen_lines)

        pairs = [(box, read_before(box)) for box in boxes]
        fresh = [box for box, line in pairs if line is None]
        # The text of the screen's reading, the box of this finer detection.
        taken = [
            replace(line, bbox=box.bbox, slope=box.slope) for box, line in pairs if line is not None
        ]
        decided = self._decided(inside, taken)
        read = self.engine.read(inside.image, fresh, decided) if fresh else []
        inside.lines = reading_order([*dict.fromkeys([*taken, *read])], lambda ln: ln.bbox)

    def detect_page(
        self,
        page: Page,
        member: str | None = None,
        problems: list[str] | None = None,
        screen: ScreenPage | None = None,
    ) -> list[Finding]:
        """Every detector on one page, and on the document page inside it when it is a
        screenshot. A detector that fails is noted in `problems` and the others still run:
        one odd page must not cost the findings of the rest."""
        findings = self._detectors(page, member, problems)
        if screen is None:
            return findings
        # Judged on its own page, a header stands at the page's top; on the whole screen it
        # stands mid-picture, and the screen's small print was read at the screen's scale.
        inside = self._detectors(screen.page, member, problems)
        return _most_confident(findings, [on_screen(f, screen.box) for f in inside])

    def _detectors(
        self, page: Page, member: str | None, problems: list[str] | None
    ) -> list[Finding]:
        ctx = PageContext(page=page, config=self.config, member=member)
        findings: list[Finding] = []
        for name, detect in PAGE_DETECTORS.items():
            try:
                findings += detect(ctx)
            except Exception as exc:
                log.exception("detector %s failed on %s page %d", name, page.source, page.number)
                if problems is not None:
                    problems.append(f"{page.source} page {page.number}: {name} failed: {exc}")
        return findings

    def known_findings(
        self, page: Page, member: str | None = None, problems: list[str] | None = None
    ) -> list[Finding]:
        """`known_document` findings for a page that copies a registered one. A registry that
        cannot be reached is noted in `problems`: the other detectors' verdict still stands."""
        if self.known is None or page.is_metadata:
            return []
        fingerprint = fingerprint_page(page, self.config.fingerprint)
        if fingerprint is None:
            return []
        try:
            matches = self.known.lookup(fingerprint)
        except Exception as exc:
            log.exception("registry lookup failed on %s page %d", page.source, page.number)
            if problems is not None:
                problems.append(f"{page.source} page {page.number}: registry lookup failed: {exc}")
            return []
        return [_known_finding(match, page.number, member) for match in matches]

    def _finish(self, report: ScanReport, ctx: ExtractContext, name: str) -> None:
        tally = ctx.tally
        report.findings += [
            Finding(
                detector=ENCRYPTED,
                label="encrypted",
                confidence=1.0,
                page=0,
                evidence="password-protected content cannot be inspected",
                member=None if source == name else source,
            )
            for source in dict.fromkeys(tally.encrypted_sources)
        ]
        report.findings += [
            Finding(
                detector=INCOMPLETE,
                label=skipped.label,
                confidence=1.0,
                page=0,
                evidence=skipped.reason,
                member=None if skipped.source == name else skipped.source,
            )
            for skipped in tally.skipped
        ]
        report.findings = _deduplicated(report.findings)
        report.warnings = [*tally.warnings, *report.warnings]
        if tally.pages_skipped and report.error is None:
            report.error = (
                f"limit: {tally.pages_skipped:,} more pages were not scanned "
                f"(page cap {self.config.scan.limits.max_pages})"
            )
        report.verdict = _verdict(report.findings, self.config)


def scan(
    data: bytes,
    filename: str | None,
    config: ScanConfig,
    *,
    engine: OcrEngine | None = None,
) -> ScanReport:
    """Scan one file's bytes. For many files, create one `Scanner` and reuse it."""
    return Scanner(config, engine=engine).scan(data, filename)


def _verdict(findings: list[Finding], config: ScanConfig) -> Verdict:
    """The loudest verdict of the file's documents: each archive member is decided on its own,
    so that one member's （此件公开发布） does not quiet another member's marking."""
    documents: dict[str | None, list[Finding]] = {}
    for finding in findings:
        documents.setdefault(finding.member, []).append(finding)
    return max(
        (decide(group, config.policy) for group in documents.values()), default=Verdict.CLEAN
    )


def _known_finding(match: KnownMatch, page: int, member: str | None) -> Finding:
    return Finding(
        detector=KNOWN_DOCUMENT,
        label=match.doc_id,
        confidence=match.score,
        page=page,
        evidence=f"{match.title} (p. {match.page})" if match.title else f"p. {match.page}",
        member=member,
        details={
            "doc_id": match.doc_id,
            "doc_page": match.page,
            "title": match.title,
            "level": match.level,
            "score": round(match.score, 3),
            "methods": list(match.methods),
        },
    )


def _member(page: Page, name: str) -> str | None:
    return None if page.source == name else page.source


def _most_confident(whole: list[Finding], inside: list[Finding]) -> list[Finding]:
    """The findings of a screenshot and of the page inside it: per detector and label, those
    of the reading that was surer of it (the whole screenshot's on a tie)."""
    keys = dict.fromkeys((f.detector, f.label) for f in [*whole, *inside])
    kept: list[Finding] = []
    for key in keys:
        ours = [f for f in whole if (f.detector, f.label) == key]
        theirs = [f for f in inside if (f.detector, f.label) == key]
        kept += ours if _surest(ours) >= _surest(theirs) else theirs
    return kept


def _surest(findings: list[Finding]) -> float:
    return max((f.confidence for f in findings), default=0.0)


def _deduplicated(findings: list[Finding]) -> list[Finding]:
    """One finding per detector, label, page and evidence: the most confident."""
    best: dict[tuple[object, ...], Finding] = {}
    for f in findings:
        key = (f.detector, f.label, f.member, f.page, f.evidence)
        if key not in best or f.confidence > best[key].confidence:
            best[key] = f
    return list(best.values())


@contextmanager
def _timer(timings: dict[str, float], key: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[key] += time.perf_counter() - started


def _timed_iter(pages: Iterator[Page], timings: dict[str, float], key: str) -> Iterator[Page]:
    """Charge the time spent producing each page (decoding, rendering) to `key`."""
    while True:
        with _timer(timings, key):
            page = next(pages, None)
        if page is None:
            return
        yield page
