"""Is a query page a copy of a reference page? One score from the fingerprints that apply.

- text + layout (both pages have placed marks): the share of the query's marks that one
  transform carries onto the reference's places. Template text is already left out of the
  marks; what a same-template sibling still shares (addressee, formulas, sentences) either
  stands elsewhere on its page or is too little of the query.
- text (either page has no layout: a DOCX, a re-typed text): the share of the query's marks
  found in the reference, scaled so that `verify.text_only_threshold` meets `threshold`.
- distinctive (a registry large enough for mark frequencies to mean something): many of the
  query's marks that stand on this registered page and on no other one, in place, are a copy
  even when OCR noise keeps the share low (a dense table, a small print); a sibling shares
  formulas, which stand on many pages, not the original's own words.
- image (a page with too little text to judge): region hashes within `image_max_hamming`;
  "page" and "body" must both agree, so a shared header band alone never matches.
- document number: both pages carry the same 发文字号 (agency code, year and serial name one
  document). A photo of the header alone shows nothing else of the document; where the query
  has text enough to judge, some of it must be the reference's too.

Weighting makes rare marks heavy, so every text match must also hold
`verify.min_plain_share` of the query's marks counted once: a sibling that quotes one
sentence only the original has is not carried by that sentence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from detectors.config import FingerprintSettings
from detectors.fingerprint.image import hamming
from detectors.fingerprint.layout import agreeing_marks, chained_marks, unpack
from detectors.fingerprint.model import PageFingerprint, PageMatch
from detectors.fingerprint.text import doc_number_marks

_IMAGE_REGIONS = ("page", "body")


def verify(
    query: PageFingerprint,
    reference: PageFingerprint,
    settings: FingerprintSettings,
    frequency: Mapping[int, int] | None = None,
    population: int = 0,
) -> PageMatch | None:
    """The match of `query` against `reference`, or None when it scores below the threshold.

    `frequency`: for the query's text marks, on how many registered pages each stands (a
    registry has that from its index). A mark counts 1/frequency (1 when on no page), so
    that boilerplate many documents share (为深入贯彻落实党中央…) weighs little on either
    side of the score. Without it every mark counts 1. `population`: the registered pages
    those frequencies are counted in; below `verify.distinctive.min_population` a mark on one
    page says nothing about its rarity, and the distinctive rule is off.
    Fingerprints of different versions never match (stored ones are decoded with a check).
    """
    if query.version != reference.version:
        return None
    counts = frequency or {}
    weights = mark_weights(query.text_marks, counts if frequency is not None else None)
    rare = _rare_marks(query, counts, settings, population)
    found = [
        m
        for m in (
            _text_match(query, reference, settings, weights, rare),
            _image_match(query, reference, settings),
            _doc_number_match(query, reference, settings),
        )
        if m is not None and m.score >= settings.verify.threshold
    ]
    return max(found, key=lambda m: m.score, default=None)


def mark_weights(marks: Sequence[int], frequency: Mapping[int, int] | None) -> dict[int, float]:
    """What each query mark counts: 1/f for a mark on f registered pages. A mark on none (OCR
    noise, or text no registered page has) tells nothing about any of them: it counts as the
    query's average known mark, so that noise does not outweigh a copy's common words."""
    if frequency is None:
        return dict.fromkeys(marks, 1.0)
    known = [1.0 / frequency[m] for m in marks if frequency.get(m, 0) > 0]
    unknown = sum(known) / len(known) if known else 1.0
    return {m: 1.0 / frequency[m] if frequency.get(m, 0) > 0 else unknown for m in marks}


def lowest_share(
    query: PageFingerprint,
    weights: Mapping[int, float],
    settings: FingerprintSettings,
    population: int,
) -> float:
    """The least weighted share of a query's marks (`weights`, from `mark_weights`) a
    registered page must hold to be worth verifying (the registry's candidate filter): what a
    text match needs, or what the query's 发文字号 marks weigh, since a page with the same
    number may match by it alone."""
    rule = settings.verify.distinctive
    share = settings.verify.threshold
    if population >= rule.min_population:
        share = min(share, rule.min_share)
    if query.doc_number and weights:
        number = doc_number_marks(query.doc_number, settings.text)
        share = min(share, sum(weights.get(m, 0.0) for m in number) / sum(weights.values()))
    return share


def _rare_marks(
    query: PageFingerprint,
    counts: Mapping[int, int],
    settings: FingerprintSettings,
    population: int,
) -> frozenset[int]:
    """The query's marks that stand on exactly one registered page (empty when the registry
    is too small for that to mean rare)."""
    if population < settings.verify.distinctive.min_population:
        return frozenset()
    return frozenset(m for m in query.text_marks if counts.get(m, 0) == 1)


def _text_match(
    query: PageFingerprint,
    reference: PageFingerprint,
    settings: FingerprintSettings,
    weights: dict[int, float],
    rare: frozenset[int],
) -> PageMatch | None:
    if len(query.text_marks) < settings.verify.min_query_marks or not reference.text_marks:
        return None
    shared = set(query.text_marks).intersection(reference.text_marks)
    if not _could_match(shared, weights, rare, settings):
        return None  # what agrees in place is a part of what is shared: no need to look
    query_layout = unpack(query.layout, query.text_marks)
    reference_layout = unpack(reference.layout, reference.text_marks)
    if query_layout is None or reference_layout is None:
        matched = shared
        methods: tuple[str, ...] = ("text",)
        text_only = True
    elif query_layout.linear or reference_layout.linear:
        matched = chained_marks(query_layout, reference_layout)
        methods, text_only = ("text", "order"), True
    else:
        agreement = agreeing_marks(query_layout, reference_layout, settings.layout)
        if agreement.lines < settings.verify.min_matched_lines:
            return None  # one line in place: a title that another document may share
        matched = agreement.marks
        methods, text_only = ("text", "layout"), False
    if len(matched) < settings.verify.min_plain_share * len(weights):
        return None  # however rare the agreeing marks, they are little of the query
    match = _score(matched, weights, settings, methods, text_only=text_only)
    return _distinctive(match, matched, weights, rare, settings)


def _could_match(
    shared: set[int],
    weights: dict[int, float],
    rare: frozenset[int],
    settings: FingerprintSettings,
) -> bool:
    """Whether marks matched among `shared` could pass `_text_match` at all: every rule there
    holds for the matched marks only if it holds for all the shared ones, and a placed match
    scores highest."""
    if len(shared) < settings.verify.min_plain_share * len(weights):
        return False
    best = _score(shared, weights, settings, (), text_only=False)
    return _distinctive(best, shared, weights, rare, settings).score >= settings.verify.threshold


def _score(
    matched: set[int],
    weights: dict[int, float],
    settings: FingerprintSettings,
    methods: tuple[str, ...],
    *,
    text_only: bool,
) -> PageMatch:
    """The weighted share of the query's marks matched. Without places to compare
    (`text_only`), more must be found: `text_only_threshold` of it scores `threshold`."""
    rules = settings.verify
    weight = sum(weights[m] for m in matched)
    if len(matched) < rules.min_matched_marks or weight < rules.min_matched_weight:
        return PageMatch(0.0, methods)
    share = weight / sum(weights.values())
    if text_only:
        share *= rules.threshold / rules.text_only_threshold
    return PageMatch(round(min(1.0, share), 4), methods)


def _distinctive(
    match: PageMatch,
    matched: set[int],
    weights: dict[int, float],
    rare: frozenset[int],
    settings: FingerprintSettings,
) -> PageMatch:
    """`match`, or a match at the threshold when enough of the page's own marks agree."""
    rule = settings.verify.distinctive
    if match.score >= settings.verify.threshold or len(matched & rare) < rule.min_marks:
        return match
    share = sum(weights[m] for m in matched) / sum(weights.values())
    if share < rule.min_share:
        return match
    return PageMatch(settings.verify.threshold, (*match.methods, "distinctive"))


def _doc_number_match(
    query: PageFingerprint, reference: PageFingerprint, settings: FingerprintSettings
) -> PageMatch | None:
    if not query.doc_number or query.doc_number != reference.doc_number:
        return None
    rules = settings.verify
    own = set(query.text_marks).difference(doc_number_marks(query.doc_number, settings.text))
    shared = own.intersection(reference.text_marks)
    if len(own) >= rules.min_query_marks and len(shared) < rules.min_plain_share * len(own):
        return None  # its text is another document's: the number was misread
    return PageMatch(rules.threshold, ("doc_number",))


def _image_match(
    query: PageFingerprint, reference: PageFingerprint, settings: FingerprintSettings
) -> PageMatch | None:
    """Only for pages with little text: text pages look alike to perceptual hashes."""
    rules = settings.verify
    if max(len(query.text_marks), len(reference.text_marks)) >= rules.image_max_text_marks:
        return None
    distances = [
        hamming(query.image_hashes[name], reference.image_hashes[name])
        for name in _IMAGE_REGIONS
        if name in query.image_hashes and name in reference.image_hashes
    ]
    if len(distances) < len(_IMAGE_REGIONS) or max(distances) > rules.image_max_hamming:
        return None
    score = 1.0 - max(distances) / 64
    return PageMatch(round(score, 4), tuple(f"image:{name}" for name in _IMAGE_REGIONS))
