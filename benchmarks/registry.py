"""Registry benchmark: are captures of registered documents recognised, and nothing else?

    python -m benchmarks.registry [--seed 2026] [--workers 2]

Generates the registry corpus (`tests.corpus.registry`, cached under benchmarks/out), starts a
dedicated embedded Redis in a temporary directory, registers every original, then scans every
capture, sibling and negative with `Scanner(config, known=registry)` in worker processes (each
with its own Redis client, Scanner and one OCR thread). Measures top-1 doc_id accuracy on
captures (overall and per capture kind), false matches on same-template siblings and on
negatives, which fingerprint methods fired, register throughput and scan latency. Writes a
table into README.md, the results to benchmarks/out/registry-results-SEED.json and the failures
to benchmarks/out/registry-failures-SEED.txt.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.fonts import HELD_OUT_HELP, held_out_fonts
from benchmarks.readme import update_readme
from bot.redis_server import REDIS_URL_ENV, connect, stop_embedded
from bot.registry import Registry
from detectors import ScanConfig, Scanner, load_config
from detectors.fingerprint.page import registration_config
from detectors.registry import KNOWN_DOCUMENT
from tests.corpus.registry import (
    MANIFEST,
    RegistryItem,
    generate_registry_corpus,
    level,
    load_registry_manifest,
)

OUT = Path(__file__).resolve().parent / "out"


@dataclass
class ScanResult:
    path: str
    role: str
    kind: str
    expected: str | None
    got: str | None
    """doc_id of the most confident known_document finding, or None."""
    score: float | None
    methods: list[str]
    matches: int
    """How many known_document findings the scan made."""
    verdict: str
    error: str | None
    total_ms: int
    lookup_ms: int
    page: int | None = None
    family: int | None = None
    source: str = ""

    @property
    def correct(self) -> bool:
        return self.got == self.expected


# --- corpus and registration ----------------------------------------------------------------


def corpus(
    seed: int,
    originals: int,
    siblings: int,
    negatives: int,
    unregistered: int,
    workers: int,
    suffix: str = "",
) -> tuple[Path, list[RegistryItem]]:
    name = f"registry-{seed}-{originals}-{siblings}-{negatives}-{unregistered}{suffix}"
    folder = OUT / name
    if not (folder / MANIFEST).exists():
        generate_registry_corpus(
            folder,
            seed,
            originals,
            siblings,
            workers,
            negatives=negatives,
            unregistered_docs=unregistered,
        )
    return folder, load_registry_manifest(folder)


def register_all(
    registry: Registry, config: ScanConfig, folder: Path, originals: Iterable[RegistryItem]
) -> dict[str, Any]:
    """Registers the originals one after another with one reader (models loaded before the
    clock starts); pages/s over the whole run."""
    reader = Scanner(registration_config(config))
    reader.engine  # noqa: B018
    pages, per_doc_ms, errors = 0, [], []
    started = time.perf_counter()
    for item in originals:
        t0 = time.perf_counter()
        try:
            document = registry.register(
                (folder / item.path).read_bytes(),
                Path(item.path).name,
                doc_id=item.doc_id,
                title=item.title,
                level=level(item),
                scanner=reader,
            )
        except Exception as exc:  # a registration that fails is a result to report, not a crash
            errors.append(f"{item.path}: {type(exc).__name__}: {exc}")
            continue
        per_doc_ms.append((time.perf_counter() - t0) * 1000)
        pages += document.pages
    wall = time.perf_counter() - started
    return {
        "documents": len(per_doc_ms),
        "pages": pages,
        "wall_s": round(wall, 2),
        "pages_per_s": round(pages / wall, 2) if wall else None,
        "p50_ms_per_doc": round(statistics.median(per_doc_ms)) if per_doc_ms else None,
        "errors": errors,
    }


# --- scanning in worker processes -----------------------------------------------------------

_scanner: Scanner | None = None  # one per worker process


def _init(redis_dir: str, config: ScanConfig) -> None:
    global _scanner
    registry = Registry(connect(Path(redis_dir)), config)
    _scanner = Scanner(config, known=registry)
    _scanner.engine  # load the models before the clock starts  # noqa: B018


def _scan_one(job: tuple[str, dict[str, Any]]) -> ScanResult:
    assert _scanner is not None
    path, item = job
    report = _scanner.scan_path(path)
    known = [f for f in report.findings if f.detector == KNOWN_DOCUMENT]
    top = max(known, key=lambda f: f.confidence, default=None)
    return ScanResult(
        path=item["path"],
        role=item["role"],
        kind=item["kind"],
        expected=item["doc_id"],
        got=None if top is None else str(top.details["doc_id"]),
        score=None if top is None else round(top.confidence, 3),
        methods=[] if top is None else list(top.details.get("methods", [])),
        matches=len(known),
        verdict=report.verdict.label,
        error=report.error,
        total_ms=report.timings_ms["total"],
        lookup_ms=report.timings_ms.get("lookup", 0),
        page=item["page"],
        family=item["family"],
        source=item["facts"].get("source", ""),
    )


def scan_all(
    redis_dir: Path, config: ScanConfig, folder: Path, items: list[RegistryItem], workers: int
) -> tuple[list[ScanResult], float]:
    jobs = [(str(folder / item.path), item.to_json()) for item in items]
    started = time.perf_counter()
    # Spawned, not forked: this process already runs OCR sessions and a Redis client.
    with ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init,
        initargs=(str(redis_dir), config),
    ) as pool:
        results = list(pool.map(_scan_one, jobs, chunksize=1))
    return results, time.perf_counter() - started


# --- measures -------------------------------------------------------------------------------


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def accuracy(results: list[ScanResult]) -> dict[str, Any]:
    right = sum(r.correct for r in results)
    return {
        "n": len(results),
        "correct": right,
        "accuracy": _rate(right, len(results)),
        "missed": sum(r.got is None for r in results),
        "wrong": sum(r.got is not None and not r.correct for r in results),
    }


def false_matches(results: list[ScanResult]) -> dict[str, Any]:
    matched = [r for r in results if r.matches]
    return {
        "n": len(results),
        "false_matches": len(matched),
        "rate": _rate(len(matched), len(results)),
    }


def _percentile(values: list[int], q: float) -> int | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None


def measure(results: list[ScanResult]) -> dict[str, Any]:
    captures = [r for r in results if r.role == "capture"]
    siblings = [r for r in results if r.role == "sibling"]
    negatives = [r for r in results if r.role == "negative"]
    kinds = sorted({r.kind for r in captures})
    methods = Counter(m for r in captures if r.correct for m in r.methods)
    combos = Counter("+".join(sorted(r.methods)) for r in captures if r.correct)
    return {
        "captures": accuracy(captures),
        "captures_by_kind": {k: accuracy([r for r in captures if r.kind == k]) for k in kinds},
        "captures_later_pages": accuracy([r for r in captures if (r.page or 1) > 1]),
        "siblings": false_matches(siblings),
        "siblings_by_kind": {
            k: false_matches([r for r in siblings if r.kind == k])
            for k in sorted({r.kind for r in siblings})
        },
        "negatives": false_matches(negatives),
        "negatives_by_source": {
            s: false_matches([r for r in negatives if r.source == s])
            for s in sorted({r.source for r in negatives})
        },
        "methods": dict(methods.most_common()),
        "method_combinations": dict(combos.most_common()),
        "scan_ms": {
            "p50": _percentile([r.total_ms for r in results], 0.5),
            "p95": _percentile([r.total_ms for r in results], 0.95),
        },
        "lookup_ms": {
            "p50": _percentile([r.lookup_ms for r in results], 0.5),
            "p95": _percentile([r.lookup_ms for r in results], 0.95),
        },
        "errors": [f"{r.path}: {r.error}" for r in results if r.error],
    }


def failures(results: list[ScanResult]) -> list[str]:
    """Captures not recognised as their original, and anything else that matched."""
    out = []
    for r in results:
        if r.role == "capture" and not r.correct:
            out.append(
                f"{r.path}: expected {r.expected} p{r.page}, got {r.got} "
                f"(score {r.score}, methods {r.methods})"
            )
        elif r.role != "capture" and r.matches:
            out.append(
                f"{r.path} [{r.role}]: expected no match, got {r.got} "
                f"(score {r.score}, methods {r.methods})"
            )
    return out


def render_markdown(summary: dict[str, Any]) -> str:
    m, reg, c = summary["measures"], summary["register"], summary["corpus"]
    lines = [
        f"Corpus: seed {c['seed']}, {c['originals']} registered originals of {c['families']} "
        f"organs, {m['captures']['n']} captures of them, {m['siblings']['n']} captures and files "
        f"of {c['siblings']} unregistered same-template siblings, {m['negatives']['n']} negatives "
        "(generated by `python -m tests.corpus.registry`).",
        "",
        "| capture kind | captures | top-1 doc_id accuracy | missed | wrong document |",
        "|---|---|---|---|---|",
    ]
    rows = [*m["captures_by_kind"].items(), ("later pages", m["captures_later_pages"])]
    rows.append(("**all captures**", m["captures"]))
    for kind, a in rows:
        lines.append(
            f"| {kind} | {a['n']} | {_fmt(a['accuracy'])} | {a['missed']} | {a['wrong']} |"
        )
    lines += ["", "| must not match | items | false matches | rate |", "|---|---|---|---|"]
    rows = [("same-template siblings", m["siblings"])]
    rows += [(f"negatives: {s}", v) for s, v in m["negatives_by_source"].items()]
    for name, f in rows:
        lines.append(f"| {name} | {f['n']} | {f['false_matches']} | {_fmt(f['rate'])} |")
    combos = ", ".join(f"{k or 'none'} {v}" for k, v in m["method_combinations"].items())
    lines += [
        "",
        f"Methods that agreed on the correct matches: {combos or 'none'}.",
        f"Register: {reg['pages']} pages of {reg['documents']} documents at "
        f"{reg['pages_per_s']} pages/s (p50 {reg['p50_ms_per_doc']} ms per document). "
        f"Scan with lookup, {summary['workers']} workers, one OCR thread each: "
        f"p50 {m['scan_ms']['p50']} ms, p95 {m['scan_ms']['p95']} ms per file; "
        f"lookup p50 {m['lookup_ms']['p50']} ms, p95 {m['lookup_ms']['p95']} ms.",
    ]
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--originals", type=int, default=32)
    parser.add_argument("--siblings", type=int, default=32)
    parser.add_argument("--negatives", type=int, default=52)
    parser.add_argument("--unregistered", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--held-out-fonts", type=Path, metavar="DIR", help=HELD_OUT_HELP)
    args = parser.parse_args(argv)

    fonts = held_out_fonts(args.held_out_fonts)
    folder, items = corpus(
        args.seed,
        args.originals,
        args.siblings,
        args.negatives,
        args.unregistered,
        args.workers,
        fonts,
    )
    config = load_config()
    os.environ.pop(REDIS_URL_ENV, None)  # a dedicated embedded server, never a shared one
    originals = [i for i in items if i.role == "original"]
    scanned = [i for i in items if i.role != "original"]
    with tempfile.TemporaryDirectory(prefix="leaksentry-registry-") as tmp:
        redis_dir = Path(tmp) / "redis"
        try:
            registry = Registry(connect(redis_dir), config)
            register = register_all(registry, config, folder, originals)
            print(json.dumps({"register": register}, ensure_ascii=False), flush=True)
            results, wall = scan_all(redis_dir, config, folder, scanned, args.workers)
        finally:
            stop_embedded(redis_dir)
    families = len({i.family for i in originals})
    summary = {
        "corpus": {
            "seed": args.seed,
            "originals": len(originals),
            "families": families,
            "siblings": len({i.facts["sibling"] for i in items if i.role == "sibling"}),
            "folder": str(folder),
        },
        "workers": args.workers,
        "scan_wall_s": round(wall, 1),
        "register": register,
        "measures": measure(results),
        "results": [asdict(r) for r in results],
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"registry-results-{args.seed}.json").write_text(
        json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    failed = failures(results)
    (OUT / f"registry-failures-{args.seed}.txt").write_text("\n".join(failed) + "\n")
    print(
        json.dumps(
            {k: v for k, v in summary.items() if k != "results"}, ensure_ascii=False, indent=1
        )
    )
    print(f"{len(failed)} failures:")
    print("\n".join(failed))
    if not (args.no_readme or fonts):
        update_readme("registry", render_markdown(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
