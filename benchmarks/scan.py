"""Scanner benchmark: detection quality on the seeded corpus and speed per OCR engine.

    python -m benchmarks.scan            # full run: numbers into README.md and results JSON
    python -m benchmarks.scan --model 2  # the second page model (tests/corpus2), per form × capture

Quality: precision and recall per detector over the corpus (positives are re-photographed
pages and files, negatives are hard negatives that must stay clean), and the false-alert
rate on the hard negatives. Speed: p50/p95 latency per file on one core, files/s on all
cores, and peak RSS per worker process; plus p50/p95 on true 12-megapixel phone photos.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import scan_model2
from benchmarks.fonts import HELD_OUT_HELP, held_out_fonts
from benchmarks.readme import update_readme
from detectors import ScanConfig, Scanner, load_config
from detectors.policy import fired
from tests.corpus import DETECTORS, generate

OUT = Path(__file__).resolve().parent / "out"


@dataclass
class ItemResult:
    path: str
    expect: dict[str, bool]
    uncertain: list[str]
    negative: bool
    fired: list[str]
    verdict: str
    error: str | None
    ms: int


@dataclass
class EngineRun:
    engine: str
    items: list[ItemResult] = field(default_factory=list)
    wall_s: float = 0.0
    workers: int = 1
    peak_rss_mb: float = 0.0


_scanner: Scanner | None = None  # one per worker process


def _init(engine: str, config: ScanConfig) -> None:
    global _scanner
    _scanner = Scanner(config, engine_name=engine)
    _scanner.engine  # load the models before the clock starts  # noqa: B018


def _scan_one(item: dict[str, Any]) -> tuple[ItemResult, float]:
    assert _scanner is not None
    return scan_item(_scanner, item), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scan_item(scanner: Scanner, item: dict[str, Any]) -> ItemResult:
    """One corpus item scanned: what fired, the verdict and the time it took."""
    report = scanner.scan_path(item["path"])
    names = fired(report.findings, scanner.config.policy.min_confidence)
    return ItemResult(
        path=item["path"],
        expect=item["expect"],
        uncertain=item.get("uncertain", []),
        negative=item["negative"],
        fired=sorted(n for n in names if ":" not in n),
        verdict=report.verdict.label,
        error=report.error,
        ms=report.timings_ms["total"],
    )


def run_engine(engine: str, items: list[dict[str, Any]], workers: int) -> EngineRun:
    config = load_config()
    run = EngineRun(engine=engine, workers=workers)
    started = time.perf_counter()
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(engine, config)) as pool:
        for result, rss in pool.map(_scan_one, items, chunksize=1):
            run.items.append(result)
            run.peak_rss_mb = max(run.peak_rss_mb, rss)
    run.wall_s = time.perf_counter() - started
    return run


def quality(run: EngineRun) -> dict[str, Any]:
    per_detector = {}
    for name in DETECTORS:
        # A detector the corpus marks uncertain on an item (a seal half cut off by the crop)
        # counts neither as a hit nor as a false alarm there.
        judged = [r for r in run.items if name not in r.uncertain]
        tp = sum(1 for r in judged if r.expect.get(name) and name in r.fired)
        fn = sum(1 for r in judged if r.expect.get(name) and name not in r.fired)
        fp = sum(1 for r in judged if not r.expect.get(name) and name in r.fired)
        per_detector[name] = {
            "support": tp + fn,
            "recall": round(tp / (tp + fn), 3) if tp + fn else None,
            "precision": round(tp / (tp + fp), 3) if tp + fp else None,
        }
    negatives = [r for r in run.items if r.negative]
    alerts = [r for r in negatives if r.verdict != "clean"]
    positives = [r for r in run.items if any(r.expect.values())]
    return {
        "detectors": per_detector,
        "hard_negatives": len(negatives),
        "false_alert_rate": round(len(alerts) / len(negatives), 4) if negatives else None,
        "false_alerts": [r.path for r in alerts],
        "positives": len(positives),
        "errors": [f"{r.path}: {r.error}" for r in run.items if r.error],
    }


def speed(run: EngineRun) -> dict[str, Any]:
    ms = sorted(r.ms for r in run.items)
    return {
        "files": len(ms),
        "p50_ms": round(statistics.median(ms)),
        "p95_ms": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))]),
        "files_per_s": round(len(ms) / run.wall_s, 2),
        "workers": run.workers,
        "peak_rss_mb": round(run.peak_rss_mb),
    }


def misses(run: EngineRun) -> list[str]:
    """Items where an expected detector stayed silent: what to look at first."""
    out = []
    for r in run.items:
        judged = [n for n in DETECTORS if n not in r.uncertain]
        missed = [n for n in judged if r.expect.get(n) and n not in r.fired]
        extra = [n for n in judged if not r.expect.get(n) and n in r.fired]
        if missed or extra:
            out.append(f"{r.path}: missed={missed} extra={extra} verdict={r.verdict}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--positives", type=int, default=None, help="default 270 (model 2: 200)")
    parser.add_argument("--negatives", type=int, default=None, help="default 160 (model 2: 100)")
    parser.add_argument("--photos-12mp", type=int, default=30)
    parser.add_argument(
        "--engines", default=None, help="default rapidocr3,tesseract (model 2: rapidocr3)"
    )
    parser.add_argument(
        "--model",
        type=int,
        choices=(1, 2),
        default=1,
        help="page model: 1 = tests/corpus (default), 2 = tests/corpus2, scored per form × capture",
    )
    parser.add_argument(
        "--tesseract-limit", type=int, default=120, help="items for the slow engine"
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--held-out-fonts", type=Path, metavar="DIR", help=HELD_OUT_HELP)
    parser.add_argument(
        "--compare",
        metavar="ENGINES",
        help="engines side by side in one process on one core (benchmarks/engines.py), "
        "e.g. rapidocr,rapidocr3; README.md is left alone",
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="an evenly spread subset of this many items"
    )
    args = parser.parse_args(argv)
    if args.compare:
        return _compare(args)
    if args.model == 2:
        return _model2(args)
    args.positives = 270 if args.positives is None else args.positives
    args.negatives = 160 if args.negatives is None else args.negatives
    args.engines = args.engines or "rapidocr3,tesseract"

    fonts = held_out_fonts(args.held_out_fonts)
    name = f"corpus-{args.seed}-{args.positives}-{args.negatives}{fonts}"
    corpus = _corpus(OUT / name, args.seed, args.positives, args.negatives)
    photos_name = f"photos12-{args.seed + 1}-{args.photos_12mp}{fonts}"
    photos = _corpus(OUT / photos_name, args.seed + 1, args.photos_12mp, 0, 12.0)
    results: dict[str, Any] = {"corpus": {"seed": args.seed, "items": len(corpus)}, "engines": {}}
    for engine in args.engines.split(","):
        items = corpus if engine != "tesseract" else _spread(corpus, args.tesseract_limit)
        run = run_engine(engine, items, args.workers)
        (OUT / f"misses-{engine}.txt").write_text("\n".join(misses(run)) + "\n")
        print(json.dumps({engine: quality(run)}, ensure_ascii=False), flush=True)
        one_core = run_engine(engine, photos, 1)
        results["engines"][engine] = {
            "quality": quality(run),
            "corpus_speed": speed(run),
            "photo_12mp_one_core": speed(one_core),
        }
        print(json.dumps({engine: results["engines"][engine]}, ensure_ascii=False, indent=1))
    (OUT / "scan-results.json").write_text(json.dumps(results, ensure_ascii=False, indent=1))
    if not (args.no_readme or fonts):
        update_readme("scan", render_markdown(results))
    return 0


def _compare(args: argparse.Namespace) -> int:
    if args.model == 2:
        items = _model2_items(args)
        what = (
            f"Second page model, seed {args.seed} (`python -m tests.corpus2`, generator's numbers)"
        )
    else:
        positives = 270 if args.positives is None else args.positives
        negatives = 160 if args.negatives is None else args.negatives
        name = f"corpus-{args.seed}-{positives}-{negatives}"
        items = _corpus(OUT / name, args.seed, positives, negatives)
        what = f"First page model, seed {args.seed} (`python -m tests.corpus`)"
    total = len(items)
    if args.limit:
        items = _spread(items, args.limit)
    note = (
        f"{what}: {len(items)} of {total} items, evenly spread; every engine in one process "
        "on one core, item by item in turn."
    )
    from benchmarks import engines  # it imports this module

    print(engines.compare(args.compare.split(","), items, OUT, args.model, note))
    return 0


def _model2_items(args: argparse.Namespace) -> list[dict[str, Any]]:
    positives = scan_model2.POSITIVES if args.positives is None else args.positives
    negatives = scan_model2.NEGATIVES if args.negatives is None else args.negatives
    return scan_model2.corpus(OUT, args.seed, positives, negatives)


def _model2(args: argparse.Namespace) -> int:
    items = _model2_items(args)
    if args.limit:
        items = _spread(items, args.limit)
    for engine in (args.engines or "rapidocr3").split(","):
        run = run_engine(engine, items, args.workers)
        rows = [
            dict(item, fired=r.fired, verdict=r.verdict, error=r.error, ms=r.ms)
            for item, r in zip(items, run.items, strict=True)
        ]
        print(scan_model2.report(rows, OUT, args.seed, engine, readme=not args.no_readme))
    return 0


def _corpus(
    folder: Path, seed: int, positives: int, negatives: int, megapixels: float | None = None
) -> list[dict[str, Any]]:
    manifest = folder / "manifest.jsonl"
    if not manifest.exists():
        generate(
            folder,
            seed=seed,
            positives=positives,
            negatives=negatives,
            files=megapixels is None,
            photo_megapixels=megapixels,
            workers=os.cpu_count() or 1,
        )
    items = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    for item in items:
        item["path"] = str(folder / item["path"])
    return items


def _spread(items: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """An evenly spread subset, so that the slow engine sees every kind of item."""
    if len(items) <= limit:
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def render_markdown(results: dict[str, Any]) -> str:
    lines = [
        f"Corpus: seed {results['corpus']['seed']}, {results['corpus']['items']} items "
        "(generated by `python -m tests.corpus`).",
        "",
        "| engine | files | p50 ms | p95 ms | files/s (all cores) | peak RSS MB | "
        "12-MP photo p50 / p95 ms (1 core) | false alerts on hard negatives |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for engine, r in results["engines"].items():
        s, p, q = r["corpus_speed"], r["photo_12mp_one_core"], r["quality"]
        rate = q["false_alert_rate"]
        lines.append(
            f"| {engine} | {s['files']} | {s['p50_ms']} | {s['p95_ms']} | {s['files_per_s']} | "
            f"{max(s['peak_rss_mb'], p['peak_rss_mb'])} | {p['p50_ms']} / {p['p95_ms']} | "
            f"{'n/a' if rate is None else f'{rate:.1%}'} of {q['hard_negatives']} |"
        )
    lines += [
        "",
        "Speed columns: p50/p95 per file with every core busy (one OCR thread per worker);",
        "the 12-MP column scans true 4000x3000 phone photos one at a time on one core. The slow",
        "engine runs on an evenly spread subset; `support` counts the default engine's items.",
        "",
        "| detector | "
        + " | ".join(f"{e} recall | {e} precision" for e in results["engines"])
        + " | support |",
    ]
    lines.append("|---|" + "---|---|" * len(results["engines"]) + "---|")
    for name in DETECTORS:
        cells = []
        support = 0
        for r in results["engines"].values():
            d = r["quality"]["detectors"][name]
            cells += [_fmt(d["recall"]), _fmt(d["precision"])]
            support = max(support, d["support"])
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {support} |")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    sys.exit(main())
