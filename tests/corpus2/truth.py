"""Which detectors must fire on one picture of a page, from what of it is visible.

The label format is the first corpus's (`tests/corpus/labels.py`: `expect` and `uncertain`
per detector), so `benchmarks/scan.py` scores both models alike; the rules are stated here
for this model's forms, in words a reviewer can check against GB/T 9704 and issue 11.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tests.corpus.labels import DETECTORS, Labels

SEEN, GONE = 0.97, 0.5
"""A line is read when this much of it is in the picture, lost below GONE; between, unsure."""
SEAL_SEEN, SEAL_GONE = 0.85, 0.4

Tri = bool | None
HEADER_FEATURES = ("doc_number", "copy_number", "issuer", "colophon", "telegram_fields")
HANDLING = ("handling", "draft", "note_private")


def _state(fraction: float, seen: float = SEEN, gone: float = GONE) -> Tri:
    return True if fraction >= seen else False if fraction <= gone else None


def _any(states: Iterable[Tri]) -> Tri:
    out: Tri = False
    for state in states:
        if state is True:
            return True
        if state is None:
            out = None
    return out


def _both(a: Tri, b: Tri) -> Tri:
    if a is False or b is False:
        return False
    return True if a is True and b is True else None


def labels(
    boxes: dict[str, list[tuple[float, float, float, float]]],
    attrs: dict[str, dict[str, object]],
    visible: Callable[[tuple[float, float, float, float]], float],
    *,
    colour: bool,
) -> Labels:
    """`boxes`: mark name → boxes on the page; `attrs`: mark name → its attributes (organ
    mark: strong / alone / telegram); `visible(box)`: fraction of the box in the picture."""

    def seen(name: str, hi: float = SEEN, lo: float = GONE) -> Tri:
        return _any(_state(visible(b), hi, lo) for b in boxes.get(name, ()))

    mark = seen("organ_mark")
    mark_attrs = attrs.get("organ_mark", {})
    strong = mark if mark_attrs.get("strong") else False
    features = _any([*(seen(n) for n in HEADER_FEATURES), strong])
    if mark_attrs.get("alone"):
        # Issue 11: a real issued notice with its red organ name alone at the top (no number,
        # no rule) must get a document header: the name at the top and the same organ's
        # signature and date at the bottom are two header features of one document.
        features = _any([features, _both(mark, _both(seen("signature"), seen("date")))])
    elif mark is not False and not mark_attrs.get("strong"):
        features = _any([features, None])  # a 信函 name alone is a weak feature: unsure
    red = _both(mark, seen("rule"))
    if mark_attrs.get("alone"):
        # Organ mark but no rule: GB/T 9704's red header is mark + rule, so whether a red
        # name alone is one is a judgement call.
        red = None if mark is not False else False
    seal = seen("seal", SEAL_SEEN, SEAL_GONE)
    if not colour:
        red = None if red is not False else False
        seal = None if seal is not False else False
    states: dict[str, Tri] = {
        "classification_marking": seen("classification"),
        "handling_marking": _any(seen(n) for n in HANDLING),
        "document_header": features,
        "red_header": red,
        "seal": seal,
        "personal_data": False,
    }
    return Labels(
        expect={n: states[n] is True for n in DETECTORS},
        uncertain=tuple(n for n in DETECTORS if states[n] is None),
    )


def negative_labels(*, seal: Tri = False) -> Labels:
    """A look-alike or hard negative: nothing may fire; a round seal on it is a seal (the
    verdict stays clean: a seal alone never alerts), an oval one is unsure."""
    expect = {n: (n == "seal" and seal is True) for n in DETECTORS}
    return Labels(expect, ("seal",) if seal is None else ())


ALERTING = ("classification_marking", "handling_marking", "document_header", "red_header")


def alert_expected(label: Labels) -> bool:
    """A verdict other than clean is due: a seal alone never raises it (config/policy.yaml)."""
    return any(label.expect[n] for n in ALERTING)
