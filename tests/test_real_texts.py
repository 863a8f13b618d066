"""The real Chinese texts of `benchmarks.scan_real`: a sound manifest, and the real scanner
judging one issued document and one negative as the manifest says."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.scan_real import MANIFEST, load_manifest
from detectors import ScanConfig, Scanner
from tests.corpus import DETECTORS

ENTRIES = load_manifest(MANIFEST)
MAX_BYTES = 4096


def test_manifest_has_positives_and_negatives() -> None:
    roles = {e["role"] for e in ENTRIES}
    assert roles == {"positive", "negative"}
    assert len({e["path"] for e in ENTRIES}) == len(ENTRIES)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: Path(e["path"]).name)
def test_manifest_entry_is_sourced_and_labelled(entry: dict) -> None:
    path = Path(entry["path"])
    assert path.is_file()
    assert 0 < path.stat().st_size <= MAX_BYTES, "keep the excerpts small"
    path.read_text(encoding="utf-8")
    source = entry["source"]
    assert source.get("repo") and source.get("path") and source.get("commit")
    assert entry["license"] and entry["basis"]
    assert set(entry["expect"]) == set(DETECTORS)
    assert isinstance(entry["alert_expected"], bool)
    assert entry["alert_expected"] == (entry["role"] == "positive")
    assert entry["alert_expected"] == any(entry["expect"].values())


def test_every_text_in_the_folder_is_in_the_manifest() -> None:
    listed = {Path(e["path"]).name for e in ENTRIES}
    assert {p.name for p in (MANIFEST.parent / "texts").glob("*.txt")} == listed


@pytest.mark.parametrize(
    ("name", "verdict", "fired"),
    [
        ("pos-02-guobanfa-2018-123.txt", "low", {"document_header"}),
        ("neg-05-body-sichuan-quotes.txt", "clean", set()),
    ],
)
def test_real_text_scans_as_judged(
    config: ScanConfig, name: str, verdict: str, fired: set[str]
) -> None:
    report = Scanner(config).scan_path(MANIFEST.parent / "texts" / name)
    assert report.error is None
    assert report.verdict.label == verdict
    found = {f.detector for f in report.findings if f.confidence >= config.policy.min_confidence}
    assert found - {"public_release"} == fired
