"""How registered pages are found again: inverted indexes in Redis, candidates by vote.

Text. A page's marks are mixed (the murmur3 finaliser: marks are chosen by value, multiples of
the sample modulus, so their low bits are not random) and split into a bucket (the top
`TEXT_BUCKET_BITS` bits) and an 8-bit tag. One Redis string per bucket holds 4-byte records,
`page id | tag << 24`. A query fetches the buckets of its marks and counts, per page, the
records whose tag is one of its marks' tags there.

Images, of pages with too little text to verify by text (fewer than
`verify.image_max_text_marks` marks: perceptual hashes of text pages look alike, and
verification compares images only on such pages). Multi-index hashing: a 64-bit region hash
is cut into four 16-bit chunks, and a key per (chunk position, chunk value) holds 12-byte
records, page id and full hash, so that the Hamming distance is checked without another round
trip. Two hashes at most 3 bits apart share a chunk.

Why packed strings rather than SETs of page ids: a GET of a bucket is one bulk reply that numpy
reads in place, where a SET's members are each one reply element parsed in Python (some 40,000
per lookup at a million pages); and an intset turns into a hashtable of ~50 bytes a member past
512 members. Strings grow by APPEND (Redis keeps up to as much again in reserve, a third of
their size on average: the price of writing, and of logging to the append-only file, only what
is new) and are cleaned by the Lua script `REMOVE_PAGES`, atomic like every command.

A bucket that many pages share (a mark of a phrase common to documents, the hash of a blank
region) says little about which page a query is and costs the most to read: one longer than
`POSTING_CAP_FACTOR` times the mean bucket (and than `MIN_POSTING_CAP` bytes) is not fetched.
A copy shares all its other marks with the registered page, so candidates need fewer votes by
as many marks as were left out.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot import keys
from detectors.fingerprint import PageFingerprint

LAYOUT = "packed-v1:t18:g8:i4x16"
"""Stored in Redis: an index written with another layout must be exported and imported."""

TEXT_BUCKET_BITS = 18
TAG_BITS = 8
PAGE_ID_BITS = 24
MAX_PAGE_ID = (1 << PAGE_ID_BITS) - 1
IMAGE_CHUNKS = 4
IMAGE_CHUNK_BITS = 16
MIN_POSTING_CAP = 8 * 1024
POSTING_CAP_FACTOR = 8

TEXT_RECORD = np.dtype("<u4")
IMAGE_RECORD = np.dtype([("page", "<u4"), ("hash", "<u8")])

_MARK_BITS = 20
"""Bits of a query mark's index in a (page, query mark) key."""

U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]
_EMPTY: U32 = np.zeros(0, dtype=np.uint32)

# KEYS[1]: the registry's meta hash; KEYS[2..]: posting keys whose records start with the page
# id, 24 bits little-endian. ARGV[1]: the record width; ARGV[2]: the meta field that counts
# such records ('' for none); ARGV[3..]: the page ids to remove.
REMOVE_PAGES = """
local width = tonumber(ARGV[1])
local gone = {}
for i = 3, #ARGV do gone[tonumber(ARGV[i])] = true end
local removed = 0
for k = 2, #KEYS do
  local key = KEYS[k]
  local data = redis.call('GET', key)
  if data then
    local kept = {}
    for at = 1, #data, width do
      local a, b, c = string.byte(data, at, at + 2)
      if gone[a + b * 256 + c * 65536] then
        removed = removed + 1
      else
        kept[#kept + 1] = string.sub(data, at, at + width - 1)
      end
    end
    if #kept == 0 then
      redis.call('DEL', key)
    else
      redis.call('SET', key, table.concat(kept))
    end
  end
end
if ARGV[2] ~= '' then redis.call('HINCRBY', KEYS[1], ARGV[2], -removed) end
return removed
"""

# KEYS[1]: the meta hash; KEYS[2..]: posting keys. A posting string longer than the cap (the
# larger of ARGV[1] bytes and ARGV[2] times the mean text bucket, from the record count in the
# meta hash and ARGV[3] buckets of 4-byte records) comes back as its length, an integer; a
# missing one as ''.
FETCH_POSTINGS = """
local records = tonumber(redis.call('HGET', KEYS[1], ARGV[4]) or '0')
local cap = math.max(tonumber(ARGV[1]), tonumber(ARGV[2]) * records * 4 / tonumber(ARGV[3]))
local out = {}
for k = 2, #KEYS do
  local size = redis.call('STRLEN', KEYS[k])
  if size > cap then
    out[k - 1] = size
  elseif size > 0 then
    out[k - 1] = redis.call('GET', KEYS[k])
  else
    out[k - 1] = ''
  end
end
return out
"""

TEXT_RECORDS_FIELD = "text_records"
"""Meta hash field: text records in the index, for the mean bucket length."""


def fetch_arguments() -> list[int | str]:
    """ARGV of `FETCH_POSTINGS`."""
    return [MIN_POSTING_CAP, POSTING_CAP_FACTOR, 1 << TEXT_BUCKET_BITS, TEXT_RECORDS_FIELD]


def mix32(values: U32) -> U32:
    """The murmur3 32-bit finaliser: a bijection whose every output bit depends on every input
    bit."""
    h = values.astype(np.uint32, copy=True)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


def text_slots(marks: Sequence[int]) -> tuple[U32, U32]:
    """(bucket, tag) of each mark."""
    mixed = mix32(np.asarray(marks, dtype=np.uint32))
    return mixed >> np.uint32(32 - TEXT_BUCKET_BITS), mixed & np.uint32((1 << TAG_BITS) - 1)


def text_key(bucket: int) -> str:
    return f"{keys.REGISTRY_TEXT}{bucket:05x}"


def image_chunks(value: int) -> list[tuple[int, int]]:
    """(position, chunk value) of the four 16-bit chunks of a 64-bit hash."""
    mask = (1 << IMAGE_CHUNK_BITS) - 1
    return [(i, (value >> (IMAGE_CHUNK_BITS * i)) & mask) for i in range(IMAGE_CHUNKS)]


def image_key(position: int, chunk: int) -> str:
    return f"{keys.REGISTRY_IMAGE}{position}{chunk:04x}"


def posting_keys(fingerprint: PageFingerprint) -> tuple[list[str], list[str]]:
    """The text and the image posting keys a registered page may have records in (image
    keys whatever its marks: the threshold may have changed since it was written)."""
    buckets, _ = text_slots(fingerprint.text_marks)
    text = sorted({text_key(int(b)) for b in buckets})
    image = sorted(
        {image_key(*chunk) for h in fingerprint.image_hashes.values() for chunk in image_chunks(h)}
    )
    return text, image


def postings(
    pages: Iterable[tuple[int, PageFingerprint]], image_below_marks: int
) -> dict[str, bytes]:
    """Key -> the records to append there for these (page id, fingerprint) pairs; image
    hashes of the pages with fewer than `image_below_marks` marks."""
    text_ids: list[U32] = [_EMPTY]
    text_marks: list[U32] = [_EMPTY]
    image: dict[str, list[bytes]] = {}
    for page_id, fp in pages:
        text_marks.append(np.asarray(fp.text_marks, dtype=np.uint32))
        text_ids.append(np.full(len(fp.text_marks), page_id, dtype=np.uint32))
        if len(fp.text_marks) >= image_below_marks:
            continue
        for h in dict.fromkeys(fp.image_hashes.values()):
            record = np.array([(page_id, h)], dtype=IMAGE_RECORD).tobytes()
            for chunk in image_chunks(h):
                image.setdefault(image_key(*chunk), []).append(record)
    out = _grouped_text(np.concatenate(text_ids), np.concatenate(text_marks))
    out.update((key, b"".join(records)) for key, records in image.items())
    return out


def _grouped_text(page_ids: U32, marks: U32) -> dict[str, bytes]:
    if not len(marks):
        return {}
    buckets, tags = text_slots(marks)  # type: ignore[arg-type]
    records = (page_ids | (tags << np.uint32(PAGE_ID_BITS))).astype(TEXT_RECORD)
    order = np.argsort(buckets, kind="stable")
    buckets, records = buckets[order], records[order]
    bounds = [*np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]]).tolist(), len(buckets)]
    return {
        text_key(int(buckets[start])): records[start:end].tobytes()
        for start, end in itertools.pairwise(bounds)
    }


@dataclass(frozen=True)
class Query:
    """The posting keys a lookup fetches, and how to read what comes back."""

    text_keys: list[str]
    text_tags: U32
    """The tag each text key is fetched for (one key per query mark, repeats allowed)."""
    image_keys: list[str]
    image_hashes: U64
    """The query hash each image key is fetched for."""
    marks: int
    hashes: int

    @property
    def keys(self) -> list[str]:
        return [*self.text_keys, *self.image_keys]


def query(fingerprint: PageFingerprint, image_below_marks: int) -> Query:
    buckets, tags = text_slots(fingerprint.text_marks)
    use_image = len(fingerprint.text_marks) < image_below_marks
    hashes = list(dict.fromkeys(fingerprint.image_hashes.values())) if use_image else []
    chunks = [(h, chunk) for h in hashes for chunk in image_chunks(h)]
    return Query(
        text_keys=[text_key(int(b)) for b in buckets],
        text_tags=tags,
        image_keys=[image_key(*chunk) for _, chunk in chunks],
        image_hashes=np.array([h for h, _ in chunks], dtype=np.uint64),
        marks=len(buckets),
        hashes=len(hashes),
    )


@dataclass(frozen=True)
class TextHits:
    """The registered pages that hold the query's marks, from the fetched buckets: one entry
    per (page, query mark), sorted by page."""

    pages: npt.NDArray[np.int64]
    marks: npt.NDArray[np.int64]
    """Index of the query mark in `Query.text_keys`."""
    skipped: npt.NDArray[np.int64]
    """Per query mark: the length in records of a bucket too long to fetch, else 0."""


def text_hits(q: Query, fetched: Sequence[bytes | int]) -> TextHits:
    """Every record of the fetched buckets whose tag is its query mark's, once per (page,
    query mark) however many records of the page the bucket holds. One sort in all: this is
    most of a lookup's time on a large registry."""
    text_fetched = fetched[: len(q.text_keys)]
    skipped = np.array(
        [blob // TEXT_RECORD.itemsize if isinstance(blob, int) else 0 for blob in text_fetched],
        dtype=np.int64,
    )
    blobs = [b"" if isinstance(blob, int) else blob for blob in text_fetched]
    records = np.frombuffer(b"".join(blobs), dtype=TEXT_RECORD)
    owner = _owners(blobs, TEXT_RECORD.itemsize)
    hit = (records >> np.uint32(PAGE_ID_BITS)) == q.text_tags[owner]
    pages = (records[hit] & np.uint32(MAX_PAGE_ID)).astype(np.int64)
    pairs = np.sort(pages << _MARK_BITS | owner[hit])
    # Unique by sorting (np.unique hashes first: several times slower on these arrays).
    pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]] if len(pairs) else pairs
    return TextHits(pairs >> _MARK_BITS, pairs & ((1 << _MARK_BITS) - 1), skipped)


def mark_frequency(hits: TextHits, marks: Sequence[int]) -> dict[int, int]:
    """On how many registered pages each query mark stands (for `verify`'s weights); 0: on
    none; a bucket too long to fetch counts its length."""
    counts = np.bincount(hits.marks, minlength=len(marks))
    counts = np.where(hits.skipped > 0, np.maximum(1, hits.skipped), counts)
    return {mark: int(c) for mark, c in zip(marks, counts, strict=True)}


def candidates(
    q: Query,
    hits: TextHits,
    fetched: Sequence[bytes | int],
    weights: Sequence[float],
    *,
    min_shared_marks: int,
    min_shared_share: float,
    max_hamming: int,
    max_candidates: int,
) -> list[int]:
    """Page ids worth verifying, best first.

    A text candidate shares at least `min_shared_marks` of the query's marks, and at least
    `min_shared_share` of their weight (`weights`: what `verify` counts each query mark for),
    counting marks in buckets too long to fetch as shared: verification scores a text match by
    the weighted share of the query's marks it finds in place, so a page that shares less cannot
    pass. An image candidate has a region hash within `max_hamming` bits. Ranked by the weighted
    share of the query's marks plus the share of its hashes they match.
    """
    weight_of = np.asarray(weights, dtype=np.float64)
    total = float(weight_of.sum()) or 1.0
    least_weight = min_shared_share * total - float(weight_of[hits.skipped > 0].sum())
    pages, votes, weight = _text_votes(hits, weight_of)
    chosen = (votes >= min_shared_marks) & (weight >= least_weight - 1e-9)
    text_pages, text_score = pages[chosen], weight[chosen] / total
    image_blobs = [b"" if isinstance(b, int) else b for b in fetched[len(q.text_keys) :]]
    image_pages, image_votes = _image_votes(q.image_hashes, image_blobs, max_hamming)
    all_pages = np.concatenate([text_pages, image_pages.astype(np.int64)])
    all_scores = np.concatenate([text_score, image_votes / max(1, q.hashes)])
    unique, where = np.unique(all_pages, return_inverse=True)
    score = np.zeros(len(unique))
    np.add.at(score, where, all_scores)
    best = np.lexsort((unique, -score))[:max_candidates]
    return [int(page) for page in unique[best]]


def _owners(blobs: Sequence[bytes], width: int) -> npt.NDArray[np.intp]:
    """For each record of the concatenated blobs, the index of the blob it came from."""
    return np.repeat(np.arange(len(blobs)), [len(b) // width for b in blobs])


def _text_votes(
    hits: TextHits, weights: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """Pages with records of the query's marks: how many marks each shares, and their weight.
    `hits` is sorted by page, so each page is one run."""
    if not len(hits.pages):
        return hits.pages, np.zeros(0, dtype=np.intp), np.zeros(0)
    starts = np.flatnonzero(np.diff(hits.pages, prepend=-1))
    votes = np.diff(np.append(starts, len(hits.pages)))
    weight = np.add.reduceat(weights[hits.marks], starts)
    return hits.pages[starts], votes, weight


def _image_votes(
    hashes: U64, blobs: Sequence[bytes], max_hamming: int
) -> tuple[U32, npt.NDArray[np.intp]]:
    records = np.frombuffer(b"".join(blobs), dtype=IMAGE_RECORD)
    owner = _owners(blobs, IMAGE_RECORD.itemsize)
    near = np.bitwise_count(records["hash"] ^ hashes[owner]) <= max_hamming
    # One vote per (page, query hash), however many of its chunks led there.
    query_hash_index = owner[near] // IMAGE_CHUNKS
    pairs = np.unique(records["page"][near].astype(np.int64) << 8 | query_hash_index)
    return np.unique((pairs >> 8).astype(np.uint32), return_counts=True)
