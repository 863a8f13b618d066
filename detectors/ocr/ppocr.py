"""The PP-OCR pipeline shared by the RapidOCR engines (`rapid.py`: PP-OCRv4 through
`rapidocr_onnxruntime` 1.4; `rapid3.py`: PP-OCRv6 small through `rapidocr` 3.x).

Neither package's pipeline class is used as is: an engine calls the three models (text
detection, line recognition, direction classifier) itself so that detection runs on a small
copy of the page and recognition reads crops of the full-resolution page under a character
budget. A subclass only loads its package's models and calls them (`_detect_quads`,
`_frames`, `_decode`, `_classify`); everything else is here.

Recognition costs ~3.7 ms per character at full size on one core, in proportion to the
input's height x width: lines outside the header are first read smaller and narrowed
(0.4 of the time, the same accuracy on CJK text), and read again at full size when they
come back with digits or Latin (narrowed, "1000" reads "10") or with low confidence. A
recogniser whose input height is fixed (PP-OCRv6: 48 px) is only narrowed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import cached_property

import cv2
import numpy as np
import numpy.typing as npt

from detectors.config import OcrSettings
from detectors.model import BBox, RgbImage, TextLine
from detectors.ocr.base import Decided, Lines
from detectors.ocr.layout import (
    FULL,
    Budget,
    PlannedLine,
    Priority,
    ReadMode,
    TextBox,
    fast_mode,
    in_top_band,
    plan_recognition,
    reading_order,
    text_box,
)
from detectors.ocr.lexicon import Frames, alternatives
from detectors.vision.geometry import rotate_quarter, scale_to_max_side, to_gray, warp_quad

_REC_MIN_WIDTH = 64
"""RapidOCR pads every crop to 320 px; short crops read as well at their own width, faster."""
_RETRY_BELOW = 0.85
"""A fast-read line read with less confidence than this is read again at full size."""
_NOT_CJK = re.compile(r"[0-9A-Za-z]")
"""Digits and Latin are narrow: squeezed, repeated digits merge ("1000" → "10")."""
_ORIENTATION_LINES = 8
_ORIENTATION_PIECES_PER_LINE = 3
_CLS_PIECE_CHARS = 4
"""The direction classifier's input is 4:1 (192 x 48): longer crops would be squashed."""
_CLS_SURE = 0.2
"""The classifier's mean vote must be this far from even; else the recogniser decides."""
_REC_CHECK_PIECES = 4


Quads = Sequence[npt.NDArray[np.float32]] | npt.NDArray[np.float32]
"""Text boxes as the detection model returns them: four (x, y) corners each."""
Votes = Sequence[tuple[str, float]]
"""The direction classifier's (label, score) per piece; label "0" or "180"."""


class PpOcrEngine:
    """OCR with the PP-OCR models through onnxruntime; create once, reuse for every page.

    Subclasses load the models of their package in `__init__` (after calling this one) and
    implement the three model calls.
    """

    name: str
    rec_height: int | None = None
    """The recogniser's fixed input height, or None when it takes any height."""
    alphabet: Sequence[str] = ()
    """The recogniser's labels by index (0 the CTC blank); set by the subclass."""

    def __init__(self, settings: OcrSettings, lexicon: Sequence[str] = ()) -> None:
        """`lexicon`: marking words that short lines of the top band are also read as,
        where the recogniser nearly saw them (`detectors.ocr.lexicon`)."""
        # OpenCV's own thread pool would compete with onnxruntime's for the worker's cores.
        cv2.setNumThreads(settings.threads)
        self._settings = settings
        self._lexicon = tuple(lexicon)
        fast = fast_mode(settings)
        if self.rec_height is not None:
            fast = ReadMode(self.rec_height, fast.squeeze)
        self._fast = fast

    def _detect_quads(self, bgr: npt.NDArray[np.uint8]) -> Quads | None:
        """Line quads found on a BGR image, in its pixels."""
        raise NotImplementedError

    def _frames(self, batch: npt.NDArray[np.float32]) -> Frames:
        """The recogniser's (steps, alphabet) probabilities for one (1, 3, H, W) input."""
        raise NotImplementedError

    def _decode(self, frames: Frames) -> tuple[str, float]:
        """Text and confidence of the recogniser's output, by its package's decoder."""
        raise NotImplementedError

    def _classify(self, pieces: list[npt.NDArray[np.uint8]]) -> Votes:
        """The direction classifier's vote on each BGR piece of text."""
        raise NotImplementedError

    def detect_lines(self, image: RgbImage) -> list[TextBox]:
        return self.detect(image, self._settings.det_max_side)

    def read(
        self, image: RgbImage, boxes: Lines = None, decided: Decided | None = None
    ) -> list[TextLine]:
        if boxes is None:
            boxes = self.detect_lines(image)
        plan = plan_recognition(boxes, image.shape[0], self._settings, fast=self._fast)
        bgr = _model_input(image)
        budget = Budget(self._settings.rec_char_budget)
        lines: list[TextLine] = []
        asked = False
        for line in plan:
            if decided is not None and not asked and line.priority is Priority.BODY:
                asked = True  # once, before the body: what was read so far is all but it
                if decided(reading_order(lines, _bbox)):
                    budget.left = min(budget.left, self._settings.decided_body_chars)
            if not budget.take(line.cost):
                continue
            frames, text, score = self._read_line(_crop(bgr, line.box), line, budget)
            if text and score >= self._settings.min_line_confidence:
                box = line.box
                alternatives = self._alternatives(frames, text, line, image.shape[0])
                lines.append(
                    TextLine(
                        text,
                        bbox=box.bbox,
                        confidence=score,
                        slope=box.slope,
                        alternatives=alternatives,
                    )
                )
        return reading_order(lines, _bbox)

    def _read_line(
        self, crop: npt.NDArray[np.uint8], line: PlannedLine, budget: Budget
    ) -> tuple[Frames, str, float]:
        """The recogniser's output for one line, and its text and confidence; a doubtful fast
        reading is redone at full size.

        Redone at once, before more lines are read: a line read right is worth more than
        another line read wrong (an ID number with merged digits is no ID number).
        """
        frames = self._frames(_rec_input(crop, line.mode))
        text, score = self._decode(frames)
        if line.mode != FULL and _needs_full_size(text, score) and budget.take(line.box.chars):
            frames = self._frames(_rec_input(crop, FULL))
            text, score = self._decode(frames)
        return frames, text.strip(), score

    def _alternatives(
        self, frames: Frames, text: str, line: PlannedLine, page_height: int
    ) -> tuple[str, ...]:
        """Marking words nearly read on a short line of the top band (read at full size)."""
        settings = self._settings
        short = len("".join(text.split())) <= settings.lexicon_max_chars
        if not (self._lexicon and short and in_top_band(line.box.bbox, page_height, settings)):
            return ()
        return alternatives(
            frames, self.alphabet, self._index, self._lexicon, settings.lexicon_max_loss
        )

    @cached_property
    def _index(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.alphabet)}

    def orientation(self, image: RgbImage, boxes: Lines = None) -> int:
        """Quarter turn from the shape of detected lines, half turn from the direction model.

        Lines on a page turned sideways are detected as tall boxes. The direction classifier
        then says, for pieces of the longest lines turned to horizontal, whether they are
        upside down. The boxes are the reading's own (`detect_lines`): no detection pass of
        its own.
        """
        if boxes is None:
            boxes = self.detect_lines(image)
        if len(boxes) < 2:
            return 0
        across = sum(b.width for b in boxes if not b.vertical and b.chars >= 2)
        down = sum(b.width for b in boxes if b.vertical)
        sideways = down > 2 * across
        bgr = _model_input(image)
        longest = sorted(boxes, key=lambda b: b.width, reverse=True)[:_ORIENTATION_LINES]
        pieces = [
            piece
            for box in longest
            if box.vertical == sideways
            for piece in _cls_pieces(_crop(bgr, box, turn_vertical=False), sideways)
        ]
        upside_down = self._upside_down(pieces)
        if sideways:
            return 270 if upside_down else 90
        return 180 if upside_down else 0

    def detect(self, image: RgbImage, max_side: int) -> list[TextBox]:
        """Line boxes found on a copy of the image scaled to `max_side`, in image pixels."""
        small, scale = scale_to_max_side(image, max_side)
        quads = self._detect_quads(_model_input(small))
        if quads is None or len(quads) == 0:
            return []
        height, width = image.shape[:2]
        return [text_box(np.asarray(q, dtype=np.float32) / scale, width, height) for q in quads]

    def _recognize(self, crop: npt.NDArray[np.uint8], mode: ReadMode) -> tuple[str, float]:
        return self._decode(self._frames(_rec_input(crop, mode)))

    def _upside_down(self, pieces: Sequence[npt.NDArray[np.uint8]]) -> bool:
        """Whether the pieces of text are upside down: the direction model's vote, or when
        it is unsure (blur, moiré, perspective), which way the recogniser reads them better.
        """
        if not pieces:
            return False
        votes = self._classify(list(pieces))
        share = float(np.mean([s if label == "180" else 1.0 - s for label, s in votes]))
        if abs(share - 0.5) >= _CLS_SURE:
            return share > 0.5
        sample = pieces[:_REC_CHECK_PIECES]
        upright = np.mean([self._recognize(p, FULL)[1] for p in sample])
        turned = np.mean([self._recognize(rotate_quarter(p, 180), FULL)[1] for p in sample])
        return bool(turned > upright)


def _bbox(line: TextLine) -> BBox | None:
    return line.bbox


def _model_input(image: RgbImage) -> npt.NDArray[np.uint8]:
    """The picture as the models are given it: its luminance, in all three channels.

    A phone photo of a monitor paints moiré's rainbow bands and colour fringes over every
    stroke; in colour the detector misses whole lines and the recogniser misreads the rest
    (one 2026 monitor photo: 2 lines read in colour, 10 in luminance). Luminance keeps the
    strokes, red ink's too (luma about 90 on paper white), and drops the colour noise. Grey
    in three channels is the same in RGB and BGR order."""
    return np.asarray(cv2.cvtColor(to_gray(image), cv2.COLOR_GRAY2BGR), dtype=np.uint8)


def _crop(
    bgr: npt.NDArray[np.uint8], box: TextBox, *, turn_vertical: bool = True
) -> npt.NDArray[np.uint8]:
    """The line straightened out of the page; vertical lines turned to read left to right."""
    quad = box.quad
    width, height = (box.height, box.width) if box.vertical else (box.width, box.height)
    crop = warp_quad(bgr, quad, max(1, round(width)), max(1, round(height)))
    if box.vertical and turn_vertical:
        crop = rotate_quarter(crop, 270)
    return crop


def _cls_pieces(crop: npt.NDArray[np.uint8], sideways: bool) -> list[npt.NDArray[np.uint8]]:
    """A few 4-character windows of a line, turned to horizontal if the page lies sideways."""
    line = rotate_quarter(crop, 90) if sideways else crop
    height, width = line.shape[:2]
    step = min(width, _CLS_PIECE_CHARS * height)
    return [line[:, x : x + step] for x in range(0, width - step + 1, step)][
        :_ORIENTATION_PIECES_PER_LINE
    ]


def _rec_input(crop: npt.NDArray[np.uint8], mode: ReadMode) -> npt.NDArray[np.float32]:
    """One crop as the recogniser's (1, 3, H, W) input, W a multiple of 8."""
    height, width = crop.shape[:2]
    target = max(8, math.ceil(mode.height * width / max(height, 1) * mode.squeeze))
    shrink = target < width or height > mode.height
    resized = cv2.resize(
        crop,
        (target, mode.height),
        interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR,
    )
    padded_width = max(_REC_MIN_WIDTH, (target + 7) // 8 * 8)
    batch = np.zeros((1, 3, mode.height, padded_width), dtype=np.float32)
    batch[0, :, :, :target] = resized.transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0
    return batch


def _needs_full_size(text: str, score: float) -> bool:
    return score < _RETRY_BELOW or _NOT_CJK.search(text) is not None
