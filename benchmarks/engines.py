"""`python -m benchmarks.scan --compare rapidocr,rapidocr3`: OCR engines side by side.

All engines run in this one process, on one core (`ocr.threads`), over the same items, item
by item in turn (the order alternates), so that load from elsewhere on the machine falls on
every engine alike. Per engine: detector recall and precision, alert recall and false alerts
(the second page model's scoring, `benchmarks.scan_model2`), p50/p95 ms per scanned item,
p50/p95 ms of plain OCR (`engine.read`) of the same pictures, and the peak RSS of a fresh
process that loads the engine and scans a spread subset of the items. The table is written
to `benchmarks/out/engines-model{N}.md`; README.md is left alone.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchmarks import scan, scan_model2
from detectors import ScanConfig, Scanner, load_config
from detectors.model import RgbImage
from detectors.ocr.base import OcrEngine
from tests.corpus import DETECTORS

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
RSS_ITEMS = 12
"""Items the fresh process for the peak RSS scans (its own spread subset)."""

Row = dict[str, Any]


def compare(engines: Sequence[str], items: list[Row], out: Path, model: int, note: str) -> str:
    config = load_config()
    rss = {engine: peak_rss(engine, config, scan._spread(items, RSS_ITEMS)) for engine in engines}
    scanners = {engine: Scanner(config, engine_name=engine) for engine in engines}
    for scanner in scanners.values():
        scanner.engine  # load the models before the clock starts  # noqa: B018
    rows: dict[str, list[Row]] = {engine: [] for engine in engines}
    for i, item in enumerate(items):
        for engine in engines if i % 2 == 0 else list(reversed(engines)):
            result = scan.scan_item(scanners[engine], item)
            rows[engine].append(dict(item, **_scored(asdict(result))))
        print(f"{i + 1}/{len(items)}", flush=True, end="\r")
    plain = plain_ocr({e: s.engine for e, s in scanners.items()}, items, config)
    for engine, engine_rows in rows.items():
        misses = "\n".join(_miss(r) for r in engine_rows if _miss(r))
        (out / f"misses-model{model}-{engine}.txt").write_text(misses + "\n")
    (out / f"engines-model{model}.json").write_text(
        json.dumps({"rows": rows, "plain_ocr_ms": plain, "peak_rss_mb": rss}, ensure_ascii=False)
    )
    markdown = render(rows, plain, rss, note)
    (out / f"engines-model{model}.md").write_text(markdown + "\n")
    return markdown


def _scored(result: Row) -> Row:
    return {k: result[k] for k in ("fired", "verdict", "error", "ms")}


def peak_rss(engine: str, config: ScanConfig, items: list[Row]) -> float:
    """Peak RSS (MiB) of a fresh process (spawned, not forked) that scans `items`."""
    context = get_context("spawn")
    with ProcessPoolExecutor(
        1, mp_context=context, initializer=scan._init, initargs=(engine, config)
    ) as pool:
        return round(max(rss for _, rss in pool.map(scan._scan_one, items)))


def plain_ocr(engines: dict[str, OcrEngine], items: list[Row], config: ScanConfig) -> dict:
    """ms of `engine.read` per picture, the picture decoded as the scanner decodes it."""
    times: dict[str, list[float]] = {engine: [] for engine in engines}
    names = list(engines)
    pictures = [i for i in items if Path(i["path"]).suffix.lower() in IMAGE_SUFFIXES]
    for i, item in enumerate(pictures):
        image = _decode(item["path"], config.scan.vision.decode_max_side)
        for name in names if i % 2 == 0 else list(reversed(names)):
            started = time.perf_counter()
            engines[name].read(image)
            times[name].append((time.perf_counter() - started) * 1000)
    return times


def _decode(path: str, max_side: int) -> RgbImage:
    with Image.open(path) as img:
        img.draft("RGB", (max_side, max_side))
        rgb = img.convert("RGB")
    rgb.thumbnail((max_side, max_side))
    return np.asarray(rgb)


def _p(values: Sequence[float], q: float) -> int:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))]) if ordered else 0


def render(
    rows: dict[str, list[Row]], plain: dict[str, list[float]], rss: dict[str, float], note: str
) -> str:
    engines = list(rows)
    lines = [
        note,
        "",
        "| engine | items | alert recall | false alerts on negatives | scan p50 / p95 ms | "
        "plain OCR p50 / p95 ms (pictures) | peak RSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for engine in engines:
        r = rows[engine]
        hits, due = _alert_recall(r)
        negatives = [x for x in r if x["negative"]]
        alerts = sum(x["verdict"] != "clean" for x in negatives)
        ms = [x["ms"] for x in r]
        lines.append(
            f"| {engine} | {len(r)} | {hits / due:.3f} ({hits}/{due}) | "
            f"{alerts} of {len(negatives)} | "
            f"{round(statistics.median(ms))} / {_p(ms, 0.95)} | "
            f"{round(statistics.median(plain[engine]))} / {_p(plain[engine], 0.95)} "
            f"({len(plain[engine])}) | {rss[engine]:.0f} |"
        )
    lines += [
        "",
        "| detector | "
        + " | ".join(f"{e} recall | {e} precision" for e in engines)
        + " | support |",
        "|---|" + "---|---|" * len(engines) + "---|",
    ]
    for name in DETECTORS:
        cells: list[str] = []
        support = 0
        for engine in engines:
            tp, fn, fp = scan_model2.detector_counts(rows[engine], name)
            cells += [_fmt(tp, tp + fn), _fmt(tp, tp + fp)]
            support = max(support, tp + fn)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {support} |")
    lines += [
        "",
        "| capture | " + " | ".join(f"{e} alert recall" for e in engines) + " |",
        "|---|" + "---|" * len(engines),
    ]
    scenes = sorted({_scene(x) for x in rows[engines[0]] if not x["negative"]})
    for scene in scenes:
        cells = []
        for engine in engines:
            group = [x for x in rows[engine] if not x["negative"] and _scene(x) == scene]
            hits, due = _alert_recall(group)
            cells.append(f"{hits}/{due}")
        lines.append(f"| {scene} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _alert_due(row: Row) -> bool:
    """A positive on which an alert is due: the second model says so, the first model's
    positives expect some detector."""
    if row["negative"]:
        return False
    if "facts" in row:
        return bool(row["facts"].get("alert_expected"))
    return any(row["expect"].values())


def _miss(row: Row) -> str:
    """What went wrong on one item (a missed or extra detector, a wrong verdict), or ""."""
    judged = [d for d in DETECTORS if d not in row.get("uncertain", ())]
    missed = [d for d in judged if row["expect"].get(d) and d not in row["fired"]]
    extra = [d for d in judged if not row["expect"].get(d) and d in row["fired"]]
    alert_missed = _alert_due(row) and row["verdict"] == "clean"
    false_alert = row["negative"] and row["verdict"] != "clean"
    if not (missed or extra or alert_missed or false_alert):
        return ""
    return (
        f"{Path(row['path']).name}: verdict={row['verdict']} missed={missed} extra={extra}"
        + (" ALERT-MISSED" if alert_missed else "")
        + (" FALSE-ALERT" if false_alert else "")
    )


def _alert_recall(rows: list[Row]) -> tuple[int, int]:
    due = [r for r in rows if _alert_due(r)]
    return sum(r["verdict"] != "clean" for r in due), len(due)


def _scene(row: Row) -> str:
    return str(row.get("facts", {}).get("scene", row.get("kind", "?")))


def _fmt(hits: int, total: int) -> str:
    return f"{hits / total:.3f}" if total else "–"
