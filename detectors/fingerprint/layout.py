"""Where a page's text marks stand, and geometric verification of two pages' marks.

The layout of a fingerprint lists, for each text mark, the places on the page where it stands
(in units of 1/2047 of the page image's long side, so any capture size compares). Verifying
a candidate fits one similarity transform (scale, rotation, shift) that carries the query's
marks onto the reference's by RANSAC, refines it as an affine and a bent transform, fits
the marks left over patch by patch (a crumpled page lies in pieces), and counts the query
marks that land where the reference has them. A same-template sibling shares the
template's lines at the same places, but its shared sentences stand elsewhere on the page:
only a copy lines up as a whole. Scale-free and shift-free, so crops and pages printed at
another scale line up too.

A page whose text has no boxes (DOCX, TXT) has a linear layout instead: each mark's offset
in the page's text. Against it, only order can be checked: the longest chain of shared marks
that stand in the same order on both pages (a copy is one chain; a sibling's shared
sentences stand in another order).

Packed layout: u16 character height (0: linear), then 3 bytes per placement, grouped by mark
in the order of `text_marks`: bit 23 set on a mark's first placement, then x in bits 12-22
and y in 0-11, or the offset in bits 0-22 for a linear layout.
"""

from __future__ import annotations

import bisect
import math
import struct
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detectors.config import LayoutFingerprintSettings

UNITS = 2047
"""Coordinates are in units of the page image's long side / UNITS."""
_X_BITS, _Y_BITS = 11, 12
_MAX_Y = (1 << _Y_BITS) - 1
_NEW_MARK = 1 << 23
_MAX_OFFSET = _NEW_MARK - 1
_HEADER = struct.Struct(">H")
_MIN_SPAN = 1.5
"""A hypothesis is made from two marks at least this many character heights apart."""
_REFINE_ROUNDS = 2
_LINE_GAP = 0.8
"""Placements this many character heights apart down the page stand on different lines."""
_MIN_AFFINE_POINTS = 6
_MIN_BENT_POINTS = 12
"""A bent (second-degree) fit has 6 terms per axis: twice as many inliers keep it from
bending onto chance agreements."""
_BENT_UNIT_LINES = 20.0
_ORDER_NEAR = 4.0
"""Reading order is compared between marks at most this many character heights apart across
the page: a patch turned a little against its neighbours keeps their order there."""
_MAX_ORDER_FLIPS = 0.1
"""Share of compared pairs that may stand the other way round (a chance inlier) in a patch."""

Points = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Layout:
    char_height: float
    """In layout units; 0 for a linear layout."""
    marks: npt.NDArray[np.int64]
    """Per placement: the mark's value."""
    points: Points
    """Per placement: (x, y) in layout units, or (offset, 0) in a linear layout."""

    @property
    def linear(self) -> bool:
        return self.char_height == 0


def pack(
    placements: list[tuple[int, float, float]],
    text_marks: tuple[int, ...],
    side: float,
    height: float | None,
) -> bytes:
    """Packs (mark, x, y) placements in pixels of a page whose long side is `side` and whose
    lines are `height` high, or (mark, offset, 0) when `height` is None (linear). Every mark
    of `text_marks` must have a placement."""
    by_mark: dict[int, list[int]] = defaultdict(list)
    scale = UNITS / max(side, 1e-6)
    for mark, x, y in placements:
        if height is None:
            word = min(_MAX_OFFSET, max(0, round(x)))
        else:
            qx = min(UNITS, max(0, round(x * scale)))
            word = qx << _Y_BITS | min(_MAX_Y, max(0, round(y * scale)))
        by_mark[mark].append(word)
    if set(by_mark) != set(text_marks):
        raise ValueError("every text mark needs a placement")
    packed_height = 0 if height is None else min(0xFFFF, max(1, round(height * scale)))
    out = bytearray(_HEADER.pack(packed_height))
    for mark in text_marks:
        for i, word in enumerate(sorted(set(by_mark[mark]))):
            out += ((_NEW_MARK if i == 0 else 0) | word).to_bytes(3, "big")
    return bytes(out)


def unpack(data: bytes, text_marks: tuple[int, ...]) -> Layout | None:
    """The layout packed in `data` (None for b""); ValueError when it does not fit the marks."""
    if not data:
        return None
    if len(data) < _HEADER.size or (len(data) - _HEADER.size) % 3:
        raise ValueError("layout data has a bad length")
    (height,) = _HEADER.unpack_from(data)
    words = np.frombuffer(data[_HEADER.size :], dtype=np.uint8).reshape(-1, 3).astype(np.int64)
    values = words[:, 0] << 16 | words[:, 1] << 8 | words[:, 2]
    first = (values & _NEW_MARK) != 0
    if (len(values) and not first[0]) or int(first.sum()) != len(text_marks):
        raise ValueError("layout data does not fit the text marks")
    index = np.cumsum(first) - 1
    marks = np.asarray(text_marks, dtype=np.int64)[index]
    if height == 0:
        x, y = values & _MAX_OFFSET, np.zeros_like(values)
    else:
        x, y = (values >> _Y_BITS) & ((1 << _X_BITS) - 1), values & _MAX_Y
    return Layout(float(height), marks, np.stack([x, y], axis=1).astype(np.float64))


def chained_marks(query: Layout, reference: Layout) -> set[int]:
    """The longest chain of shared marks in the same reading order on both pages."""
    query_rank, reference_rank = _reading_ranks(query), _reading_ranks(reference)
    shared = sorted(set(query_rank) & set(reference_rank), key=query_rank.__getitem__)
    # Longest increasing subsequence of the reference's ranks, with back links.
    tails: list[int] = []
    tail_index: list[int] = []
    back: list[int] = []
    for i, mark in enumerate(shared):
        rank = reference_rank[mark]
        at = bisect.bisect_left(tails, rank)
        back.append(tail_index[at - 1] if at else -1)
        tails[at : at + 1] = [rank]
        tail_index[at : at + 1] = [i]
    chain, i = set(), tail_index[-1] if tail_index else -1
    while i >= 0:
        chain.add(shared[i])
        i = back[i]
    return chain


def _reading_ranks(layout: Layout) -> dict[int, int]:
    """Mark -> rank of its first placement in reading order: by offset, or by line (marks
    less than half a line apart down the page) and then across."""
    x, y = layout.points[:, 0], layout.points[:, 1]
    if layout.linear:
        order = np.argsort(x, kind="stable")
    else:
        by_y = np.argsort(y, kind="stable")
        band = np.cumsum(np.diff(y[by_y], prepend=y[by_y[0]]) > layout.char_height / 2)
        order = by_y[np.lexsort((x[by_y], band))]
    ranks: dict[int, int] = {}
    for rank, mark in enumerate(layout.marks[order].tolist()):
        ranks.setdefault(mark, rank)
    return ranks


@dataclass(frozen=True)
class Agreement:
    """The query marks that one transform carries onto the reference's places."""

    marks: set[int]
    lines: int
    """How many lines of the query those marks stand on."""


def agreeing_marks(
    query: Layout, reference: Layout, settings: LayoutFingerprintSettings
) -> Agreement:
    """The query marks that the reference has in the same places, patch by patch: the first
    patch is the page as a whole (one transform, refined to a bent one); a crumpled or torn
    page lies in pieces that each moved their own way, so the marks left over are fitted
    again, one rigid patch at a time (sequential RANSAC: a model's inliers removed, the next
    model fitted to the rest). A later patch counts when it holds `min_patch_marks` marks,
    lies within `max_patch_shift` character heights of where the page's own fit puts it, and
    keeps the reading order of the marks agreed before it: paper crumples but its pieces stay
    near their place and its lines never cross, while text laid out elsewhere (shuffled lines,
    a sibling's moved sentence, a stock passage wrapped at other places) jumps a line's
    length or over lines that stand in place. A mark agrees once, in one patch."""
    q, r, mark = _correspondences(query, reference, settings.max_placements_per_mark)
    agreed = np.zeros(len(mark), dtype=bool)
    if len(mark) < 2:
        return Agreement(set(), 0)
    tolerance = np.array([settings.tolerance_x, settings.tolerance_y]) * reference.char_height
    free = np.ones(len(mark), dtype=bool)
    for patch in range(settings.max_patches):
        inliers = np.zeros(len(mark), dtype=bool)
        inliers[free] = _fitted_inliers(
            q[free], r[free], mark[free], query, reference, tolerance, settings
        )
        found = np.unique(mark[inliers])
        if patch and len(found) < settings.min_patch_marks:
            break
        if not patch:
            page = inliers
            agreed |= inliers
        elif _stays_near(
            q, r, page, inliers, settings.max_patch_shift * reference.char_height
        ) and _keeps_order(q, r, agreed, inliers, reference.char_height):
            agreed |= inliers
        free &= ~np.isin(mark, found) & ~_used(r, r[inliers])
        if free.sum() < 2:
            break
    return Agreement(set(mark[agreed].tolist()), _lines(q[agreed, 1], query.char_height))


def _fitted_inliers(
    q: Points,
    r: Points,
    mark: npt.NDArray[np.int64],
    query: Layout,
    reference: Layout,
    tolerance: npt.NDArray[np.float64],
    settings: LayoutFingerprintSettings,
) -> npt.NDArray[np.bool_]:
    """Inliers of one patch: the best similarity transform, refined to an affine and then a
    bent one while that carries more marks."""
    inliers = _ransac(q, r, query, reference, tolerance, settings)
    for design, least in ((_affine_terms, _MIN_AFFINE_POINTS), (_bent_terms, _MIN_BENT_POINTS)):
        for _ in range(_REFINE_ROUNDS):
            if int(inliers.sum()) < least:
                break
            refined = _refit_inliers(design(q, query.char_height), r, inliers, tolerance)
            if len(np.unique(mark[refined])) <= len(np.unique(mark[inliers])):
                break
            inliers = refined
    return inliers


def _stays_near(
    q: Points,
    r: Points,
    page: npt.NDArray[np.bool_],
    patch: npt.NDArray[np.bool_],
    max_shift: float,
) -> bool:
    """Whether the marks of `patch` lie, at the median, within `max_shift` of where the
    affine transform fitted to the `page` fit's marks carries them: a crumpled piece moved a
    few character heights from its place (at most about 5 on the real photos of
    `inv3d-dev`), a reflowed sentence by a line's length."""
    if int(page.sum()) < _MIN_AFFINE_POINTS:
        return False
    transform, *_ = np.linalg.lstsq(_affine_terms(q[page], 0.0), r[page], rcond=None)
    shift = np.hypot(*(_affine_terms(q[patch], 0.0) @ transform - r[patch]).T)
    return float(np.median(shift)) <= max_shift


def _keeps_order(
    q: Points,
    r: Points,
    agreed: npt.NDArray[np.bool_],
    patch: npt.NDArray[np.bool_],
    char_height: float,
) -> bool:
    """Whether the marks of `patch` stand above and below the `agreed` marks near them
    across the page as they do on the reference. The patch's own similarity transform
    carries each query vector between a patch mark and an agreed one into the reference's
    frame, so a patch turned its own way compares fairly; only pairs on different lines
    (a character height apart) and within `_ORDER_NEAR` character heights across count."""
    zq, zr = q[:, 0] + 1j * q[:, 1], r[:, 0] + 1j * r[:, 1]
    pq, pr = zq[patch] - zq[patch].mean(), zr[patch] - zr[patch].mean()
    linear = (np.conj(pq) @ pr) / max(float((np.abs(pq) ** 2).sum()), 1e-9)
    carried = linear * (zq[agreed][:, None] - zq[patch][None, :])
    apart = zr[agreed][:, None] - zr[patch][None, :]
    counted = (np.abs(apart.real) <= _ORDER_NEAR * char_height) & (
        np.abs(apart.imag) >= char_height
    )
    flipped = counted & (np.sign(carried.imag) != np.sign(apart.imag))
    return int(flipped.sum()) <= _MAX_ORDER_FLIPS * int(counted.sum())


def _used(r: Points, taken: Points) -> npt.NDArray[np.bool_]:
    """Which reference places in `r` are among `taken`: a place holds one query mark."""
    if not len(taken):
        return np.zeros(len(r), dtype=bool)
    return (r[:, None, :] == taken[None, :, :]).all(axis=2).any(axis=1)


def _lines(ys: npt.NDArray[np.float64], char_height: float) -> int:
    """Lines that placements at heights `ys` stand on: runs of heights less than
    `_LINE_GAP` character heights apart (a line tilted a little drifts, it does not jump)."""
    if not len(ys):
        return 0
    return 1 + int((np.diff(np.sort(ys)) > _LINE_GAP * char_height).sum())


def _correspondences(
    query: Layout, reference: Layout, max_per_mark: int
) -> tuple[Points, Points, npt.NDArray[np.int64]]:
    """Every pairing of a query placement with a reference placement of the same mark
    (marks repeated more than `max_per_mark` times on either page are left out)."""
    ref_places: dict[int, list[int]] = defaultdict(list)
    for i, m in enumerate(reference.marks.tolist()):
        ref_places[m].append(i)
    query_places: dict[int, list[int]] = defaultdict(list)
    for i, m in enumerate(query.marks.tolist()):
        if m in ref_places:
            query_places[m].append(i)
    qi, ri, marks = [], [], []
    for m, places in query_places.items():
        refs = ref_places[m]
        if len(places) > max_per_mark or len(refs) > max_per_mark:
            continue
        for a in places:
            for b in refs:
                qi.append(a)
                ri.append(b)
                marks.append(m)
    return query.points[qi], reference.points[ri], np.asarray(marks, dtype=np.int64)


def _ransac(
    q: Points,
    r: Points,
    query: Layout,
    reference: Layout,
    tolerance: npt.NDArray[np.float64],
    settings: LayoutFingerprintSettings,
) -> npt.NDArray[np.bool_]:
    """Inliers of the best similarity transform made from two correspondences at a time.
    Seeded: the same pair of fingerprints always gives the same answer."""
    n = len(q)
    rng = np.random.default_rng(n)
    pairs = rng.integers(0, n, size=(settings.ransac_hypotheses, 2))
    if n * (n - 1) // 2 <= settings.ransac_hypotheses:
        pairs = np.array([(i, j) for i in range(n) for j in range(i + 1, n)])
    zq = q[:, 0] + 1j * q[:, 1]
    zr = r[:, 0] + 1j * r[:, 1]
    dq = zq[pairs[:, 1]] - zq[pairs[:, 0]]
    dr = zr[pairs[:, 1]] - zr[pairs[:, 0]]
    usable = np.abs(dq) >= _MIN_SPAN * query.char_height
    a = np.where(usable, dr / np.where(usable, dq, 1), 0)
    expected = reference.char_height / max(query.char_height, 1e-6)
    scale = np.abs(a)
    usable &= (scale >= expected / settings.scale_slack) & (
        scale <= expected * settings.scale_slack
    )
    usable &= np.abs(np.angle(np.where(usable, a, 1))) <= math.radians(
        settings.max_rotation_degrees
    )
    if not usable.any():
        return np.zeros(n, dtype=bool)
    a = a[usable]
    b = zr[pairs[usable, 0]] - a * zq[pairs[usable, 0]]
    predicted = a[:, None] * zq[None, :] + b[:, None]
    miss = predicted - zr[None, :]
    inliers = (np.abs(miss.real) <= tolerance[0]) & (np.abs(miss.imag) <= tolerance[1])
    best: npt.NDArray[np.bool_] = inliers[int(inliers.sum(axis=1).argmax())]
    return best


def _affine_terms(q: Points, char_height: float) -> Points:
    """Design matrix of an affine transform: absorbs a little perspective and unequal scale
    across and down that rectification leaves."""
    return np.column_stack([q, np.ones(len(q))])


def _bent_terms(q: Points, char_height: float) -> Points:
    """Design matrix of a second-degree polynomial transform: a page that curls, sags along a
    fold or lies in perspective without its outline found bends straight lines into smooth
    curves, which one affine transform cannot follow across the page. Coordinates are
    centred and scaled to lines so that the squares stay well conditioned."""
    centred = (q - q.mean(axis=0)) / max(char_height * _BENT_UNIT_LINES, 1e-6)
    x, y = centred[:, 0], centred[:, 1]
    return np.column_stack([np.ones(len(q)), x, y, x * x, x * y, y * y])


def _refit_inliers(
    design: Points, r: Points, inliers: npt.NDArray[np.bool_], tolerance: npt.NDArray[np.float64]
) -> npt.NDArray[np.bool_]:
    """Inliers of the transform (columns of `design`) fitted to `inliers` by least squares."""
    solution, *_ = np.linalg.lstsq(design[inliers], r[inliers], rcond=None)
    miss = np.abs(design @ solution - r)
    refined: npt.NDArray[np.bool_] = (miss[:, 0] <= tolerance[0]) & (miss[:, 1] <= tolerance[1])
    return refined
