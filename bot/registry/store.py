"""The registry of controlled documents: their pages' fingerprints in Redis, found again by
`lookup` for every page the scanner reads.

Keys (bot/keys.py, REGISTRY section):

- `ls:reg:d:<doc id>`: hash of the document (title, level, file name, SHA-256, page ids);
- `ls:reg:docs`: sorted set of doc ids by registration time;
- `ls:reg:p:<page id>`: one string per registered page: doc id, page number and the encoded
  fingerprint (what verification needs);
- `ls:reg:t:*`, `ls:reg:i:*`: the candidate index (see `bot.registry.index`);
- `ls:reg:next`: the last page id given out; `ls:reg:meta`: the index layout.

Writing is all or nothing: every page of a file is read and fingerprinted first, then one
MULTI/EXEC transaction writes the pages, their postings and the document, and removes what a
replaced version of the document had. WATCH on the document keys makes a concurrent change
of the same document retry instead of interleave; page ids come from INCRBY, so concurrent
registrations of different documents never share one.
"""

from __future__ import annotations

import base64
import builtins  # `Registry.list` shadows the name inside the class
import hashlib
import json
import logging
import struct
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

import redis

from bot import keys
from bot.redis_text import Fields, binaries, text, text_map
from bot.registry import index
from detectors import ScanConfig, Scanner
from detectors.errors import ScanError
from detectors.fingerprint import KnownMatch, PageFingerprint
from detectors.fingerprint.codec import decode, encode
from detectors.fingerprint.model import FINGERPRINT_VERSION
from detectors.fingerprint.page import fingerprint_page, registration_config
from detectors.fingerprint.verify import lowest_share, mark_weights, verify

log = logging.getLogger(__name__)

EXPORT_FORMAT = "leaksentry-registry"
EXPORT_VERSION = 1
MAX_DOC_ID_CHARS = 128
_KEYS_PER_COMMAND = 4096
"""Keys per command inside one transaction: bounds one command's argument list."""
_PAGE_HEADER = struct.Struct("<HI")
"""Page record: doc id length, page number; then the doc id (UTF-8) and the fingerprint."""

T = TypeVar("T")
Outcome = Literal["registered", "replaced", "updated", "unchanged", "stored"]


class RegistryError(Exception):
    """A clear, user-facing reason why a registry operation did not happen."""


class RegistrationError(RegistryError):
    """A file could not be registered; the registry is unchanged."""


class _ContentNeeded(RegistryError):
    """A document without pages would have been written (its stored content changed)."""


@dataclass(frozen=True)
class RegisteredDocument:
    doc_id: str
    title: str
    level: str | None
    filename: str
    sha256: str
    pages: int
    """Registered (fingerprinted) pages; blank pages have no fingerprint and are not counted."""
    registered_at: float
    outcome: Outcome = "stored"
    """What the call that returned it did: "registered", "replaced" (other content under the
    same id), "updated" (title or level only), "unchanged"; "stored" when read back."""

    def to_json(self) -> dict[str, object]:
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "level": self.level,
            "filename": self.filename,
            "sha256": self.sha256,
            "pages": self.pages,
            "registered_at": _iso(self.registered_at),
            "outcome": self.outcome,
        }


@dataclass(frozen=True)
class RegisteredPage:
    """One registered page as `registry show` lists it."""

    page: int
    page_id: int
    text_marks: int
    text_length: int
    image_regions: tuple[str, ...]
    layout_bytes: int
    stored_bytes: int
    current: bool = True
    """False: fingerprinted by another version, not compared any more; register it again."""

    def to_json(self) -> dict[str, object]:
        return {
            "current": self.current,
            "page": self.page,
            "page_id": self.page_id,
            "text_marks": self.text_marks,
            "text_length": self.text_length,
            "image_regions": list(self.image_regions),
            "layout_bytes": self.layout_bytes,
            "stored_bytes": self.stored_bytes,
        }


@dataclass(frozen=True)
class PreparedDocument:
    """A document's fingerprints, ready to be written (by `register`, import, benchmarks)."""

    doc_id: str
    title: str
    level: str | None
    filename: str
    sha256: str
    pages: tuple[tuple[int, PageFingerprint], ...]
    """(page number, fingerprint) of each page that has one."""
    registered_at: float = 0.0
    """0: now, when it is written."""


@dataclass(frozen=True)
class _Stored:
    """A document as it is in Redis, with what removing it must clean."""

    document: RegisteredDocument
    page_ids: tuple[int, ...]
    version: int


class Registry:
    """Registered controlled documents in Redis; implements `KnownDocuments` for the scanner."""

    def __init__(self, client: redis.Redis, config: ScanConfig) -> None:
        self.client = client
        self.config = config
        self._fetch = client.register_script(index.FETCH_POSTINGS)
        self._remove = client.register_script(index.REMOVE_PAGES)
        self._layout_checked = False
        # Verification compares images only on pages with fewer text marks: only those are
        # indexed (and looked up) by image. Changing it needs an export and an import.
        self._image_below_marks = config.fingerprint.verify.image_max_text_marks

    # --- registering ---------------------------------------------------------------------

    def register(
        self,
        data: bytes,
        filename: str,
        *,
        doc_id: str | None = None,
        title: str | None = None,
        level: str | None = None,
        scanner: Scanner | None = None,
    ) -> RegisteredDocument:
        """Register every page of a file (PDF, image, Office, OFD, ...). The same bytes again
        change nothing; other bytes under an existing `doc_id` replace that document, in the
        same transaction. A title or level not given is kept from the registered document
        (`level=""` clears it). Raises `RegistrationError`, leaving the registry as it was."""
        sha256 = hashlib.sha256(data).hexdigest()
        doc_id = check_doc_id(doc_id) if doc_id is not None else default_doc_id(sha256)
        current = self._stored(self.client, doc_id)
        # Not given: kept from the registered document, else the file name and no level.
        was = current.document if current else None
        title = (title or "").strip() or (was.title if was else Path(filename).stem)
        level = (level.strip() or None) if level is not None else (was.level if was else None)
        if current is not None and self._same_content(current, sha256):
            # Nothing to read again: at most the title or the level changes.
            try:
                return self.store(
                    [PreparedDocument(doc_id, title, level, filename, sha256, pages=())]
                )[0]
            except _ContentNeeded:
                pass  # replaced by other content meanwhile: register this one again
        pages = self._fingerprints(data, filename, scanner)
        return self.store([PreparedDocument(doc_id, title, level, filename, sha256, pages)])[0]

    def _fingerprints(
        self, data: bytes, filename: str, scanner: Scanner | None
    ) -> tuple[tuple[int, PageFingerprint], ...]:
        reader = scanner or Scanner(registration_config(self.config))
        pages: list[tuple[int, PageFingerprint]] = []
        number = 0
        try:
            for page in reader.read_pages(data, filename):
                if page.is_metadata:
                    continue
                number += 1
                fp = fingerprint_page(page, self.config.fingerprint)
                if fp is not None:
                    pages.append((number, fp))
        except ScanError as exc:
            raise RegistrationError(f"{filename}: cannot be read ({exc})") from exc
        except Exception as exc:  # a library crash on hostile input: a clear error all the same
            raise RegistrationError(
                f"{filename}: cannot be read (internal: {type(exc).__name__}: {exc})"
            ) from exc
        # A damaged file that a reader repairs gives pages without text whose images are blank:
        # registered, they would match every blank page. A document needs readable text.
        least = self.config.fingerprint.verify.min_query_marks
        if not any(len(fp.text_marks) >= least for _, fp in pages):
            raise RegistrationError(
                f"{filename}: no readable text on any of its {number} page(s) (damaged, "
                "or a picture without text): nothing to recognise it by"
            )
        return tuple(pages)

    def store(self, documents: Sequence[PreparedDocument]) -> list[RegisteredDocument]:
        """Write documents in one transaction (the one write path: register, import, bulk
        loads). A document whose `pages` is empty and that is stored with the same SHA-256
        only has its title and level updated."""
        if not documents:
            return []
        self._check_layout(create=True)
        docs = list({d.doc_id: d for d in documents}.values())
        doc_keys = [_doc_key(d.doc_id) for d in docs]
        new_ids: list[int] = []
        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(*doc_keys)
                    # Read on another connection, in one round trip: WATCH still sees any
                    # change made after it, whoever reads.
                    current = self._stored_many([d.doc_id for d in docs])
                    outcomes = [self._outcome(d, c) for d, c in zip(docs, current, strict=True)]
                    rewritten = [
                        (d, c)
                        for d, c, o in zip(docs, current, outcomes, strict=True)
                        if o in ("registered", "replaced")
                    ]
                    needed = sum(len(d.pages) for d, _ in rewritten)
                    if len(new_ids) < needed:
                        new_ids += self._allocate(needed - len(new_ids))
                    old = [c for _, c in rewritten if c is not None]
                    old_keys = self._posting_keys_of([i for c in old for i in c.page_ids])
                    pipe.multi()
                    self._queue_removal(pipe, old, old_keys)
                    results = self._queue_writes(pipe, docs, current, outcomes, new_ids)
                    if rewritten:
                        pipe.hincrby(keys.REGISTRY_META, GENERATION_FIELD, 1)
                    pipe.execute()
                    return results
                except redis.WatchError:
                    continue

    def _outcome(self, doc: PreparedDocument, current: _Stored | None) -> Outcome:
        if current is None or not self._same_content(current, doc.sha256):
            if not doc.pages:
                raise _ContentNeeded(f"{doc.doc_id}: no page to register")
            return "registered" if current is None else "replaced"
        was = current.document
        return "unchanged" if (was.title, was.level) == (doc.title, doc.level) else "updated"

    @staticmethod
    def _same_content(current: _Stored, sha256: str) -> bool:
        return current.document.sha256 == sha256 and current.version == FINGERPRINT_VERSION

    def _allocate(self, count: int) -> list[int]:
        last = int(self.client.incrby(keys.REGISTRY_NEXT_PAGE, count))
        if last > index.MAX_PAGE_ID:
            raise RegistryError(
                f"the registry has given out {index.MAX_PAGE_ID:,} page ids, its limit: "
                "export it and import it into an empty database to number pages afresh"
            )
        return list(range(last - count + 1, last + 1))

    def _queue_writes(
        self,
        pipe: redis.client.Pipeline,
        docs: list[PreparedDocument],
        current: list[_Stored | None],
        outcomes: list[Outcome],
        new_ids: list[int],
    ) -> list[RegisteredDocument]:
        ids = iter(new_ids)
        now = time.time()
        results: list[RegisteredDocument] = []
        indexed: list[tuple[int, PageFingerprint]] = []
        records: dict[str, bytes] = {}
        for doc, was, outcome in zip(docs, current, outcomes, strict=True):
            if outcome in ("unchanged", "updated"):
                assert was is not None
                kept = replace(was.document, title=doc.title, level=doc.level, outcome=outcome)
                if outcome == "updated":
                    pipe.hset(_doc_key(doc.doc_id), mapping=_doc_fields(kept))
                results.append(kept)
                continue
            page_ids = [next(ids) for _ in doc.pages]
            for page_id, (number, fp) in zip(page_ids, doc.pages, strict=True):
                records[_page_key(page_id)] = _page_record(doc.doc_id, number, encode(fp))
                indexed.append((page_id, fp))
            registered = RegisteredDocument(
                doc_id=doc.doc_id,
                title=doc.title,
                level=doc.level,
                filename=doc.filename,
                sha256=doc.sha256,
                pages=len(doc.pages),
                registered_at=doc.registered_at or now,
                outcome=outcome,
            )
            doc_key = _doc_key(doc.doc_id)
            pipe.hset(doc_key, mapping={**_doc_fields(registered), **_page_fields(page_ids)})
            pipe.zadd(keys.REGISTRY_DOCS, {doc.doc_id: registered.registered_at})
            results.append(registered)
        for chunk in _chunks(list(records.items()), _KEYS_PER_COMMAND):
            pipe.mset(dict(chunk))
        for key, appended in index.postings(indexed, self._image_below_marks).items():
            pipe.append(key, appended)
        if indexed:
            text_records = sum(len(fp.text_marks) for _, fp in indexed)
            pipe.hincrby(keys.REGISTRY_META, index.TEXT_RECORDS_FIELD, text_records)
            pipe.hincrby(keys.REGISTRY_META, PAGES_FIELD, len(indexed))
        return results

    # --- removing ------------------------------------------------------------------------

    def remove(self, doc_id: str) -> bool:
        """Remove a document and every trace of it: its record, its pages, every posting of
        theirs, the console's thumbnail of its first page. False when there was no such
        document."""
        self._check_layout(create=False)
        doc_key = _doc_key(doc_id)
        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(doc_key)
                    current = self._stored(pipe, doc_id)
                    if current is None:
                        pipe.unwatch()
                        return False
                    old_keys = self._posting_keys_of(list(current.page_ids))
                    pipe.multi()
                    self._queue_removal(pipe, [current], old_keys)
                    pipe.delete(keys.CONSOLE_THUMBNAIL + doc_id)
                    pipe.hincrby(keys.REGISTRY_META, GENERATION_FIELD, 1)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue

    def _queue_removal(
        self,
        pipe: redis.client.Pipeline,
        documents: list[_Stored],
        posting_keys: tuple[set[str], set[str]],
    ) -> None:
        page_ids = [i for d in documents for i in d.page_ids]
        if not documents:
            return
        text_keys, image_keys = posting_keys
        for where, record in ((text_keys, index.TEXT_RECORD), (image_keys, index.IMAGE_RECORD)):
            for chunk in _chunks(sorted(where), _KEYS_PER_COMMAND):
                counter = index.TEXT_RECORDS_FIELD if record is index.TEXT_RECORD else ""
                self._remove(
                    keys=[keys.REGISTRY_META, *chunk],
                    args=[record.itemsize, counter, *page_ids],
                    client=pipe,
                )
        for chunk in _chunks([_page_key(i) for i in page_ids], _KEYS_PER_COMMAND):
            pipe.delete(*chunk)
        pipe.hincrby(keys.REGISTRY_META, PAGES_FIELD, -len(page_ids))
        for d in documents:
            pipe.delete(_doc_key(d.document.doc_id))
            pipe.zrem(keys.REGISTRY_DOCS, d.document.doc_id)

    # --- reading -------------------------------------------------------------------------

    def get(self, doc_id: str) -> RegisteredDocument | None:
        stored = self._stored(self.client, doc_id)
        return stored.document if stored else None

    def generation(self) -> int:
        """A number that changes whenever a document's pages are added, replaced or removed:
        a scan result cached under another generation may miss (or wrongly keep) a match."""
        return int(self.client.hget(keys.REGISTRY_META, GENERATION_FIELD) or 0)

    def count(self) -> int:
        """Registered documents."""
        return int(self.client.zcard(keys.REGISTRY_DOCS))

    def list(self) -> list[RegisteredDocument]:
        """Every registered document, oldest first."""
        doc_ids = [text(d) for d in self.client.zrange(keys.REGISTRY_DOCS, 0, -1)]
        return [s.document for s in self._stored_many(doc_ids) if s is not None]

    def pages(self, doc_id: str) -> builtins.list[RegisteredPage]:
        """The registered pages of a document, in page order (empty when it is unknown)."""
        stored = self._stored(self.client, doc_id)
        if stored is None:
            return []
        out = []
        raw = (
            binaries(self.client.mget([_page_key(i) for i in stored.page_ids]))
            if stored.page_ids
            else []
        )
        for page_id, record in zip(stored.page_ids, raw, strict=True):
            if record is None:
                continue
            _, number, blob = _parse_page(record)
            try:
                fp: PageFingerprint | None = decode(blob)
            except ValueError:
                fp = None
            out.append(
                RegisteredPage(
                    page=number,
                    page_id=page_id,
                    text_marks=len(fp.text_marks) if fp else 0,
                    text_length=fp.text_length if fp else 0,
                    image_regions=tuple(fp.image_hashes) if fp else (),
                    layout_bytes=len(fp.layout) if fp else 0,
                    stored_bytes=len(record),
                    current=fp is not None,
                )
            )
        return sorted(out, key=lambda p: p.page)

    def _stored(self, client: redis.Redis | redis.client.Pipeline, doc_id: str) -> _Stored | None:
        fields = client.hgetall(_doc_key(doc_id))
        return _parse_doc(doc_id, fields) if fields else None

    def _stored_many(self, doc_ids: builtins.list[str]) -> builtins.list[_Stored | None]:
        pipe = self.client.pipeline(transaction=False)
        for doc_id in doc_ids:
            pipe.hgetall(_doc_key(doc_id))
        return [
            _parse_doc(doc_id, fields) if fields else None
            for doc_id, fields in zip(doc_ids, pipe.execute(), strict=True)
        ]

    def _posting_keys_of(self, page_ids: builtins.list[int]) -> tuple[set[str], set[str]]:
        """The text and image posting keys that hold records of these pages. A page whose
        fingerprint no longer decodes (written by another fingerprint version) may have
        records anywhere: then every posting key."""
        text_keys: set[str] = set()
        image_keys: set[str] = set()
        records = binaries(self.client.mget([_page_key(i) for i in page_ids])) if page_ids else []
        for record in records:
            if record is None:
                continue
            try:
                fp = decode(_parse_page(record)[2])
            except ValueError:
                return self._every_posting_key()
            page_text, page_image = index.posting_keys(fp)
            text_keys.update(page_text)
            image_keys.update(page_image)
        return text_keys, image_keys

    def _every_posting_key(self) -> tuple[set[str], set[str]]:
        text_keys, image_keys = (
            {text(k) for k in self.client.scan_iter(match=prefix + "*", count=10_000)}
            for prefix in (keys.REGISTRY_TEXT, keys.REGISTRY_IMAGE)
        )
        return text_keys, image_keys

    # --- looking up ----------------------------------------------------------------------

    def lookup(self, fingerprint: PageFingerprint) -> builtins.list[KnownMatch]:
        """Registered pages `fingerprint` is a copy of, best first: candidates from the index
        (two round trips), then each verified against the stored fingerprint."""
        settings = self.config.fingerprint
        q = index.query(fingerprint, self._image_below_marks)
        if not q.keys or not self._check_layout(create=False):
            return []
        blobs = self._fetch(keys=[keys.REGISTRY_META, *q.keys], args=index.fetch_arguments())
        hits = index.text_hits(q, blobs)
        frequency = index.mark_frequency(hits, fingerprint.text_marks)
        population = int(self.client.hget(keys.REGISTRY_META, PAGES_FIELD) or 0)
        weights = mark_weights(fingerprint.text_marks, frequency)
        page_ids = index.candidates(
            q,
            hits,
            blobs,
            list(weights.values()),
            min_shared_marks=settings.index.min_shared_marks,
            min_shared_share=lowest_share(fingerprint, weights, settings, population),
            max_hamming=settings.index.max_hamming,
            max_candidates=settings.index.max_candidates,
        )
        if not page_ids:
            return []
        found: list[tuple[str, int, float, tuple[str, ...]]] = []
        for record in binaries(self.client.mget([_page_key(i) for i in page_ids])):
            if record is None:  # removed since the postings were read
                continue
            doc_id, number, blob = _parse_page(record)
            try:
                reference = decode(blob)
            except ValueError as exc:
                log.warning("registered %s p. %d cannot be compared: %s", doc_id, number, exc)
                continue
            match = verify(fingerprint, reference, settings, frequency, population)
            if match is not None:
                found.append((doc_id, number, match.score, match.methods))
        return self._known_matches(found)

    def _known_matches(
        self, found: builtins.list[tuple[str, int, float, tuple[str, ...]]]
    ) -> builtins.list[KnownMatch]:
        if not found:
            return []
        doc_ids = list(dict.fromkeys(doc_id for doc_id, *_ in found))
        pipe = self.client.pipeline(transaction=False)
        for doc_id in doc_ids:
            pipe.hmget(_doc_key(doc_id), ["title", "level"])
        meta = dict(zip(doc_ids, pipe.execute(), strict=True))
        matches = [
            KnownMatch(
                doc_id=doc_id,
                page=number,
                title=text(meta[doc_id][0] or b""),
                level=text(meta[doc_id][1] or b"") or None,
                score=score,
                methods=methods,
            )
            for doc_id, number, score, methods in found
        ]
        return sorted(matches, key=lambda m: (-m.score, m.doc_id, m.page))

    def _check_layout(self, *, create: bool) -> bool:
        """Refuse to read or write an index laid out by another version of this module.
        False when there is no index yet (and `create` is false)."""
        if self._layout_checked:
            return True
        if create:
            self.client.hsetnx(keys.REGISTRY_META, "layout", index.LAYOUT)
        layout = self.client.hget(keys.REGISTRY_META, "layout")
        if layout is None:
            return False
        if text(layout) != index.LAYOUT:
            raise RegistryError(
                f"the registry in Redis has index layout {text(layout)!r}, this version "
                f"reads {index.LAYOUT!r}: export it with the version that wrote it, then import"
            )
        self._layout_checked = True
        return True

    # --- export and import ---------------------------------------------------------------

    def export(self, stream: IO[str]) -> int:
        """Write every document as JSON Lines (a header line, then one line per document with
        its pages' fingerprints in base64). Returns the number of documents."""
        stream.write(
            json.dumps(
                {
                    "format": EXPORT_FORMAT,
                    "version": EXPORT_VERSION,
                    "fingerprint_version": FINGERPRINT_VERSION,
                }
            )
            + "\n"
        )
        count = 0
        for doc_id in [text(d) for d in self.client.zrange(keys.REGISTRY_DOCS, 0, -1)]:
            stored = self._stored(self.client, doc_id)
            if stored is None:
                continue
            records = binaries(self.client.mget([_page_key(i) for i in stored.page_ids]))
            pages = sorted(_parse_page(r)[1:] for r in records if r is not None)
            line = {
                **stored.document.to_json(),
                "registered_at": stored.document.registered_at,
                "pages": [
                    {"page": number, "fingerprint": base64.b64encode(blob).decode("ascii")}
                    for number, blob in pages
                ],
            }
            del line["outcome"]
            stream.write(json.dumps(line, ensure_ascii=False) + "\n")
            count += 1
        return count

    def import_(
        self, stream: IO[str], *, batch_pages: int = 20_000
    ) -> builtins.list[RegisteredDocument]:
        """Read an export and index its documents (no original file needed). Every line is
        checked before anything is written; a document already registered with the same
        content stays as it is, one with other content is replaced."""
        documents = list(_read_export(stream))
        results: list[RegisteredDocument] = []
        batch: list[PreparedDocument] = []
        for doc in documents:
            batch.append(doc)
            if sum(len(d.pages) for d in batch) >= batch_pages:
                results += self.store(batch)
                batch = []
        if batch:
            results += self.store(batch)
        return results


GENERATION_FIELD = "generation"
"""Meta hash field: bumped by every change of the registered pages."""
PAGES_FIELD = "pages"
"""Meta hash field: registered pages, the population that mark frequencies are counted in."""


def default_doc_id(sha256: str) -> str:
    """The id of a document registered without one: the same bytes always get the same id."""
    return sha256[:16]


def check_doc_id(doc_id: str) -> str:
    """A usable document id, or ValueError saying why not."""
    doc_id = doc_id.strip()
    if not doc_id:
        raise ValueError("a document id must not be empty")
    if len(doc_id) > MAX_DOC_ID_CHARS:
        raise ValueError(f"a document id has at most {MAX_DOC_ID_CHARS} characters")
    if any(not ch.isprintable() for ch in doc_id):
        raise ValueError("a document id must not contain control characters")
    return doc_id


def _read_export(stream: IO[str]) -> Iterator[PreparedDocument]:
    lines = iter(enumerate(stream, start=1))
    first = next(lines, None)
    header = _json_line(first[1], 1) if first else None
    if not header or header.get("format") != EXPORT_FORMAT:
        raise RegistryError("not a leaksentry registry export (no header line)")
    if header.get("version") != EXPORT_VERSION:
        raise RegistryError(f"export version {header.get('version')!r} is not {EXPORT_VERSION}")
    for number, line in lines:
        if line.strip():
            yield _export_document(_json_line(line, number), number)


def _json_line(line: str, number: int) -> dict[str, object]:
    try:
        value = json.loads(line)
    except ValueError as exc:
        raise RegistryError(f"line {number}: not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise RegistryError(f"line {number}: expected a JSON object")
    return value


def _export_document(line: dict[str, object], number: int) -> PreparedDocument:
    try:
        pages = tuple(
            (int(p["page"]), decode(base64.b64decode(p["fingerprint"], validate=True)))
            for p in line["pages"]  # type: ignore[attr-defined]
        )
        level = line.get("level")
        return PreparedDocument(
            doc_id=check_doc_id(str(line["doc_id"])),
            title=str(line["title"]),
            level=str(level) if level else None,
            filename=str(line.get("filename", "")),
            sha256=str(line["sha256"]),
            pages=pages,
            registered_at=float(line.get("registered_at") or 0.0),  # type: ignore[arg-type]
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RegistryError(f"line {number}: not a registered document: {exc}") from exc


def _doc_key(doc_id: str) -> str:
    return keys.REGISTRY_DOC + doc_id


def _page_key(page_id: int) -> str:
    return f"{keys.REGISTRY_PAGE}{page_id:x}"


def _page_record(doc_id: str, number: int, fingerprint: bytes) -> bytes:
    raw_id = doc_id.encode()
    return _PAGE_HEADER.pack(len(raw_id), number) + raw_id + fingerprint


def _parse_page(record: bytes) -> tuple[str, int, bytes]:
    """(doc id, page number, encoded fingerprint)."""
    id_length, number = _PAGE_HEADER.unpack_from(record)
    start = _PAGE_HEADER.size
    return record[start : start + id_length].decode(), number, record[start + id_length :]


def _doc_fields(doc: RegisteredDocument) -> Fields:
    return {
        "title": doc.title,
        "level": doc.level or "",
        "filename": doc.filename,
        "sha256": doc.sha256,
        "registered_at": repr(doc.registered_at),
        "version": str(FINGERPRINT_VERSION),
    }


def _page_fields(page_ids: list[int]) -> Fields:
    return {"page_ids": ",".join(map(str, page_ids))}


def _parse_doc(doc_id: str, raw: Mapping[Any, Any]) -> _Stored:
    fields = text_map(raw)
    page_ids = tuple(int(i) for i in fields.get("page_ids", "").split(",") if i)
    document = RegisteredDocument(
        doc_id=doc_id,
        title=fields.get("title", ""),
        level=fields.get("level") or None,
        filename=fields.get("filename", ""),
        sha256=fields.get("sha256", ""),
        pages=len(page_ids),
        registered_at=float(fields.get("registered_at", "0")),
    )
    return _Stored(document, page_ids, int(fields.get("version", "0")))


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def _chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
