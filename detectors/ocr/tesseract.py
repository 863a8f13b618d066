"""Tesseract 5 through pytesseract: the fallback engine, no models beyond the Debian packages."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np
import pytesseract
from PIL import Image

from detectors.config import OcrSettings
from detectors.model import BBox, RgbImage, TextLine
from detectors.ocr.base import Decided, Lines
from detectors.ocr.layout import reading_order
from detectors.vision.color import white_balance
from detectors.vision.geometry import GrayImage, rotate_quarter, scale_to_max_side
from detectors.vision.textlines import SHORT_SMEAR, line_contours, run_length

LineKey = tuple[int, int, int]
"""(block, paragraph, line) numbers in Tesseract's layout."""

_ORIENTATION_LINES = 2
_SAMPLE_HEIGHT = 40
"""Sample lines are scaled to this height: Tesseract reads CJK best at 30-50 px glyphs."""
_MAX_PAPER_GAIN = 3.0
_SAMPLE_GLYPHS = 12
"""Sample lines are cut to about this many glyphs: enough to read, cheap to recognise."""


class TesseractEngine:
    """OCR by the `tesseract` binary, one subprocess per call."""

    name = "tesseract"

    def __init__(self, settings: OcrSettings) -> None:
        # Tesseract's OpenMP pool and OpenCV's (page finding, masks) default to every core;
        # a worker is meant to use `threads`. The Tesseract subprocess inherits the
        # environment; an operator's own setting wins.
        os.environ.setdefault("OMP_THREAD_LIMIT", str(settings.threads))
        cv2.setNumThreads(settings.threads)
        self._settings = settings

    def detect_lines(self, image: RgbImage) -> Lines:
        return None  # Tesseract finds its lines as it reads them

    def read(
        self, image: RgbImage, boxes: Lines = None, decided: Decided | None = None
    ) -> list[TextLine]:
        """The whole page in one Tesseract pass: `decided` is never asked (nothing to save)."""
        small, scale = scale_to_max_side(ink_gray(image), self._settings.tesseract_max_side)
        data = pytesseract.image_to_data(
            Image.fromarray(small),
            lang=self._settings.tesseract_lang,
            config=f"--psm {self._settings.tesseract_psm}",
            output_type=pytesseract.Output.DICT,
        )
        lines = [
            line.to_text_line(scale)
            for line in group_words(data)
            if line.confidence >= self._settings.min_line_confidence
        ]
        return reading_order([x for x in lines if x.text], lambda line: line.bbox)

    def orientation(self, image: RgbImage, boxes: Lines = None) -> int:
        """Quarter turn from the direction of text-line blobs, half turn from Tesseract itself.

        Tesseract's own orientation detection (OSD) is unreliable on CJK photos (it calls
        them Arabic, upside down). Instead: lines found without OCR say whether the page lies
        sideways; then a few of them are read once upright and once turned over, in a single
        Tesseract call, and the reading with the higher confidence wins.
        """
        shrunk, scale = scale_to_max_side(image, self._settings.orientation_max_side)
        small = ink_gray(shrunk)
        across = run_length(line_contours(small, horizontal=True, smear=SHORT_SMEAR))
        down = run_length(line_contours(small, horizontal=False, smear=SHORT_SMEAR))
        if not across and not down:
            return 0
        sideways = down > 2 * across
        if sideways:
            image, small = rotate_quarter(image, 90), rotate_quarter(small, 90)
        samples = _line_samples(image, small, scale)
        if not samples:
            return 0
        upright, turned = self._confidences(samples)
        if sideways:
            return 270 if turned > upright else 90
        return 180 if turned > upright else 0

    def _confidences(self, samples: list[GrayImage]) -> tuple[float, float]:
        """Mean word confidence of the samples as they are, and turned by 180°."""
        sheet, middle = _stack([*samples, *(rotate_quarter(s, 180) for s in samples)])
        # One language model loads and reads twice as fast as "chi_sim+eng", and is enough
        # to tell upright from upside down.
        data = pytesseract.image_to_data(
            Image.fromarray(sheet),
            lang=self._settings.tesseract_lang.split("+")[0],
            config="--psm 6",
            output_type=pytesseract.Output.DICT,
        )
        halves: tuple[list[float], list[float]] = ([], [])
        for i, word in enumerate(data["text"]):
            conf = float(str(data["conf"][i]))
            if str(word).strip() and conf >= 0:
                centre = int(str(data["top"][i])) + int(str(data["height"][i])) / 2
                halves[centre >= middle].append(conf)
        return tuple(float(np.mean(h)) if h else 0.0 for h in halves)  # type: ignore[return-value]


def ink_gray(image: RgbImage) -> GrayImage:
    """Grey where red ink is as dark as black: the darkest channel of each pixel, after the
    paper has been balanced to white.

    Tesseract's own grey conversion makes red organ marks mid-grey, and its binarisation
    then loses them; under warm light the darkest (blue) channel of the paper is dark too.
    """
    balanced = white_balance(image, _MAX_PAPER_GAIN)
    return np.ascontiguousarray(balanced.min(axis=2))


@dataclass
class _Line:
    words: list[str] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)
    boxes: list[BBox] = field(default_factory=list)

    @property
    def confidence(self) -> float:
        return float(np.mean(self.confidences)) / 100 if self.confidences else 0.0

    def to_text_line(self, scale: float) -> TextLine:
        x0 = min(b[0] for b in self.boxes)
        y0 = min(b[1] for b in self.boxes)
        x1 = max(b[2] for b in self.boxes)
        y1 = max(b[3] for b in self.boxes)
        bbox = tuple(round(v / scale) for v in (x0, y0, x1, y1))
        return TextLine(join_words(self.words), bbox=bbox, confidence=self.confidence)  # type: ignore[arg-type]


def group_words(data: dict[str, list[object]]) -> list[_Line]:
    """Tesseract's words gathered into its lines, in its order."""
    lines: dict[LineKey, _Line] = {}
    for i, raw in enumerate(data["text"]):
        word = str(raw).strip()
        conf = float(str(data["conf"][i]))
        if not word or conf < 0:
            continue
        key = (
            int(str(data["block_num"][i])),
            int(str(data["par_num"][i])),
            int(str(data["line_num"][i])),
        )
        left, top = int(str(data["left"][i])), int(str(data["top"][i]))
        width, height = int(str(data["width"][i])), int(str(data["height"][i]))
        line = lines.setdefault(key, _Line())
        line.words.append(word)
        line.confidences.append(conf)
        line.boxes.append((left, top, left + width, top + height))
    return list(lines.values())


def join_words(words: Iterable[str]) -> str:
    """CJK words joined directly, a space only between two Latin or digit words."""
    text = ""
    for word in words:
        if text and _latin(text[-1]) and _latin(word[0]):
            text += " "
        text += word
    return text


def _latin(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _line_samples(image: RgbImage, small: GrayImage, scale: float) -> list[GrayImage]:
    """The longest text lines of the page, cut from the full-size image at reading size."""
    found = line_contours(small, smear=SHORT_SMEAR)
    lines = sorted(found, key=lambda c: cv2.boundingRect(c)[2], reverse=True)
    samples = []
    for contour in lines[:_ORIENTATION_LINES]:
        x, y, w, h = (v / scale for v in cv2.boundingRect(contour))
        top, bottom = max(0, round(y - h / 4)), round(y + h * 5 / 4)
        crop = image[top:bottom, round(x) : round(x + min(w, _SAMPLE_GLYPHS * h))]
        if crop.size:
            size = (max(1, round(crop.shape[1] * _SAMPLE_HEIGHT / crop.shape[0])), _SAMPLE_HEIGHT)
            sample = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
            samples.append(ink_gray(np.asarray(sample, dtype=np.uint8)))
    return samples


def _stack(samples: list[GrayImage]) -> tuple[GrayImage, int]:
    """Samples one under another on white, a line's height apart; and the middle row."""
    width = max(s.shape[1] for s in samples) + 2 * _SAMPLE_HEIGHT
    rows = [np.full((_SAMPLE_HEIGHT, width), 255, np.uint8)]
    for sample in samples:
        row = np.full((_SAMPLE_HEIGHT, width), 255, np.uint8)
        row[:, _SAMPLE_HEIGHT : _SAMPLE_HEIGHT + sample.shape[1]] = sample
        rows += [row, np.full((_SAMPLE_HEIGHT, width), 255, np.uint8)]
    half = 2 * _SAMPLE_HEIGHT * (len(samples) // 2) + _SAMPLE_HEIGHT // 2
    return np.vstack(rows), half
