"""What each detector must see on a page, decided from what is visible of it.

A capture reports, for every element of a `PageSpec`, the fraction of it that is still in the
picture (crops, masks) and whether colour survived (grey scans). The rules below turn that into
`expect` (must fire / must not) plus `uncertain`: detectors whose answer is a judgement call
(a marking cut in half, a seal half out of frame, red that a grey scan turned grey), which a
benchmark should leave out of both recall and false-alert counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tests.corpus.document import Document
from tests.corpus.render import Element, PageSpec

DETECTORS: tuple[str, ...] = (
    "classification_marking",
    "handling_marking",
    "document_header",
    "red_header",
    "seal",
    "personal_data",
)

# A line of text counts as read when this much of it is in the picture, and as gone below
# the lower bound; in between, OCR may or may not make sense of it.
TEXT_SEEN, TEXT_GONE = 0.97, 0.5
SEAL_SEEN, SEAL_GONE = 0.85, 0.4
MIN_ROWS = 3
"""Personal-data rows (name + ID + phone) that make a list; fewer is a judgement call."""

HEADER_FEATURES = ("doc_number", "copy_number", "issuer", "colophon", "telegram_fields")
HANDLING_ELEMENTS = ("handling", "draft", "note_private")

Tri = bool | None
Visibility = Callable[[Element], float]


@dataclass(frozen=True)
class Labels:
    expect: dict[str, bool]
    uncertain: tuple[str, ...]

    @property
    def positive(self) -> bool:
        return any(self.expect.values())


def _state(fraction: float, seen: float = TEXT_SEEN, gone: float = TEXT_GONE) -> Tri:
    if fraction >= seen:
        return True
    return False if fraction <= gone else None


def _any(states: Iterable[Tri]) -> Tri:
    result: Tri = False
    for state in states:
        if state is True:
            return True
        if state is None:
            result = None
    return result


def _all(*states: Tri) -> Tri:
    if any(s is False for s in states):
        return False
    return True if all(s is True for s in states) else None


def page_labels(
    spec: PageSpec, visible: Visibility | None = None, *, colour: bool = True
) -> Labels:
    """Labels for one picture of `spec`. `visible(element)` is the fraction of the element in
    the picture (1.0 for every element when None)."""

    def vis(element: Element) -> float:
        return 1.0 if visible is None else visible(element)

    def state(names: Iterable[str]) -> Tri:
        return _any(_state(vis(e)) for e in spec.elements if e.name in names)

    title_draft = _any(_state(vis(e)) for e in spec.find("title") if e.attrs.get("draft"))
    strong_mark = _any(_state(vis(e)) for e in spec.find("organ_mark") if e.attrs.get("strong"))
    weak_mark = _any(_state(vis(e)) for e in spec.find("organ_mark") if not e.attrs.get("strong"))
    # An organ name without 文件/纪要/… is a header feature only by colour and size: unsure.
    header = _any([state(HEADER_FEATURES), strong_mark, None if weak_mark is not False else False])
    red = _all(state(["organ_mark"]), state(["rule"]))
    round_seal = _any(
        _state(vis(e), SEAL_SEEN, SEAL_GONE) for e in spec.find("seal") if not e.attrs.get("oval")
    )
    # Oval seals (invoices) are seals, but not the round star seal of an organ: unsure.
    oval = _any(
        _state(vis(e), SEAL_SEEN, SEAL_GONE) for e in spec.find("seal") if e.attrs.get("oval")
    )
    seal = _any([round_seal, None if oval is not False else False])
    if not colour:  # red is gone; shape alone may or may not be enough
        red = None if red is not False else False
        seal = None if seal is not False else False
    states: dict[str, Tri] = {
        "classification_marking": state(["classification"]),
        "handling_marking": _any([state(HANDLING_ELEMENTS), title_draft]),
        "document_header": header,
        "red_header": red,
        "seal": seal,
        "personal_data": _rows_state([vis(e) for e in spec.find("pd_row")]),
    }
    return Labels(
        expect={name: states[name] is True for name in DETECTORS},
        uncertain=tuple(name for name in DETECTORS if states[name] is None),
    )


def _rows_state(fractions: list[float]) -> Tri:
    full = sum(f >= TEXT_SEEN for f in fractions)
    partial = sum(TEXT_GONE < f < TEXT_SEEN for f in fractions)
    if full >= MIN_ROWS:
        return True
    return False if full + partial == 0 else None


def merge(labels: Iterable[Labels]) -> Labels:
    """Labels of a container (multi-page file, archive): a detector must fire when it must
    fire on any part; it is uncertain when it is uncertain somewhere and certain nowhere."""
    items = list(labels)
    expect = {name: any(lab.expect[name] for lab in items) for name in DETECTORS}
    uncertain = tuple(
        name
        for name in DETECTORS
        if not expect[name] and any(name in lab.uncertain for lab in items)
    )
    return Labels(expect, uncertain)


def fixed(*firing: str, uncertain: Iterable[str] = ()) -> Labels:
    """Labels stated directly, for files whose content is not a laid-out page (CSV, XLSX)."""
    return Labels({name: name in firing for name in DETECTORS}, tuple(uncertain))


def document_labels(doc: Document, *, colour: bool, seal: bool) -> Labels:
    """Labels for a file that carries the whole document as flowing text (DOCX, TXT): every
    element is present; `colour` says whether red survives in the format, `seal` whether the
    file carries the seal."""
    weak_mark_only = bool(doc.mark) and not doc.strong_mark
    header_features = (doc.doc_number, doc.copy_number, doc.issuer, doc.printer, doc.telegram)
    header: Tri = (
        True if any(header_features) or doc.strong_mark else None if weak_mark_only else False
    )
    states: dict[str, Tri] = {
        "classification_marking": bool(doc.classification),
        "handling_marking": bool(doc.handling or doc.draft or doc.title_draft)
        or (doc.note is not None and not doc.public),
        "document_header": header,
        "red_header": colour and bool(doc.mark) and doc.rule is not None,
        "seal": seal and doc.seal,
        "personal_data": len(doc.table) >= MIN_ROWS,
    }
    return Labels(
        expect={name: states[name] is True for name in DETECTORS},
        uncertain=tuple(name for name in DETECTORS if states[name] is None),
    )
