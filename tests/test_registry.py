"""The registry of controlled documents on a real embedded Redis-protocol server."""

from __future__ import annotations

import io
import multiprocessing
import random
from pathlib import Path

import pymupdf
import pytest
import redis

from bot import keys
from bot.redis_server import connect, redis_url, stop_embedded
from bot.registry import PreparedDocument, RegistrationError, Registry, RegistryError, index
from detectors import ScanConfig, Scanner, Verdict
from detectors.fingerprint import PageFingerprint
from detectors.fingerprint.codec import decode
from detectors.fingerprint.page import fingerprint_page
from detectors.fingerprint.verify import mark_weights
from detectors.registry import KNOWN_DOCUMENT
from tests.conftest import text_page
from tests.corpus import files as fl
from tests.corpus.registry import document_pages, member_document, shoot
from tests.corpus.render import PageSpec

SEED = 2026


@pytest.fixture
def registry(client: redis.Redis, config: ScanConfig) -> Registry:
    return Registry(client, config)


def official(family: int, member: int) -> tuple[bytes, list[PageSpec]]:
    """A generated official document as a PDF with a text layer, and its page layouts."""
    pages = document_pages(SEED, family, member)
    return fl.pdf_text(pages), pages


@pytest.fixture(scope="module")
def notice() -> tuple[bytes, list[PageSpec]]:
    return official(0, 0)


def synthetic(doc_id: str, seed: int, pages: int = 3, text_poor: bool = False) -> PreparedDocument:
    """A document of made-up fingerprints: 40 marks a page (no layout: verified by text
    containment), or no text and four region hashes."""
    rng = random.Random(seed)
    fps = []
    for number in range(1, pages + 1):
        hashes = {name: rng.getrandbits(64) for name in ("page", "body", "top", "bottom")}
        marks = () if text_poor else tuple(sorted(rng.sample(range(0, 1 << 32, 4), 40)))
        fps.append((number, PageFingerprint(marks, 4 * len(marks), hashes)))
    sha = f"{seed:064x}"
    return PreparedDocument(doc_id, f"title of {doc_id}", "秘密", f"{doc_id}.pdf", sha, tuple(fps))


def snapshot(client: redis.Redis) -> dict[bytes, object]:
    """Every key and its value."""
    out: dict[bytes, object] = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == b"string":
            out[key] = client.get(key)
        elif kind == b"hash":
            out[key] = client.hgetall(key)
        elif kind == b"zset":
            out[key] = client.zrange(key, 0, -1, withscores=True)
        else:
            raise AssertionError(f"unexpected {kind!r} at {key!r}")
    return out


def _records(key: str, data: bytes) -> list[bytes]:
    width = (
        index.TEXT_RECORD if key.startswith(keys.REGISTRY_TEXT) else index.IMAGE_RECORD
    ).itemsize
    assert data and len(data) % width == 0, key
    return sorted(data[i : i + width] for i in range(0, len(data), width))


def posting_records(client: redis.Redis) -> dict[str, list[bytes]]:
    """Every posting key's records, sorted."""
    return {
        key.decode(): _records(key.decode(), client.get(key) or b"")
        for prefix in (keys.REGISTRY_TEXT, keys.REGISTRY_IMAGE)
        for key in client.scan_iter(match=prefix + "*", count=1000)
    }


def posted_page_ids(client: redis.Redis) -> set[int]:
    return {
        int.from_bytes(record[:3], "little")
        for records in posting_records(client).values()
        for record in records
    }


def assert_consistent(client: redis.Redis, config: ScanConfig) -> None:
    """Documents, pages and postings agree exactly: every page of every document is stored
    and indexed once, and the index holds nothing else."""
    doc_ids = {d.decode() for d in client.zrange(keys.REGISTRY_DOCS, 0, -1)}
    doc_keys = {k.decode() for k in client.scan_iter(match=keys.REGISTRY_DOC + "*")}
    assert doc_keys == {keys.REGISTRY_DOC + d for d in doc_ids}
    pages: list[tuple[int, PageFingerprint]] = []
    for doc_id in doc_ids:
        ids = client.hget(keys.REGISTRY_DOC + doc_id, "page_ids").decode().split(",")
        for page_id in map(int, ids):
            record = client.get(f"{keys.REGISTRY_PAGE}{page_id:x}")
            assert record is not None, (doc_id, page_id)
            length = int.from_bytes(record[:2], "little")
            assert record[6 : 6 + length].decode() == doc_id
            pages.append((page_id, decode(record[6 + length :])))
    page_keys = set(client.scan_iter(match=keys.REGISTRY_PAGE + "*"))
    assert len(page_keys) == len(pages)
    below = config.fingerprint.verify.image_max_text_marks
    expected = {key: _records(key, value) for key, value in index.postings(pages, below).items()}
    assert posting_records(client) == expected
    text_records = sum(len(fp.text_marks) for _, fp in pages)
    counted = client.hget(keys.REGISTRY_META, index.TEXT_RECORDS_FIELD)
    assert int(counted or 0) == text_records


# --- registering real files -----------------------------------------------------------------


def test_registered_pdf_is_listed_with_its_pages(
    registry: Registry, notice: tuple[bytes, list[PageSpec]]
) -> None:
    data, pages = notice
    document = registry.register(data, "关于加强管理的通知.pdf", level="机密")
    assert document.outcome == "registered"
    assert document.pages == len(pages) >= 2
    assert document.title == "关于加强管理的通知"
    assert [d.doc_id for d in registry.list()] == [document.doc_id]
    assert registry.get(document.doc_id) == registry.list()[0]
    stored = registry.pages(document.doc_id)
    assert [p.page for p in stored] == list(range(1, len(pages) + 1))
    assert all(p.text_marks > 0 and p.layout_bytes > 0 and p.current for p in stored)
    assert stored[0].text_marks >= 20 and stored[0].stored_bytes > stored[0].layout_bytes


def test_photo_of_a_registered_page_is_critical(
    registry: Registry, config: ScanConfig, notice: tuple[bytes, list[PageSpec]]
) -> None:
    data, pages = notice
    document = registry.register(data, "notice.pdf", title="关于加强管理的通知", level="机密")
    scanner = Scanner(config, known=registry)
    photo = shoot(pages[0], "photo", SEED, "test-registry", 1)
    report = scanner.scan(photo.data, "photo.jpg")
    known = [f for f in report.findings if f.detector == KNOWN_DOCUMENT]
    assert known, report.to_json()
    assert known[0].details["doc_id"] == document.doc_id
    assert known[0].details["doc_page"] == 1
    assert known[0].details["title"] == "关于加强管理的通知"
    assert known[0].details["level"] == "机密"
    assert "text" in known[0].details["methods"]
    assert report.verdict == Verdict.CRITICAL
    # A document of the same organ and template that was never registered does not match.
    sibling = shoot(document_pages(SEED, 0, 1)[0], "photo", SEED, "test-registry", 2)
    other = scanner.scan(sibling.data, "sibling.jpg")
    assert not [f for f in other.findings if f.detector == KNOWN_DOCUMENT]


def test_a_header_photo_is_found_by_its_document_number(
    registry: Registry, config: ScanConfig, notice: tuple[bytes, list[PageSpec]]
) -> None:
    """A photo of the header: the 发文字号, the title, and a line OCR garbled. Too little of
    it is the registered page's text for a text match, but the registered page with the same
    number is a candidate and matches by it; another number matches nothing."""
    data, _ = notice
    document = registry.register(data, "notice.pdf")
    doc = member_document(SEED, 0, 0)
    assert doc.doc_number is not None
    garbled = "".join(random.Random(3).sample("鑫淼焱垚犇骉鱻羴猋麤毳掱嚞譶瞐飍龘靐齉爩麷" * 2, 24))
    lines = [doc.doc_number, doc.title, garbled]
    header = fingerprint_page(text_page(lines), config.fingerprint)
    assert header is not None and header.doc_number
    page_1 = next(p for p in Scanner(config).read_pages(data, "notice.pdf") if p.number == 1)
    registered = fingerprint_page(page_1, config.fingerprint)
    assert registered is not None and registered.doc_number == header.doc_number
    shared = set(header.text_marks) & set(registered.text_marks)
    assert len(shared) < config.fingerprint.verify.threshold * len(header.text_marks)
    matches = registry.lookup(header)
    assert [(m.doc_id, m.page, m.methods) for m in matches] == [
        (document.doc_id, 1, ("doc_number",))
    ]
    other = fingerprint_page(
        text_page([doc.doc_number[:-2] + "99号", *lines[1:]]), config.fingerprint
    )
    assert other is not None and registry.lookup(other) == []


def test_registering_the_same_file_twice_changes_nothing(
    registry: Registry, client: redis.Redis, notice: tuple[bytes, list[PageSpec]]
) -> None:
    data, _ = notice
    first = registry.register(data, "notice.pdf")
    before = snapshot(client)
    again = registry.register(data, "notice.pdf")
    assert again.outcome == "unchanged"
    assert (again.doc_id, again.pages, again.registered_at) == (
        first.doc_id,
        first.pages,
        first.registered_at,
    )
    assert snapshot(client) == before
    # The same content written again through the store path is also a no-op.
    fps = tuple(
        (n, fp)
        for n, page in enumerate(Scanner(registry.config).read_pages(data, "notice.pdf"), 1)
        if (fp := fingerprint_page(page, registry.config.fingerprint)) is not None
    )
    prepared = PreparedDocument(first.doc_id, first.title, None, "notice.pdf", first.sha256, fps)
    assert registry.store([prepared])[0].outcome == "unchanged"
    assert snapshot(client) == before
    retitled = registry.register(data, "notice.pdf", title="新标题", level="秘密")
    assert retitled.outcome == "updated"
    assert registry.get(first.doc_id).title == "新标题"  # type: ignore[union-attr]
    assert set(snapshot(client)) == set(before)


def _encrypted_pdf(data: bytes) -> bytes:
    doc = pymupdf.open(stream=data, filetype="pdf")
    return doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="x", user_pw="x")


@pytest.mark.parametrize(
    ("name", "damage", "reason"),
    [
        ("truncated.pdf", lambda d: d[: len(d) * 2 // 3], "no readable text"),
        ("cut.pdf", lambda d: d[:400], "corrupt"),
        ("noise.pdf", lambda d: bytes(random.Random(1).getrandbits(8) for _ in range(4096)), ""),
        ("empty.pdf", lambda d: b"", ""),
        ("locked.pdf", _encrypted_pdf, "encrypted"),
    ],
)
def test_unreadable_file_fails_clearly_and_changes_nothing(
    registry: Registry,
    client: redis.Redis,
    notice: tuple[bytes, list[PageSpec]],
    name: str,
    damage: object,
    reason: str,
) -> None:
    data, _ = notice
    registry.register(data, "notice.pdf")
    before = snapshot(client)
    with pytest.raises(RegistrationError) as caught:
        registry.register(damage(data), name)  # type: ignore[operator]
    assert str(caught.value).startswith(name)
    assert reason in str(caught.value)
    assert snapshot(client) == before


def test_other_content_under_an_id_replaces_the_document(
    registry: Registry, client: redis.Redis, config: ScanConfig
) -> None:
    registry.store([synthetic("plan", 1)])
    old_ids = posted_page_ids(client)
    old_page = synthetic("plan", 1).pages[0][1]
    assert registry.lookup(old_page)
    result = registry.store([synthetic("plan", 2, pages=2)])[0]
    assert (result.outcome, result.pages) == ("replaced", 2)
    assert registry.lookup(old_page) == []
    assert not old_ids & posted_page_ids(client)
    new_page = synthetic("plan", 2).pages[1][1]
    assert [(m.doc_id, m.page) for m in registry.lookup(new_page)] == [("plan", 2)]
    assert_consistent(client, config)


def test_remove_leaves_no_trace(
    registry: Registry,
    client: redis.Redis,
    config: ScanConfig,
    notice: tuple[bytes, list[PageSpec]],
) -> None:
    data, _ = notice
    kept = registry.register(data, "notice.pdf")
    registry.store([synthetic("gone", 3), synthetic("gone-images", 4, text_poor=True)])
    gone_ids = posted_page_ids(client) - posted_page_ids_of(client, kept.doc_id)
    assert gone_ids
    assert registry.remove("gone") and registry.remove("gone-images")
    assert not registry.remove("gone")
    keys_left = {k.decode() for k in client.scan_iter(count=1000)}
    assert not {k for k in keys_left if "gone" in k}
    assert not {f"{keys.REGISTRY_PAGE}{i:x}" for i in gone_ids} & keys_left
    assert not gone_ids & posted_page_ids(client)
    assert [d.doc_id for d in registry.list()] == [kept.doc_id]
    assert_consistent(client, config)
    assert registry.remove(kept.doc_id)
    assert {k.decode() for k in client.scan_iter()} <= {
        keys.REGISTRY_META,
        keys.REGISTRY_NEXT_PAGE,
    }


def posted_page_ids_of(client: redis.Redis, doc_id: str) -> set[int]:
    raw = client.hget(keys.REGISTRY_DOC + doc_id, "page_ids") or b""
    return {int(i) for i in raw.decode().split(",") if i}


# --- looking up -----------------------------------------------------------------------------


def test_lookup_finds_pages_by_text_and_by_image(registry: Registry) -> None:
    registry.store([synthetic("text", 5), synthetic("scan", 6, pages=2, text_poor=True)])
    page = synthetic("text", 5).pages[1][1]
    # A capture shows part of the page and misreads some of it.
    rng = random.Random(7)
    seen = sorted(rng.sample(page.text_marks, 34) + rng.sample(range(1, 1 << 32, 4), 4))
    matches = registry.lookup(PageFingerprint(tuple(seen), 150))
    assert [(m.doc_id, m.page, m.methods) for m in matches] == [("text", 2, ("text",))]
    assert matches[0].title == "title of text" and matches[0].level == "秘密"
    image = synthetic("scan", 6, text_poor=True).pages[0][1]
    flipped = {name: h ^ (1 << 5) ^ (1 << 40) for name, h in image.image_hashes.items()}
    matches = registry.lookup(PageFingerprint((), 0, flipped))
    assert [(m.doc_id, m.page) for m in matches] == [("scan", 1)]
    assert matches[0].methods[0].startswith("image:")
    unrelated = synthetic("never", 8, pages=1).pages[0][1]
    assert registry.lookup(unrelated) == []
    other_image = synthetic("never", 9, pages=1, text_poor=True).pages[0][1]
    assert registry.lookup(other_image) == []


def test_lookup_on_an_empty_registry_writes_nothing(
    registry: Registry, client: redis.Redis
) -> None:
    assert registry.lookup(synthetic("x", 1).pages[0][1]) == []
    assert client.dbsize() == 0


def test_index_written_by_another_layout_is_refused(
    registry: Registry, client: redis.Redis
) -> None:
    client.hset(keys.REGISTRY_META, "layout", "some-other-layout")
    with pytest.raises(RegistryError, match="layout"):
        registry.store([synthetic("x", 1)])


def test_common_marks_are_left_out_of_the_vote() -> None:
    """A bucket longer than the cap comes back as its length and is not counted; a copy
    then needs fewer shared marks by as many."""
    fp = synthetic("q", 1, pages=1).pages[0][1]
    q = index.query(fp, image_below_marks=6)
    page_id = 77
    postings = index.postings([(page_id, fp)], image_below_marks=6)
    fetched: list[bytes | int] = [postings[key] for key in q.text_keys]
    rules = {"min_shared_marks": 3, "min_shared_share": 0.45, "max_hamming": 3}
    assert _candidates(q, fetched, fp, rules) == [page_id]
    # A page that shares only 10 of the 40 marks cannot pass verification (0.45 of them)...
    partial: list[bytes | int] = [b"" if i < 30 else blob for i, blob in enumerate(fetched)]
    assert _candidates(q, partial, fp, rules) == []
    # ...but when the other 30 are too common to fetch, the 10 left make it a candidate.
    common: list[bytes | int] = [10**6 if i < 30 else blob for i, blob in enumerate(fetched)]
    assert _candidates(q, common, fp, rules) == [page_id]


def test_hits_count_each_page_once_per_mark() -> None:
    """Votes and frequencies count pages, not records: a bucket fetched for two query marks,
    or holding a page's record twice, still gives one vote per (page, mark)."""
    fp = synthetic("q", 2, pages=1).pages[0][1]
    q = index.query(fp, image_below_marks=6)
    postings = index.postings([(5, fp), (9, fp)], image_below_marks=6)
    fetched: list[bytes | int] = [postings[key] * 2 for key in q.text_keys]  # every record twice
    hits = index.text_hits(q, fetched)
    assert sorted(set(hits.pages.tolist())) == [5, 9] and len(hits.pages) == 2 * len(fp.text_marks)
    assert set(index.mark_frequency(hits, fp.text_marks).values()) == {2}
    rules = {"min_shared_marks": 3, "min_shared_share": 0.9, "max_hamming": 3}
    assert _candidates(q, fetched, fp, rules) == [5, 9]


def _candidates(
    q: index.Query, fetched: list[bytes | int], fp: PageFingerprint, rules: dict[str, float]
) -> list[int]:
    hits = index.text_hits(q, fetched)
    weights = mark_weights(fp.text_marks, index.mark_frequency(hits, fp.text_marks))
    return index.candidates(q, hits, fetched, list(weights.values()), **rules, max_candidates=20)  # type: ignore[arg-type]


# --- concurrency ----------------------------------------------------------------------------


def _register_many(url: str, worker: int, config: ScanConfig) -> None:
    registry = Registry(redis.Redis.from_url(url), config)
    for round_ in range(12):
        # Every worker writes its own documents and rewrites two shared ids with its content.
        registry.store([synthetic(f"w{worker}-{round_}", 1000 * worker + round_)])
        # Seeds apart from the own documents' (1000 * worker + round_): no accidental twin.
        registry.store([synthetic(f"shared-{round_ % 2}", 100_000 + 100 * worker + round_)])
        if round_ % 4 == 3:
            registry.remove(f"w{worker}-{round_ - 1}")
    data, _ = official(1 + worker % 2, 0)
    registry.register(data, f"official-{worker}.pdf")


def test_concurrent_registrations_keep_the_index_consistent(
    registry: Registry, client: redis.Redis, config: ScanConfig, redis_dir: Path
) -> None:
    url = redis_url(redis_dir).url
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_register_many, args=(url, w, config)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=300)
        assert process.exitcode == 0
    doc_ids = {d.doc_id for d in registry.list()}
    own = {f"w{w}-{r}" for w in range(4) for r in range(12) if r % 4 != 2}
    assert own | {"shared-0", "shared-1"} <= doc_ids
    assert len(doc_ids) == len(own) + 2 + 2  # two distinct official PDFs, each once
    assert_consistent(client, config)
    for doc_id in own:
        worker, round_ = (int(x) for x in doc_id[1:].split("-"))
        page = synthetic(doc_id, 1000 * worker + round_).pages[0][1]
        assert [(m.doc_id, m.page) for m in registry.lookup(page)] == [(doc_id, 1)]


# --- export and import ----------------------------------------------------------------------


def test_export_then_import_into_a_fresh_server_gives_the_same_lookups(
    registry: Registry,
    client: redis.Redis,
    config: ScanConfig,
    tmp_path: Path,
    notice: tuple[bytes, list[PageSpec]],
) -> None:
    data, pages = notice
    registry.register(data, "notice.pdf", level="机密")
    registry.store([synthetic("images", 11, text_poor=True)])
    exported = io.StringIO()
    assert registry.export(exported) == 2
    photo = shoot(pages[1], "photo", SEED, "test-export", 1)
    page = next(Scanner(config).read_pages(photo.data, "photo.jpg"))
    query = fingerprint_page(page, config.fingerprint)
    assert query is not None
    image_query = synthetic("images", 11, text_poor=True).pages[2][1]
    expected = (registry.lookup(query), registry.lookup(image_query))
    assert expected[0] and expected[1]

    fresh_dir = tmp_path / "fresh"
    try:
        fresh = Registry(connect(fresh_dir), config)
        imported = fresh.import_(io.StringIO(exported.getvalue()))
        assert [d.outcome for d in imported] == ["registered", "registered"]
        assert fresh.list() == registry.list()
        assert (fresh.lookup(query), fresh.lookup(image_query)) == expected
        assert_consistent(fresh.client, config)
        again = fresh.import_(io.StringIO(exported.getvalue()))
        assert [d.outcome for d in again] == ["unchanged", "unchanged"]
    finally:
        stop_embedded(fresh_dir)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no header line"),
        ('{"format": "leaksentry-registry", "version": 1}\nnot json\n', "line 2: not JSON"),
        (
            '{"format": "leaksentry-registry", "version": 1}\n'
            '{"doc_id": "a", "title": "t", "sha256": "0", "pages": [{"page": 1, '
            '"fingerprint": "AAAA"}]}\n',
            "line 2: not a registered document",
        ),
    ],
)
def test_import_of_a_bad_export_writes_nothing(
    registry: Registry, client: redis.Redis, text: str, message: str
) -> None:
    registry.store([synthetic("kept", 1)])
    good = io.StringIO()
    registry.export(good)
    before = snapshot(client)
    lines = good.getvalue().splitlines(keepends=True)
    with pytest.raises(RegistryError, match=message):
        registry.import_(io.StringIO(text + "".join(lines[1:]) if text else ""))
    assert snapshot(client) == before
