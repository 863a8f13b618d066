"""Where a scan's time goes, stage by stage, next to plain full-page RapidOCR on the same files.

    python -m benchmarks.profile [--per-kind 4] [--corpus DIR] [--no-readme]

Pinned to one core with one onnxruntime thread, as a scan worker runs. Pictures are taken
evenly from the generated corpus (`tests.corpus`, cached under benchmarks/out/corpus2-*):
phone photos, screenshots and PDFs, plus one 12-MP phone photo drawn by `tests.vision_synth`.
Each picture is scanned by the real `Scanner` (with a registry in an embedded Redis, so the
lookup runs) and read by plain `RapidOCR()` with its defaults, alternately, so that load from
other processes on the machine hits both alike. Stages are timed by wrapping the functions
the scan calls (decode, page finding, orientation, deskew, detection, recognition, detectors,
registry lookup); the scan itself is unchanged.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pymupdf
from PIL import Image

import detectors.vision.capture as capture_module
from benchmarks.readme import update_readme
from bot.redis_server import REDIS_URL_ENV, connect, stop_embedded
from bot.registry import Registry
from detectors import Scanner, load_config

scan_module = importlib.import_module("detectors.scan")
"""By import path: `detectors.scan` the attribute is the `scan` function."""
OUT = Path(__file__).resolve().parent / "out"
GROUPS = {
    "phone photo": ("phone_photo", "monitor_photo", "far_shot"),
    "screenshot": ("digital", "website", "oa_viewer", "wechat_preview"),
    "pdf": ("pdf_text", "scanned_pdf"),
}
PLAIN_PDF_DPI = 144
"""Plain OCR reads a PDF as its pages rendered at this resolution."""


@dataclass
class Clock:
    """Exclusive CPU time per stage: a stage called inside another is not charged to both."""

    spent: dict[str, float] = field(default_factory=dict)
    in_orientation: bool = False
    """Set while orientation runs: its detection pass is charged apart."""
    _stack: list[list[float]] = field(default_factory=list)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self._stack.append([time.process_time(), 0.0])
        try:
            yield
        finally:
            started, nested = self._stack.pop()
            total = time.process_time() - started
            self.spent[name] = self.spent.get(name, 0.0) + total - nested
            if self._stack:
                self._stack[-1][1] += total

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.stage(name):
                return fn(*args, **kwargs)

        return timed


def instrument(scanner: Scanner, clock: Clock) -> None:
    """Wrap the functions the scan calls so that each charges its time to its stage."""
    engine: Any = scanner.engine
    detect, orientation = engine.detect, engine.orientation

    def timed_detect(*args: Any, **kwargs: Any) -> Any:
        # Orientation runs a detection pass of its own, at a smaller size.
        name = "orientation: detection" if clock.in_orientation else "detection"
        with clock.stage(name):
            return detect(*args, **kwargs)

    def timed_orientation(*args: Any, **kwargs: Any) -> Any:
        clock.in_orientation = True
        try:
            with clock.stage("orientation: direction"):
                return orientation(*args, **kwargs)
        finally:
            clock.in_orientation = False

    engine.detect, engine.orientation = timed_detect, timed_orientation
    engine.read = clock.wrap("recognition", engine.read)
    for name, stage in (
        ("find_page", "page finding"),
        ("straighten", "page finding"),
        ("estimate_skew", "deskew"),
        ("rotate_small", "deskew"),
    ):
        setattr(capture_module, name, clock.wrap(stage, getattr(capture_module, name)))
    scanner.detect_page = clock.wrap("detectors", scanner.detect_page)  # type: ignore[method-assign]
    scanner.known_findings = clock.wrap("registry lookup", scanner.known_findings)  # type: ignore[method-assign]
    extract = scan_module.extract_pages

    def timed_extract(*args: Any, **kwargs: Any) -> Iterator[Any]:
        pages = extract(*args, **kwargs)
        while True:
            with clock.stage("decode"):
                page = next(pages, None)
            if page is None:
                return
            yield page

    scan_module.extract_pages = timed_extract  # type: ignore[assignment]


def pictures(corpus: Path, per_kind: int) -> list[tuple[str, Path]]:
    """`per_kind` files of each group, spread evenly over the manifest."""
    items = [json.loads(line) for line in (corpus / "manifest.jsonl").open(encoding="utf-8")]
    chosen = []
    for group, kinds in GROUPS.items():
        paths = [corpus / i["path"] for i in items if i["kind"] in kinds]
        step = max(1, len(paths) // per_kind)
        chosen += [(group, p) for p in paths[::step][:per_kind]]
    return chosen


def twelve_mp_photo(folder: Path) -> Path:
    from tests.vision_synth import photograph, render_official_page

    page = render_official_page(2480, body_lines=26, chars_per_line=32)
    shot, _ = photograph(page.image, (3000, 4000), seed=7)
    path = folder / "photo-12mp.jpg"
    Image.fromarray(shot).save(path, quality=90)
    return path


def plain_images(path: Path) -> list[Any]:
    """What plain OCR is given: the file itself, or a PDF's pages rendered."""
    if path.suffix != ".pdf":
        return [path.read_bytes()]
    with pymupdf.open(path) as doc:
        return [
            np.asarray(Image.open(io.BytesIO(p.get_pixmap(dpi=PLAIN_PDF_DPI).tobytes("png"))))
            for p in doc
        ]


def _cpu_ms(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.process_time()
    result = fn()
    return (time.process_time() - started) * 1000, result


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def render(rows: dict[str, dict[str, list[float]]], shares: dict[str, float], mp12: float) -> str:
    lines = [
        "| pictures | n | leaksentry p50 / p95 (ms) | plain RapidOCR p50 / p95 (ms) "
        "| ratio p50 / p95 |",
        "|---|---|---|---|---|",
    ]
    for group, r in rows.items():
        ours, plain = r["ours"], r["plain"]
        lines.append(
            f"| {group} | {len(ours)} | {pct(ours, 0.5):.0f} / {pct(ours, 0.95):.0f} | "
            f"{pct(plain, 0.5):.0f} / {pct(plain, 0.95):.0f} | "
            f"{pct(ours, 0.5) / pct(plain, 0.5):.2f} / {pct(ours, 0.95) / pct(plain, 0.95):.2f} |"
        )
    lines += ["", f"12-MP phone photo, one core: p50 {mp12:.0f} ms.", ""]
    lines += ["| stage | share of leaksentry's time |", "|---|---|"]
    total = sum(shares.values())
    for stage, spent in sorted(shares.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {stage} | {spent / total:.1%} |")
    return "\n".join(lines)


def plain_ocr(engine: str) -> Any:
    """The scanner's engine as its package runs it, with the package's own defaults and one
    thread: what reading the whole picture costs without our budget."""
    if engine == "rapidocr3":
        from rapidocr import RapidOCR as RapidOCR3

        from detectors.ocr.rapid3 import model_paths

        logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        paths = model_paths()  # the wheel's PP-OCRv6 files: the package would download others
        return RapidOCR3(
            params={
                **{f"{section}.model_path": str(path) for section, path in paths.items()},
                "EngineConfig.onnxruntime.intra_op_num_threads": 1,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-kind", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="timings of the 12-MP photo")
    parser.add_argument("--corpus", type=Path, default=OUT / "corpus2-2026-200-100-fandol")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    config = load_config()
    plain = plain_ocr(config.scan.ocr.engine)
    os.environ.pop(REDIS_URL_ENV, None)  # a dedicated embedded server, never a shared one
    with tempfile.TemporaryDirectory(prefix="leaksentry-profile-") as tmp:
        redis_dir = Path(tmp) / "redis"
        try:
            scanner = Scanner(config, known=Registry(connect(redis_dir), config))
            clock = Clock()
            instrument(scanner, clock)
            items = [*pictures(args.corpus, args.per_kind)]
            mp12 = twelve_mp_photo(Path(tmp))
            items += [("12-MP photo", mp12)] * args.repeats
            rows: dict[str, dict[str, list[float]]] = {}
            scanner.scan(items[0][1].read_bytes(), items[0][1].name)  # warm-up
            clock.spent.clear()
            for group, path in items:
                data = path.read_bytes()
                ours, _ = _cpu_ms(lambda: scanner.scan(data, path.name))  # noqa: B023
                theirs, _ = _cpu_ms(lambda: [plain(i) for i in plain_images(path)])  # noqa: B023
                row = rows.setdefault(group, {"ours": [], "plain": []})
                row["ours"].append(ours)
                row["plain"].append(theirs)
                print(f"{group:12} {path.name:45} {ours:7.0f} {theirs:7.0f} ms", flush=True)
        finally:
            stop_embedded(redis_dir)
    mp12_p50 = statistics.median(rows.pop("12-MP photo")["ours"])
    everything = {
        "ours": [t for r in rows.values() for t in r["ours"]],
        "plain": [t for r in rows.values() for t in r["plain"]],
    }
    rows["all"] = everything
    table = render(rows, clock.spent, mp12_p50)
    print(table)
    if not args.no_readme:
        update_readme("profile", table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
