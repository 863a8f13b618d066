"""The second page model (tests/corpus2): a handful of items, labels consistent with the
files and with the forms' rules. No OCR here; the benchmark scores the detectors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.corpus import DETECTORS, MANIFEST, CorpusItem, load_manifest
from tests.corpus.labels import Labels
from tests.corpus2 import SCENES, generate, plan
from tests.corpus2 import truth as tr
from tests.corpus2.office import families, fandol_dir
from tests.corpus2.paper import FORMS

SEED = 5


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[CorpusItem]]:
    out = tmp_path_factory.mktemp("corpus2")
    return out, generate(out, seed=SEED, positives=6, negatives=4)


def test_manifest_lists_every_file(corpus: tuple[Path, list[CorpusItem]]) -> None:
    out, items = corpus
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} - {MANIFEST}
    assert on_disk == {item.path for item in items}
    assert [i.path for i in load_manifest(out)] == [i.path for i in items]


def test_labels_are_consistent(corpus: tuple[Path, list[CorpusItem]]) -> None:
    _, items = corpus
    for item in items:
        assert set(item.expect) == set(DETECTORS)
        assert not set(item.uncertain) & {n for n, v in item.expect.items() if v}
        assert item.facts["form"] and item.facts["scene"] == item.kind
        if item.negative:
            assert item.category in ("lookalike", "hard_negative")
            assert not any(v for n, v in item.expect.items() if n != "seal")
        else:
            assert item.category == "positive" and item.kind in SCENES
            assert item.facts["form"] in FORMS
            assert item.facts["alert_expected"], item.path
            assert any(item.expect.values())


def test_files_are_what_their_names_say(corpus: tuple[Path, list[CorpusItem]]) -> None:
    out, items = corpus
    magic = {"pdf": b"%PDF", "png": b"\x89PNG", "jpg": b"\xff\xd8"}
    for item in items:
        data = (out / item.path).read_bytes()
        assert data.startswith(magic[item.path.rsplit(".", 1)[1]]), item.path


def test_plan_is_a_function_of_the_seed() -> None:
    fonts = families(fandol_dir())
    first, again, other = (plan(s, 8, 4, fonts) for s in (SEED, SEED, SEED + 1))
    assert [(j.kind, j.scene, j.paper and j.paper.facts) for j in first] == [
        (j.kind, j.scene, j.paper and j.paper.facts) for j in again
    ]
    assert [(j.kind, j.scene) for j in first] != [(j.kind, j.scene) for j in other]


BOX = (0.0, 0.0, 10.0, 10.0)


def _labels(
    names: list[str], attrs: dict[str, dict[str, object]], gone: frozenset[str] = frozenset()
) -> Labels:
    """Labels of a page holding `names`, each fully in view unless it is in `gone`."""
    boxes = {n: [(float(i), 0.0, i + 1.0, 1.0)] for i, n in enumerate(names)}
    hidden = {boxes[n][0] for n in gone}
    return tr.labels(boxes, attrs, lambda b: 0.0 if b in hidden else 1.0, colour=True)


def test_telegram_red_title_over_red_table_is_a_red_header() -> None:
    label = _labels(
        ["organ_mark", "rule", "telegram_fields", "classification"],
        {"organ_mark": {"strong": True, "telegram": True}},
    )
    assert label.expect["red_header"] and label.expect["document_header"]
    assert label.expect["classification_marking"]


def test_organ_name_alone_needs_its_signature_to_be_a_header() -> None:
    attrs: dict[str, dict[str, object]] = {"organ_mark": {"alone": True}}
    whole = _labels(["organ_mark", "signature", "date"], attrs)
    top_only = _labels(
        ["organ_mark", "signature", "date"], attrs, gone=frozenset({"signature", "date"})
    )
    assert whole.expect["document_header"] and "red_header" in whole.uncertain
    assert not top_only.expect["document_header"]


def test_a_cut_rule_is_no_red_header_and_grey_is_unsure() -> None:
    attrs: dict[str, dict[str, object]] = {"organ_mark": {"strong": True}}
    assert not _labels(["organ_mark", "rule"], attrs, gone=frozenset({"rule"})).expect["red_header"]
    boxes = {"organ_mark": [BOX], "rule": [BOX]}
    grey = tr.labels(boxes, attrs, lambda b: 1.0, colour=False)
    assert "red_header" in grey.uncertain
