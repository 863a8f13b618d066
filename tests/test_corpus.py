"""Sanity checks of the test-corpus generator (tests/corpus): determinism, manifest schema,
valid ID numbers, and that every written file opens with an ordinary reader."""

from __future__ import annotations

import csv
import io
import json
import random
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pymupdf
import pytest
from PIL import Image

from tests.corpus import DETECTORS, MANIFEST, CorpusItem, file_item, generate, positive
from tests.corpus import text as tx
from tests.corpus.files import OFD_NS

SEED = 11


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[CorpusItem]]:
    out = tmp_path_factory.mktemp("corpus")
    return out, generate(out, seed=SEED, positives=6, negatives=6, files=True)


def test_same_seed_same_bytes(corpus: tuple[Path, list[CorpusItem]]) -> None:
    out, items = corpus
    path, data, _ = positive(SEED, 0, None)
    assert (out / path).read_bytes() == data
    docx_index = next(i for i, it in enumerate(items) if it.kind == "docx" and not it.negative)
    files_start = next(i for i, it in enumerate(items) if it.path.startswith("files/"))
    path, data, _ = file_item(SEED, docx_index - files_start, None)
    assert (out / path).read_bytes() == data


def test_other_seed_other_bytes() -> None:
    assert positive(SEED, 0, None)[1] != positive(SEED + 1, 0, None)[1]


def test_manifest_schema(corpus: tuple[Path, list[CorpusItem]]) -> None:
    out, items = corpus
    lines = (out / MANIFEST).read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(items)
    for line in lines:
        record = json.loads(line)
        assert {"path", "kind", "negative", "expect", "uncertain", "category"} <= set(record)
        assert (out / record["path"]).is_file()
        assert list(record["expect"]) == list(DETECTORS)
        assert all(isinstance(v, bool) for v in record["expect"].values())
        assert set(record["uncertain"]) <= set(DETECTORS)
        assert not any(record["expect"][name] for name in record["uncertain"])
        if record["category"] == "positive":
            assert any(record["expect"].values()) and not record["negative"]
        if record["category"] == "hard_negative":
            assert record["negative"]
    categories = {item.category for item in items}
    assert {"positive", "body_page", "masked", "hard_negative", "file"} <= categories
    assert sum(item.category == "positive" for item in items) == 6


def test_hard_negatives_expect_nothing_but_a_seal(corpus: tuple[Path, list[CorpusItem]]) -> None:
    _, items = corpus
    for item in items:
        if item.negative:
            firing = {name for name, must in item.expect.items() if must}
            assert firing <= {"seal"}, item.path  # a company seal alone must not alarm


def test_id_numbers_have_valid_check_digits(corpus: tuple[Path, list[CorpusItem]]) -> None:
    rng = random.Random(3)
    for _ in range(200):
        assert tx.id_valid(tx.id_number(rng))
    assert tx.id_check_char("11010519491231002") == "X"  # the GB 11643 worked example
    out, items = corpus
    csv_item = next(it for it in items if it.kind == "csv" and not it.negative)
    rows = list(csv.reader(io.StringIO((out / csv_item.path).read_text(encoding="utf-8-sig"))))
    assert rows[0][2] == "身份证号" and len(rows) > 5
    assert all(tx.id_valid(row[2]) for row in rows[1:])


def test_mobile_numbers_look_real() -> None:
    rng = random.Random(5)
    for _ in range(100):
        number = tx.mobile(rng)
        assert len(number) == 11 and number[0] == "1" and number[1] in "3456789"


def test_pictures_decode(corpus: tuple[Path, list[CorpusItem]]) -> None:
    out, items = corpus
    for item in items:
        if item.path.endswith((".jpg", ".png")):
            with Image.open(out / item.path) as image:
                image.load()
                assert min(image.size) >= 200


def test_files_open(corpus: tuple[Path, list[CorpusItem]]) -> None:
    out, items = corpus
    for item in (it for it in items if it.path.startswith("files/")):
        data = (out / item.path).read_bytes()
        if item.kind == "pdf":
            with pymupdf.open("pdf", data) as doc:
                assert doc.page_count >= 1
                if item.facts.get("variant") == "text" and item.facts.get("doc_number"):
                    text = "".join(page.get_text() for page in doc)
                    assert item.facts["doc_number"] in text
        elif item.kind in ("docx", "xlsx", "pptx", "ofd", "zip"):
            assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None
        if item.kind == "ofd":
            _check_ofd(data)
        if item.kind == "docx":
            import docx

            assert docx.Document(io.BytesIO(data)).paragraphs


def _check_ofd(data: bytes) -> None:
    package = zipfile.ZipFile(io.BytesIO(data))
    root = ElementTree.fromstring(package.read("OFD.xml"))
    assert root.tag == f"{{{OFD_NS}}}OFD"
    doc_root = root.findtext(f".//{{{OFD_NS}}}DocRoot")
    assert doc_root == "Doc_0/Document.xml"
    document = ElementTree.fromstring(package.read(doc_root))
    assert document.findtext(f".//{{{OFD_NS}}}PhysicalBox") == "0 0 210 297"
    for page in document.iter(f"{{{OFD_NS}}}Page"):
        content = ElementTree.fromstring(package.read("Doc_0/" + page.get("BaseLoc", "")))
        assert content.find(f".//{{{OFD_NS}}}PathObject") is not None


def test_nested_zip_holds_a_zip(corpus: tuple[Path, list[CorpusItem]]) -> None:
    out, items = corpus
    nested = next(it for it in items if it.facts.get("variant") == "nested")
    outer = zipfile.ZipFile(out / nested.path)
    inner_names = [n for n in outer.namelist() if n.endswith(".zip")]
    assert inner_names
    inner = zipfile.ZipFile(io.BytesIO(outer.read(inner_names[0])))
    assert any(name.endswith(".pdf") for name in inner.namelist())
