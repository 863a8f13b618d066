"""Registry scale benchmark: register throughput, lookup latency and Redis memory per page.

    python -m benchmarks.registry_scale                      # 10k, 100k and 1M pages
    python -m benchmarks.registry_scale --sizes 10000 --no-readme

Runs a dedicated embedded Redis-protocol server in a temporary folder (deleted afterwards).

1. Real documents (generated PDFs with a text layer, a scanned PDF, a page image and a phone
   photo of a page) through the whole `Registry.register` path: read, OCR where needed,
   fingerprint, write. Their fingerprints also give the statistics of the synthetic pages.
2. Synthetic pages in bulk, through the same write path (`Registry.store`, 20,000 pages a
   transaction), up to each size. A page has as many text marks as a real page (drawn from
   the real pages' counts); a share of them, measured on generated documents, comes from a
   Zipf-distributed vocabulary of common shingles, so that buckets are as uneven as real ones;
   the rest are the page's own. 5% of pages have (almost) no text and are found by image.
3. At each size, lookups (`Registry.lookup`: index, candidates, verification) of
   noisy captures of registered pages (a window of the page, marks lost and misread, scaled,
   rotated, shifted; image hashes with flipped bits) and of unrelated pages.
4. Redis `used_memory` growth per registered page.
"""

from __future__ import annotations

import argparse
import io
import math
import random
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import redis

from benchmarks.readme import add_readme_flag, publish
from bot.redis_server import connect, stop_embedded
from bot.registry import PreparedDocument, Registry
from detectors import ScanConfig, Scanner, load_config
from detectors.fingerprint import PageFingerprint
from detectors.fingerprint.layout import UNITS, pack, unpack
from detectors.fingerprint.page import fingerprint_page, registration_config
from detectors.fingerprint.text import content_lines, marks
from detectors.model import TextLine

PAGES_PER_DOCUMENT = 4
BATCH_PAGES = 20_000
TEXT_POOR_SHARE = 0.05
VOCABULARY = 200_000
ZIPF_EXPONENT = 1.0
SAMPLE_MODULUS_FALLBACK = 4


@dataclass(frozen=True)
class PageStats:
    """What synthetic pages copy from real ones."""

    mark_counts: tuple[int, ...]
    common_share: float
    """Share of a page's marks that other documents have too."""
    real_pages: int


@dataclass
class Stage:
    pages: int
    load_s: float
    used_memory: int
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    copies_found: float = 0.0
    unrelated_matched: float = 0.0
    candidates_mean: float = 0.0
    queries: int = 0


@dataclass
class Report:
    register_pages: int = 0
    register_files: int = 0
    register_s: float = 0.0
    stats: PageStats | None = None
    baseline_memory: int = 0
    stages: list[Stage] = field(default_factory=list)


# --- real documents -------------------------------------------------------------------------


def real_documents(seed: int) -> list[tuple[str, bytes]]:
    """Files to register: text PDFs of several organs, a scanned PDF, a page image, a photo."""
    from tests.corpus import files as fl
    from tests.corpus.registry import document_pages, shoot
    from tests.corpus.render import rasterize

    out: list[tuple[str, bytes]] = []
    for family in range(6):
        out.append((f"text_{family}.pdf", fl.pdf_text(document_pages(seed, family, 0))))
        if family == 0:
            pages = document_pages(seed, family, 2)
            out.append(("scanned.pdf", fl.pdf_scanned([rasterize(p) for p in pages[:2]])))
        if family == 1:
            page = document_pages(seed, family, 2)[0]
            image = rasterize(page)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            out.append(("page.png", buffer.getvalue()))
            out.append(("photo.jpg", shoot(page, "photo", seed, "bench", family).data))
    return out


def register_real(registry: Registry, config: ScanConfig, seed: int) -> tuple[Report, list[int]]:
    report = Report()
    files = real_documents(seed)
    scanner = Scanner(registration_config(config))
    scanner.engine  # load the OCR models before the clock starts  # noqa: B018
    counts: list[int] = []
    started = time.perf_counter()
    for name, data in files:
        document = registry.register(data, name, scanner=scanner)
        report.register_pages += document.pages
    report.register_s = time.perf_counter() - started
    report.register_files = len(files)
    for name, data in files:
        for page in scanner.read_pages(data, name):
            fp = fingerprint_page(page, config.fingerprint)
            if fp is not None and fp.layout:
                counts.append(len(fp.text_marks))
    return report, counts


def common_share(config: ScanConfig, seed: int, documents: int = 300) -> float:
    """Share of a document's marks found in at least one other of `documents` generated ones
    (different organs, forms and topics)."""
    from tests.corpus.files import document_lines
    from tests.corpus.registry import member_document

    per_doc: list[set[int]] = []
    for i in range(documents):
        doc = member_document(seed + 1, i % 6, i // 6)
        lines = content_lines([TextLine(t) for t in document_lines(doc)], config.fingerprint)
        per_doc.append({m.value for m in marks(lines, config.fingerprint.text)})
    seen: dict[int, int] = {}
    for values in per_doc:
        for v in values:
            seen[v] = seen.get(v, 0) + 1
    shared = sum(1 for values in per_doc for v in values if seen[v] > 1)
    return shared / max(1, sum(len(v) for v in per_doc))


# --- synthetic pages ------------------------------------------------------------------------


class Synthetic:
    """Fingerprints with the statistics of real pages, and captures of them."""

    def __init__(self, stats: PageStats, modulus: int, seed: int) -> None:
        self.stats = stats
        self.modulus = modulus
        self.rng = np.random.default_rng(seed)
        self.vocabulary = self._values(VOCABULARY)
        weights = 1.0 / np.arange(1, VOCABULARY + 1) ** ZIPF_EXPONENT
        self.vocabulary_cdf = np.cumsum(weights / weights.sum())
        self.layouts: dict[int, list[bytes]] = {}

    def _values(self, n: int) -> np.ndarray:
        """Random marks as fingerprinting selects them: multiples of the sample modulus."""
        top = (1 << 32) // self.modulus
        return self.rng.integers(0, top, size=n, dtype=np.uint64) * self.modulus

    def text_page(self, count: int | None = None) -> PageFingerprint:
        n = count or int(self.rng.choice(self.stats.mark_counts))
        common = self.rng.binomial(n, self.stats.common_share)
        picks = np.searchsorted(self.vocabulary_cdf, self.rng.random(common))
        values = np.concatenate([self.vocabulary[picks], self._values(n - common)])
        text_marks = tuple(int(v) for v in np.unique(values))
        return PageFingerprint(
            text_marks=text_marks,
            text_length=len(text_marks) * self.modulus,
            image_hashes=self._hashes(),
            layout=self._layout(len(text_marks)),
        )

    def text_poor_page(self) -> PageFingerprint:
        return PageFingerprint(text_marks=(), text_length=0, image_hashes=self._hashes())

    def page(self) -> PageFingerprint:
        return self.text_poor_page() if self.rng.random() < TEXT_POOR_SHARE else self.text_page()

    def _hashes(self) -> dict[str, int]:
        values = self.rng.integers(0, 1 << 63, size=4, dtype=np.uint64) * 2 + 1
        return {
            name: int(v) for name, v in zip(("page", "body", "top", "bottom"), values, strict=True)
        }

    def _layout(self, n: int) -> bytes:
        """A layout of `n` marks on lines of a page: the placements do not depend on the
        mark values, so a few per count serve every page."""
        pool = self.layouts.setdefault(n, [])
        if len(pool) < 4:
            height = 22.0
            lines = np.arange(160, 1650, height * 1.6)
            ys = self.rng.choice(lines, size=n) + self.rng.normal(0, 1, n)
            xs = self.rng.uniform(150, 1100, size=n)
            placements = [
                (i, float(x), float(y)) for i, (x, y) in enumerate(zip(xs, ys, strict=True))
            ]
            pool.append(pack(placements, tuple(range(n)), 1754.0, height))
        return pool[int(self.rng.integers(len(pool)))]

    def capture(self, fp: PageFingerprint) -> PageFingerprint:
        """What a member's capture of the page gives: a window of the page, 15% of its marks
        lost, 10% misread, scaled, slightly turned, shifted; or, without text, image hashes
        with up to 2 bits flipped."""
        if not fp.text_marks:
            flipped = {
                name: h ^ sum(1 << int(b) for b in self.rng.choice(64, self.rng.integers(0, 3)))
                for name, h in fp.image_hashes.items()
            }
            return PageFingerprint(text_marks=(), text_length=0, image_hashes=flipped)
        layout = unpack(fp.layout, fp.text_marks)
        assert layout is not None
        points, values = layout.points, layout.marks
        visible = self.rng.uniform(0.35, 1.0)
        top = self.rng.uniform(0, 1 - visible) * UNITS * 1.45
        keep = (points[:, 1] >= top) & (points[:, 1] <= top + visible * UNITS * 1.45)
        keep &= self.rng.random(len(points)) > 0.15
        points, values = points[keep], values[keep]
        misread = self.rng.random(len(values)) < 0.10
        values = np.where(misread, self._values(len(values)).astype(np.int64), values)
        scale = self.rng.uniform(0.6, 1.6)
        angle = math.radians(self.rng.uniform(-1.5, 1.5))
        rotation = np.array(
            [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
        )
        jitter = self.rng.normal(0, 0.1 * layout.char_height, points.shape)
        moved = (points + jitter) @ rotation.T * scale + self.rng.uniform(-80, 80, 2)
        moved -= moved.min(axis=0) - 10 if len(moved) else 0
        text_marks = tuple(sorted({int(v) for v in values}))
        placements = [(int(v), float(x), float(y)) for v, (x, y) in zip(values, moved, strict=True)]
        side = float(moved.max()) + 10 if len(moved) else 1.0
        return PageFingerprint(
            text_marks=text_marks,
            text_length=len(text_marks) * self.modulus,
            image_hashes=self._hashes(),
            layout=pack(placements, text_marks, side, layout.char_height * scale)
            if text_marks
            else b"",
        )


# --- the run --------------------------------------------------------------------------------


def bulk_load(
    registry: Registry,
    synthetic: Synthetic,
    pages: int,
    first_doc: int,
    samples: list[tuple[str, int, PageFingerprint]],
    sample_every: int,
) -> int:
    """Register `pages` synthetic pages; keep every `sample_every`-th one to query later."""
    doc = first_doc
    left = pages
    while left > 0:
        batch: list[PreparedDocument] = []
        in_batch = 0
        while in_batch < min(BATCH_PAGES, left):
            fps = [synthetic.page() for _ in range(PAGES_PER_DOCUMENT)]
            doc_id = f"syn-{doc:07d}"
            for number, fp in enumerate(fps, start=1):
                if (doc * PAGES_PER_DOCUMENT + number) % sample_every == 0:
                    samples.append((doc_id, number, fp))
            batch.append(
                PreparedDocument(
                    doc_id=doc_id,
                    title=f"synthetic {doc}",
                    level="秘密",
                    filename=f"{doc_id}.pdf",
                    sha256=f"{doc:064x}",
                    pages=tuple(enumerate(fps, start=1)),
                )
            )
            doc += 1
            in_batch += len(fps)
        registry.store(batch)
        left -= in_batch
    return doc


def measure_lookups(
    registry: Registry,
    synthetic: Synthetic,
    samples: list[tuple[str, int, PageFingerprint]],
    queries: int,
    stage: Stage,
) -> None:
    rng = random.Random(stage.pages)
    copies = [rng.choice(samples) for _ in range(queries // 2)]
    plan: list[tuple[tuple[str, int] | None, PageFingerprint]] = [
        ((doc_id, number), synthetic.capture(fp)) for doc_id, number, fp in copies
    ]
    plan += [(None, synthetic.page()) for _ in range(queries - len(plan))]
    rng.shuffle(plan)
    for _, fp in plan[:50]:  # warm up connections, scripts and caches
        registry.lookup(fp)
    timings: list[float] = []
    found = matched_unrelated = 0
    for expected, fp in plan:
        started = time.perf_counter()
        matches = registry.lookup(fp)
        timings.append((time.perf_counter() - started) * 1000)
        hits = {(m.doc_id, m.page) for m in matches}
        if expected is None:
            matched_unrelated += bool(matches)
        else:
            found += expected in hits
    timings.sort()
    stage.queries = len(plan)
    stage.p50_ms = statistics.median(timings)
    stage.p95_ms = timings[int(0.95 * (len(timings) - 1))]
    stage.p99_ms = timings[int(0.99 * (len(timings) - 1))]
    stage.copies_found = found / max(1, len(copies))
    stage.unrelated_matched = matched_unrelated / max(1, len(plan) - len(copies))


def run(sizes: list[int], queries: int, seed: int, log: bool = True) -> Report:
    config = load_config()
    folder = Path(tempfile.mkdtemp(prefix="leaksentry-registry-bench-"))
    try:
        client = connect(folder)
        registry = Registry(client, config)
        baseline = _used_memory(client)
        report, counts = register_real(registry, config, seed)
        share = common_share(config, seed)
        report.stats = PageStats(tuple(counts), share, len(counts))
        report.baseline_memory = baseline
        if log:
            print(
                f"real: {report.register_pages} pages in {report.register_s:.1f} s; "
                f"marks per text page {min(counts)}..{max(counts)} "
                f"(median {statistics.median(counts)}), common share {share:.2f}",
                flush=True,
            )
        modulus = config.fingerprint.text.sample_modulus or SAMPLE_MODULUS_FALLBACK
        synthetic = Synthetic(report.stats, modulus, seed)
        samples: list[tuple[str, int, PageFingerprint]] = []
        sample_every = max(1, max(sizes) // (queries * 2))
        registered = report.register_pages
        doc = 0
        for size in sorted(sizes):
            started = time.perf_counter()
            doc = bulk_load(registry, synthetic, size - registered, doc, samples, sample_every)
            registered = size
            stage = Stage(size, time.perf_counter() - started, _used_memory(client))
            measure_lookups(registry, synthetic, samples, queries, stage)
            report.stages.append(stage)
            if log:
                print(_stage_line(stage, report), flush=True)
        return report
    finally:
        stop_embedded(folder)
        shutil.rmtree(folder, ignore_errors=True)


def _used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def _per_page(stage: Stage, report: Report) -> float:
    return (stage.used_memory - report.baseline_memory) / stage.pages


def _stage_line(stage: Stage, report: Report) -> str:
    return (
        f"{stage.pages:>9,} pages: load {stage.load_s:.0f} s, lookup p50 {stage.p50_ms:.1f} ms "
        f"p95 {stage.p95_ms:.1f} ms p99 {stage.p99_ms:.1f} ms, copies found "
        f"{stage.copies_found:.1%}, unrelated matched {stage.unrelated_matched:.1%}, "
        f"{_per_page(stage, report):.0f} B/page"
    )


def render_markdown(report: Report) -> str:
    assert report.stats is not None
    counts = report.stats.mark_counts
    rows = [
        "| registered pages | lookup p50 ms | p95 ms | p99 ms | captures found | unrelated "
        "matched | Redis memory | bytes / page | bulk load pages/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    previous = report.register_pages
    for s in report.stages:
        used = s.used_memory - report.baseline_memory
        added, previous = s.pages - previous, s.pages
        rows.append(
            f"| {s.pages:,} | {s.p50_ms:.1f} | {s.p95_ms:.1f} | {s.p99_ms:.1f} | "
            f"{s.copies_found:.1%} | {s.unrelated_matched:.1%} | {used / 2**20:,.0f} MiB | "
            f"{_per_page(s, report):,.0f} | {added / s.load_s:,.0f} |"
        )
    rate = report.register_pages / report.register_s
    return "\n".join(
        [
            f"Register (read + OCR where needed + fingerprint + write), {report.register_files} "
            f"real files, {report.register_pages} pages: **{rate:.1f} pages/s** on one core.",
            "",
            *rows,
            "",
            f"{max(s.queries for s in report.stages):,} lookups per size, half noisy captures "
            "of registered pages (a 35-100% window of the page, 15% of marks lost, 10% "
            "misread, scaled, turned, shifted), half unrelated pages. Synthetic pages have "
            f"{min(counts)}-{max(counts)} text marks (median {statistics.median(counts):.0f}, "
            f"from {report.stats.real_pages} real pages), {report.stats.common_share:.0%} of "
            "them from a Zipf vocabulary of common shingles; 5% are text-poor (image index). "
            "Memory: Redis `used_memory` growth per page (records, postings, keys).",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2026)
    add_readme_flag(parser)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    report = run(sizes, args.queries, args.seed)
    return publish("registry_scale", render_markdown(report), args)


if __name__ == "__main__":
    raise SystemExit(main())
