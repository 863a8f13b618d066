"""`python -m benchmarks.scan --model 2`: the scanner on the second page model (tests/corpus2).

Scores what issue 11 asks of a page model the detectors were not tuned on: alert recall per
form × capture kind (a positive counts when its verdict is not clean and an alert is due on
it), red_header recall and precision, false alerts on the hard negatives, and `red_header`
findings on the red look-alikes. The table goes into README.md between
`<!-- bench:scan-model2 -->` markers.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from benchmarks.readme import update_readme
from tests.corpus import DETECTORS
from tests.corpus2 import SCENES, generate
from tests.corpus2.office import fandol_dir
from tests.corpus2.paper import FORMS

POSITIVES, NEGATIVES = 200, 100

Row = dict[str, Any]
"""One scanned item: the manifest entry plus `fired`, `verdict` and `error`."""


def corpus(out: Path, seed: int, positives: int, negatives: int) -> list[Row]:
    """The cached corpus (generated on first use), paths made absolute."""
    fonts = "fandol" if fandol_dir() else "noto"
    folder = out / f"corpus2-{seed}-{positives}-{negatives}-{fonts}"
    manifest = folder / "manifest.jsonl"
    if not manifest.exists():
        generate(folder, seed=seed, positives=positives, negatives=negatives)
    items = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    for item in items:
        item["path"] = str(folder / item["path"])
    return items


def _judged(row: Row, name: str) -> bool:
    return name not in row.get("uncertain", ())


def ratio_cell(hits: int, total: int) -> str:
    return f"{hits / total:.2f} ({total})" if total else "–"


def alert_recall(rows: Iterable[Row]) -> tuple[int, int]:
    due = [r for r in rows if not r["negative"] and r["facts"].get("alert_expected")]
    return sum(r["verdict"] != "clean" for r in due), len(due)


def detector_counts(rows: Iterable[Row], name: str) -> tuple[int, int, int]:
    """(true positives, false negatives, false positives) of one detector."""
    tp = fn = fp = 0
    for r in rows:
        if not _judged(r, name):
            continue
        want, got = r["expect"].get(name, False), name in r["fired"]
        tp += want and got
        fn += want and not got
        fp += got and not want
    return tp, fn, fp


def recall_cell(tp: int, fn: int) -> str:
    return f"{tp / (tp + fn):.2f}" if tp + fn else "–"


def precision_cell(tp: int, fp: int) -> str:
    return f"{tp / (tp + fp):.2f}" if tp + fp else "–"


def _group(rows: list[Row], key: Callable[[Row], str]) -> dict[str, list[Row]]:
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    return groups


def _form(r: Row) -> str:
    return str(r["facts"].get("form", "?"))


def _scene(r: Row) -> str:
    return str(r["facts"].get("scene", r["kind"]))


def matrix(positives: list[Row]) -> list[str]:
    """Alert recall, form × capture kind, with the totals of each."""
    by_form = _group(positives, _form)
    lines = [
        "| form | " + " | ".join(SCENES) + " | all |",
        "|---|" + "---|" * (len(SCENES) + 1),
    ]
    for form in (*FORMS, "all"):
        rows = positives if form == "all" else by_form.get(form, [])
        by_scene = _group(rows, _scene)
        cells = [ratio_cell(*alert_recall(by_scene.get(s, []))) for s in SCENES]
        lines.append(f"| {form} | " + " | ".join(cells) + f" | {ratio_cell(*alert_recall(rows))} |")
    return lines


def breakdown(
    positives: list[Row], rows: list[Row], key: Callable[[Row], str], title: str
) -> list[str]:
    """Per capture kind (or form): alert recall and the header detectors' recall, and
    red_header precision over every item of that kind, negatives included."""
    lines = [
        f"| {title} | alert recall | red_header recall | red_header precision | "
        "classification recall | handling recall | document_header recall |",
        "|---|---|---|---|---|---|---|",
    ]
    pos_groups, all_groups = _group(positives, key), _group(rows, key)
    for name in sorted(pos_groups):
        group = pos_groups[name]
        tp, fn, _ = detector_counts(group, "red_header")
        rtp, _, rfp = detector_counts(all_groups.get(name, group), "red_header")
        recalls = [
            recall_cell(*detector_counts(group, d)[:2])
            for d in ("classification_marking", "handling_marking", "document_header")
        ]
        lines.append(
            f"| {name} | {ratio_cell(*alert_recall(group))} | {recall_cell(tp, fn)} | "
            f"{precision_cell(rtp, rfp)} | " + " | ".join(recalls) + " |"
        )
    return lines


def detectors_table(rows: list[Row]) -> list[str]:
    lines = ["| detector | recall | precision | support |", "|---|---|---|---|"]
    for name in DETECTORS:
        tp, fn, fp = detector_counts(rows, name)
        lines.append(f"| {name} | {recall_cell(tp, fn)} | {precision_cell(tp, fp)} | {tp + fn} |")
    return lines


def negatives_summary(rows: list[Row]) -> list[str]:
    negatives = [r for r in rows if r["negative"]]
    alerts = [r for r in negatives if r["verdict"] != "clean"]
    lookalikes = [r for r in negatives if r["category"] == "lookalike"]
    red = [r for r in lookalikes if "red_header" in r["fired"]]
    kinds = Counter(_form(r) for r in red)
    alert_kinds = Counter(_form(r) for r in alerts)
    return [
        f"False alerts on hard negatives: {len(alerts)} of {len(negatives)}"
        + (f" ({', '.join(f'{k} {n}' for k, n in sorted(alert_kinds.items()))})" if alerts else "")
        + f". `red_header` findings on red look-alikes: {len(red)} of {len(lookalikes)}"
        + (f" ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})" if red else "")
        + "."
    ]


def failures(rows: list[Row], label: Callable[[Row], str] | None = None) -> list[str]:
    """One line per item that went wrong: a missed alert, a missed or extra detector. Items are
    named by `label` (default: the file name)."""
    out = []
    for r in rows:
        judged = [n for n in DETECTORS if _judged(r, n)]
        missed = [n for n in judged if r["expect"].get(n) and n not in r["fired"]]
        extra = [n for n in judged if not r["expect"].get(n) and n in r["fired"]]
        alert_missed = (
            not r["negative"] and r["facts"].get("alert_expected") and r["verdict"] == "clean"
        )
        false_alert = r["negative"] and r["verdict"] != "clean"
        if missed or extra or alert_missed or false_alert:
            name = label(r) if label else Path(r["path"]).name
            out.append(
                f"{name}: verdict={r['verdict']} missed={missed} extra={extra}"
                f" fired={sorted(r['fired'])}"
                + (" ALERT-MISSED" if alert_missed else "")
                + (" FALSE-ALERT" if false_alert else "")
            )
    return out


def render_markdown(rows: list[Row], seed: int, engine: str) -> str:
    positives = [r for r in rows if not r["negative"]]
    categories = Counter(r["category"] for r in rows)
    fonts = rows[0]["facts"].get("fonts", "?") if rows else "?"
    lines = [
        f"Second page model: seed {seed}, {len(rows)} items ({categories['positive']} positives, "
        f"{categories['lookalike']} red look-alikes, {categories['hard_negative']} other hard "
        f"negatives), pages set by LibreOffice from python-docx in {fonts} fonts "
        f"(`python -m tests.corpus2`), engine {engine}. It measures how the detectors hold on "
        "forms and captures that the first model never drew: each cell is the share of "
        "positives on which an alert was due that got a verdict other than clean (items).",
        "",
        *matrix(positives),
        "",
        *breakdown(positives, rows, _scene, "capture"),
        "",
        *breakdown(positives, rows, _form, "form"),
        "",
        *detectors_table(rows),
        "",
        *negatives_summary(rows),
    ]
    return "\n".join(lines)


def report(rows: list[Row], out: Path, seed: int, engine: str, *, readme: bool) -> str:
    (out / f"misses-model2-{engine}.txt").write_text("\n".join(failures(rows)) + "\n")
    (out / f"scan-model2-{engine}.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1))
    markdown = render_markdown(rows, seed, engine)
    if readme:
        update_readme("scan-model2", markdown)
    return markdown
