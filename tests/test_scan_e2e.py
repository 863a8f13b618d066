"""End to end: `leaksentry scan` on corpus files, photos and hard negatives, with real OCR."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from detectors import ScanConfig, Scanner
from detectors.policy import fired
from tests.corpus import DETECTORS, FILE_PLAN, CorpusItem, file_item, negative, positive

SEED = 11


def _write(tmp: Path, out: tuple[str, bytes, CorpusItem]) -> tuple[Path, CorpusItem]:
    path, data, item = out
    target = tmp / Path(path).name
    target.write_bytes(data)
    return target, item


def _misses(scanner: Scanner, path: Path, item: CorpusItem) -> list[str]:
    report = scanner.scan_path(path)
    assert report.error is None, report.error
    names = fired(report.findings, scanner.config.policy.min_confidence)
    problems = [
        f"missed {d}"
        for d in DETECTORS
        if item.expect.get(d) and d not in names and d not in item.uncertain
    ]
    if item.negative and report.verdict.label != "clean":
        problems.append(f"false alert {report.verdict.label}: {sorted(names)}")
    return problems


@pytest.fixture(scope="module")
def scanner(config: ScanConfig) -> Scanner:
    return Scanner(config)


@pytest.mark.parametrize("index", range(len(FILE_PLAN)))
def test_corpus_files(scanner: Scanner, tmp_path: Path, index: int) -> None:
    """Every file format of the corpus: expected detectors fire, negative files stay clean."""
    path, item = _write(tmp_path, file_item(SEED, index, None))
    assert _misses(scanner, path, item) == []


def test_photos_and_hard_negatives(scanner: Scanner, tmp_path: Path) -> None:
    """Re-photographed pages are caught, and one hard negative of every kind stays clean."""
    misses: list[str] = []
    expected = 0
    for index in range(8):
        path, item = _write(tmp_path, positive(SEED, index, None))
        expected += sum(1 for d in DETECTORS if item.expect.get(d) and d not in item.uncertain)
        misses += [f"{path.name}: {m}" for m in _misses(scanner, path, item)]
    alerts = []
    for index in range(13):
        path, item = _write(tmp_path, negative(SEED, index, None))
        alerts += [f"{path.name}: {m}" for m in _misses(scanner, path, item) if "false" in m]
    assert alerts == []
    assert len(misses) <= expected // 10, misses


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "scan", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_json_lines_in_input_order_and_exit_codes(tmp_path: Path) -> None:
    docx, _ = _write(tmp_path, file_item(SEED, 11, None))  # DOCX with SecurityLevel
    notice, _ = _write(tmp_path, file_item(SEED, 29, None))  # clean party notice
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog")
    done = _cli("--json", notice, broken, docx)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["source"] for r in lines] == [str(notice), str(broken), str(docx)]
    assert [r["verdict"] for r in lines] == ["clean", "error", "critical"]
    assert lines[1]["error"] and lines[0]["error"] is None
    assert set(lines[2]["timings_ms"]) >= {"total", "ocr"}
    assert {"detector", "label", "confidence", "page", "bbox", "evidence"} <= set(
        lines[2]["findings"][0]
    )
    assert done.returncode == 1  # one file could not be scanned
    assert _cli("--json", notice, docx).returncode == 0


def test_cli_folders_table_and_usage_errors(tmp_path: Path) -> None:
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    _write(inner, file_item(SEED, 20, None))  # TXT
    (tmp_path / "a" / "note.txt").write_text("明天开会", encoding="utf-8")
    flat = _cli("--json", tmp_path / "a")
    deep = _cli("--json", "--recursive", tmp_path / "a")
    assert len(flat.stdout.splitlines()) == 1
    assert len(deep.stdout.splitlines()) == 2
    table = _cli(tmp_path / "a" / "note.txt")
    assert "clean" in table.stdout and table.returncode == 0
    assert _cli(tmp_path / "missing.jpg").returncode == 2
    assert _cli("--engine", "paddle", tmp_path / "a").returncode == 2
