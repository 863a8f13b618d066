"""Per-stage timings and character accuracy of the OCR engines on synthetic pages and photos.

    python -m benchmarks.ocr_stages            # one thread, as a scan worker runs

Pages are drawn by `tests/vision_synth.py` (GB/T 9704 layout, Noto CJK fonts), photographed
at 12 MP (perspective, desk texture, shading, optional warm lamp light, JPEG) and then
reduced to the extractor's decode size, so decoding is not timed. Stages: page finding and
straightening, orientation, deskew, detection, recognition, and the two red detectors.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np

from detectors.config import OcrSettings, ScanConfig, load_config
from detectors.context import PageContext
from detectors.model import Page
from detectors.ocr import create_engine
from detectors.ocr.base import OcrEngine
from detectors.ocr.layout import plan_recognition
from detectors.ocr.ppocr import PpOcrEngine
from detectors.rules import red_header, seal
from detectors.vision.capture import (
    estimate_skew,
    find_page,
    rotate_small,
    straighten,
)
from detectors.vision.geometry import rotate_quarter
from tests.vision_synth import char_accuracy, downscale, photograph, render_official_page

T = TypeVar("T")


@dataclass
class Sample:
    name: str
    image: np.ndarray
    truth: list[str]
    capture: bool


NOT_IN_TOTAL = {"det"}
"""Timed on its own for the table; `read` runs it again."""


@dataclass
class Run:
    stages: dict[str, list[float]] = field(default_factory=dict)
    """CPU seconds (this process and its children: Tesseract) per call of each stage."""
    totals: list[float] = field(default_factory=list)
    """CPU seconds per page, all stages."""
    accuracy: dict[str, float] = field(default_factory=dict)
    chars: dict[str, int] = field(default_factory=dict)

    def time(self, stage: str, fn: Callable[[], T]) -> T:
        """Run `fn` and charge its CPU time to `stage`.

        CPU time, not wall time: with one thread it is what a dedicated core would take,
        and it does not change with what else runs on the machine.
        """
        started = _cpu()
        result = fn()
        spent = _cpu() - started
        self.stages.setdefault(stage, []).append(spent)
        if stage not in NOT_IN_TOTAL:
            self.totals[-1] += spent
        return result


def _cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def samples(config: ScanConfig, photos: int) -> list[Sample]:
    decode = config.scan.vision.decode_max_side
    out = [
        Sample("render", render_official_page(1240).image, render_official_page(1240).lines, False)
    ]
    dense = render_official_page(2480, body_lines=26, chars_per_line=32)
    out.append(Sample("render-dense", downscale(dense.image, 1600), dense.lines, False))
    for i in range(photos):
        warm, turn = i % 2 == 1, (0, 1, 0, 2, 0, 3)[i % 6]
        shot, _ = photograph(dense.image, (3000, 4000), seed=i, warm=warm, rotate_k=turn)
        out.append(
            Sample(
                f"photo{i}{'-warm' if warm else ''}-k{turn}",
                downscale(shot, decode),
                dense.lines,
                True,
            )
        )
    return out


def run_engine(engine: OcrEngine, config: ScanConfig, ocr: OcrSettings, items: list[Sample]) -> Run:
    run = Run()
    for sample in items:
        run.totals.append(0.0)
        image = _prepare(run, engine, config, sample) if sample.capture else sample.image
        if isinstance(engine, PpOcrEngine):
            boxes = run.time("det", partial(engine.detect, image, ocr.det_max_side))
            plan = plan_recognition(boxes, image.shape[0], ocr)
            run.chars[sample.name] = round(sum(line.box.chars for line in plan))
        lines = run.time("read (det+rec)", partial(engine.read, image))
        ctx = PageContext(Page("bench", 1, lines=lines, image=image), config)
        run.time("red mask", partial(getattr, ctx, "red_mask"))
        run.time("red_header+seal", partial(_red_rules, ctx))
        run.accuracy[sample.name] = char_accuracy(sample.truth, [line.text for line in lines])
    return run


def _prepare(run: Run, engine: OcrEngine, config: ScanConfig, sample: Sample) -> np.ndarray:
    """`prepare_capture`, stage by stage."""
    vision = config.scan.vision
    image = sample.image
    quad = run.time("find page", lambda: find_page(image, vision))
    if quad is not None:
        found = quad
        image = run.time("straighten", lambda: straighten(image, found, vision.page_max_side))
    upright = image
    rotation = run.time("orientation", lambda: engine.orientation(upright))
    image = rotate_quarter(image, rotation)
    turned = image
    skew = run.time("skew estimate", lambda: estimate_skew(turned))
    if vision.min_skew_degrees <= abs(skew) <= vision.max_skew_degrees:
        image = run.time("deskew", lambda: rotate_small(turned, skew))
    return image


def _red_rules(ctx: PageContext) -> list[object]:
    return [*red_header.detect(ctx), *seal.detect(ctx)]


def report(name: str, run: Run) -> None:
    print(f"\n## {name}")
    print("| stage (CPU ms) | n | p50 | max |")
    print("|---|---|---|---|")
    for stage, times in [*run.stages.items(), ("page total", run.totals)]:
        ms = [t * 1000 for t in times]
        print(f"| {stage} | {len(ms)} | {statistics.median(ms):.0f} | {max(ms):.0f} |")
    print("\n| page | char accuracy | est. chars detected |")
    print("|---|---|---|")
    for page, acc in run.accuracy.items():
        print(f"| {page} | {acc:.3f} | {run.chars.get(page, '')} |")


def measure(name: str, ocr: OcrSettings, folder: str) -> tuple[Run, float]:
    """One engine in a fresh process over the saved samples: its run and its peak RSS (MiB)."""
    config = load_config()
    items = [_load(path) for path in sorted(Path(folder).glob("*.npz"))]
    engine = create_engine(ocr, name)
    engine.read(items[0].image)  # warm-up: the first inference allocates
    run = run_engine(engine, config, ocr, items)
    return run, _peak_rss_mib()


def _peak_rss_mib() -> float:
    """This process's peak RSS. Not `ru_maxrss`: that keeps the forking parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _save(sample: Sample, folder: Path, index: int) -> None:
    np.savez(
        folder / f"{index:02d}.npz",
        image=sample.image,
        truth=np.array(sample.truth),
        name=sample.name,
        capture=sample.capture,
    )


def _load(path: Path) -> Sample:
    data = np.load(path)
    return Sample(
        str(data["name"]), data["image"], [str(t) for t in data["truth"]], bool(data["capture"])
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=int, default=6)
    parser.add_argument("--engines", default="rapidocr,tesseract")
    parser.add_argument("--tesseract-lang", default=None)
    parser.add_argument("--budget", type=int, default=None)
    args = parser.parse_args()
    config = load_config()
    update: dict[str, object] = {}
    if args.tesseract_lang:
        update["tesseract_lang"] = args.tesseract_lang
    if args.budget:
        update["rec_char_budget"] = args.budget
    ocr = config.scan.ocr.model_copy(update=update)
    with tempfile.TemporaryDirectory() as folder:
        for i, sample in enumerate(samples(config, args.photos)):
            _save(sample, Path(folder), i)
        for name in args.engines.split(","):
            # A fresh process per engine: peak RSS is a worker's, not the page synthesis's.
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                run, rss = pool.submit(measure, name, ocr, folder).result()
            report(f"{name} ({ocr.threads} thread, peak RSS {rss:.0f} MiB)", run)


if __name__ == "__main__":
    main()
