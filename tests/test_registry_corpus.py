"""The registry corpus (tests/corpus/registry.py) and the registry end to end on a few of its
items: real Registry, real Scanner with OCR, embedded Redis in tmp_path.

Captures of a registered page must come back as that document with a critical verdict;
same-template siblings (same organ, same red header, other text) and hard negatives must not
match anything.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bot.redis_server import REDIS_URL_ENV, connect, stop_embedded
from bot.registry import Registry
from detectors import ScanConfig, Scanner
from detectors.fingerprint.page import registration_config
from detectors.model import Finding, ScanReport, Verdict
from detectors.registry import KNOWN_DOCUMENT
from tests.corpus.registry import (
    MANIFEST,
    RegistryItem,
    document_pages,
    generate_registry_corpus,
    level,
    load_registry_manifest,
    member_document,
)

SEED = 2026


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


Corpus = tuple[Path, list[RegistryItem]]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """4 originals of 2 organs with their captures, 2 siblings, 2 hard negatives, 1 unregistered
    document of another organ."""
    out = tmp_path_factory.mktemp("registry-corpus")
    items = generate_registry_corpus(
        out, SEED, originals=4, siblings=2, negatives=2, unregistered_docs=1, families=2
    )
    return out, items


def test_items_depend_on_seed_and_index_only(corpus: Corpus, tmp_path: Path) -> None:
    """Fewer items, made by two worker processes: the same bytes as the bigger corpus's."""
    out, items = corpus
    fewer = generate_registry_corpus(
        tmp_path / "fewer", SEED, 1, 1, workers=2, negatives=1, unregistered_docs=0, families=2
    )
    first_sibling = next(i for i in items if i.role == "sibling").facts["sibling"]
    expected = [
        i
        for i in items
        if i.doc_id == "orig-000"
        or (i.role == "sibling" and i.facts["sibling"] == first_sibling)
        or i.path == next(n.path for n in items if n.role == "negative")
    ]
    assert fewer == expected == load_registry_manifest(tmp_path / "fewer")
    digests = _digest(tmp_path / "fewer")
    assert digests == {k: v for k, v in _digest(out).items() if k in digests}
    other = generate_registry_corpus(
        tmp_path / "other", SEED + 1, 1, 0, negatives=0, unregistered_docs=0, families=2
    )
    assert other[0].title != fewer[0].title


def test_manifest_roles_and_expected_ids(corpus: Corpus) -> None:
    out, items = corpus
    originals = {i.doc_id: i for i in items if i.role == "original"}
    assert len(originals) == 4
    captures = [i for i in items if i.role == "capture"]
    for capture in captures:
        assert capture.doc_id in originals
        assert capture.page is not None
        assert capture.page <= originals[capture.doc_id].facts["registered_pages"]
    per_original = {d: {c.kind for c in captures if c.doc_id == d} for d in originals}
    for kinds in per_original.values():
        assert {"photo", "photo_folded", "photo_header", "photo_bottom", "masked"} <= kinds
        assert "photo_screen" in kinds
        assert "printed_scale" in kinds
    others = [i for i in items if i.role in ("sibling", "negative")]
    assert others and all(i.doc_id is None and i.page is None for i in others)
    header_shots = [i for i in items if i.kind == "photo_header"]
    assert header_shots and all("title" in i.facts["seen"] for i in header_shots)
    for item in items:
        assert (out / item.path).stat().st_size > 0


def test_siblings_share_the_template_but_not_the_text() -> None:
    original, sibling = member_document(SEED, 0, 0), member_document(SEED, 0, 1)
    assert original.mark_text == sibling.mark_text and original.mark_text.endswith("文件")
    assert original.doc_number and sibling.doc_number
    prefix = original.doc_number.split("〔")[0]
    assert sibling.doc_number.startswith(prefix + "〔")
    assert original.doc_number != sibling.doc_number
    assert original.title != sibling.title
    assert original.paragraphs != sibling.paragraphs
    pages = [document_pages(SEED, 0, member)[0] for member in (0, 1)]
    marks = [p.find("organ_mark")[0] for p in pages]
    rules = [p.find("rule")[0] for p in pages]
    assert marks[0].runs[0].size == marks[1].runs[0].size
    assert marks[0].runs[0].x == marks[1].runs[0].x
    assert rules[0].box[2] - rules[0].box[0] == rules[1].box[2] - rules[1].box[0]


# --- end to end -----------------------------------------------------------------------------


def _best_known(report: ScanReport) -> Finding | None:
    known = [f for f in report.findings if f.detector == KNOWN_DOCUMENT]
    return max(known, key=lambda f: f.confidence, default=None)


@pytest.mark.slow
def test_captures_match_their_original_and_look_alikes_do_not(
    corpus: Corpus, tmp_path: Path, config: ScanConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(REDIS_URL_ENV, raising=False)  # the embedded server in tmp_path
    folder, items = corpus
    originals = [i for i in items if i.role == "original"]
    assert len({i.family for i in originals}) == 2
    captures = [
        i
        for i in items
        if i.role == "capture"
        and i.page == 1
        and i.kind in ("photo_header", "photo_bottom", "masked", "photo_folded")
    ]
    look_alikes = [
        i
        for i in items
        if (i.role == "sibling" and i.kind in ("photo_header", "file_pdf")) or i.role == "negative"
    ]
    redis_dir = tmp_path / "redis"
    try:
        registry = Registry(connect(redis_dir), config)
        reader = Scanner(registration_config(config))
        for item in originals:
            registry.register(
                (folder / item.path).read_bytes(),
                Path(item.path).name,
                doc_id=item.doc_id,
                title=item.title,
                level=level(item),
                scanner=reader,
            )
        scanner = Scanner(config, known=registry)
        wrong = [
            _outcome(item, report)
            for item, report in ((i, scanner.scan_path(folder / i.path)) for i in captures)
            if _best_id(report) != item.doc_id or report.verdict != Verdict.CRITICAL
        ]
        matched = [
            _outcome(item, report)
            for item, report in ((i, scanner.scan_path(folder / i.path)) for i in look_alikes)
            if _best_known(report) is not None
        ]
    finally:
        stop_embedded(redis_dir)
    assert len(captures) == 16 and len(look_alikes) >= 5
    assert {"captures not recognised": wrong, "look-alikes that matched": matched} == {
        "captures not recognised": [],
        "look-alikes that matched": [],
    }


def _best_id(report: ScanReport) -> str | None:
    best = _best_known(report)
    return None if best is None else str(best.details["doc_id"])


def _outcome(item: RegistryItem, report: ScanReport) -> str:
    best = _best_known(report)
    got = None if best is None else (best.details["doc_id"], best.details.get("methods"))
    return f"{item.path}: expected {item.doc_id}, got {got}, verdict {report.verdict.label}"
