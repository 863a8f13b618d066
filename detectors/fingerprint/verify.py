"""Is a query page a copy of a reference page? One score from the fingerprints that apply.

- text + layout (both pages have placed marks): the share of the query's marks that one
  transform carries onto the reference's places. Template text is already left out of the
  marks; what a same-template sibling still shares (addressee, formulas, sentences) either
  stands elsewhere on its page or is too little of the query.
- text (either page has no layout: a DOCX, a re-typed text): the share of the query's marks
  found in the reference, scaled so that `verify.text_only_threshold` meets `threshold`.
- image (a page with too little text to judge): region hashes within `image_max_hamming`;
  "page" and "body" must both agree, so a shared header band alone never matches.
"""

from __future__ import annotations

from collections.abc import Mapping

from detectors.config import FingerprintSettings
from detectors.fingerprint.image import hamming
from detectors.fingerprint.layout import agreeing_marks, chained_marks, unpack
from detectors.fingerprint.model import PageFingerprint, PageMatch

_IMAGE_REGIONS = ("page", "body")


def verify(
    query: PageFingerprint,
    reference: PageFingerprint,
    settings: FingerprintSettings,
    frequency: Mapping[int, int] | None = None,
) -> PageMatch | None:
    """The match of `query` against `reference`, or None when it scores below the threshold.

    `frequency`: for the query's text marks, on how many registered pages each stands (a
    registry has that from its index). A mark counts 1/frequency (1 when on no page), so
    that boilerplate many documents share (为深入贯彻落实党中央…) weighs little on either
    side of the score. Without it every mark counts 1.
    Fingerprints of different versions never match (stored ones are decoded with a check).
    """
    if query.version != reference.version:
        return None
    weights = {m: 1.0 / max(1, (frequency or {}).get(m, 1)) for m in query.text_marks}
    found = [
        m
        for m in (
            _text_match(query, reference, settings, weights),
            _image_match(query, reference, settings),
        )
        if m is not None and m.score >= settings.verify.threshold
    ]
    return max(found, key=lambda m: m.score, default=None)


def _text_match(
    query: PageFingerprint,
    reference: PageFingerprint,
    settings: FingerprintSettings,
    weights: dict[int, float],
) -> PageMatch | None:
    if len(query.text_marks) < settings.verify.min_query_marks or not reference.text_marks:
        return None
    query_layout = unpack(query.layout, query.text_marks)
    reference_layout = unpack(reference.layout, reference.text_marks)
    if query_layout is None or reference_layout is None:
        shared = set(query.text_marks).intersection(reference.text_marks)
        return _score(shared, weights, settings, ("text",), text_only=True)
    if query_layout.linear or reference_layout.linear:
        chained = chained_marks(query_layout, reference_layout)
        return _score(chained, weights, settings, ("text", "order"), text_only=True)
    agreeing = agreeing_marks(query_layout, reference_layout, settings.layout)
    return _score(agreeing, weights, settings, ("text", "layout"), text_only=False)


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
    if len(matched) < rules.min_matched_marks:
        return PageMatch(0.0, methods)
    share = sum(weights[m] for m in matched) / sum(weights.values())
    if text_only:
        share *= rules.threshold / rules.text_only_threshold
    return PageMatch(round(min(1.0, share), 4), methods)


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
