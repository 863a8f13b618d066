"""RapidOCR 1.4 (PP-OCRv4 detection and recognition, PP-OCR mobile direction classifier).

The models ship inside the `rapidocr_onnxruntime` wheel; the pipeline around them is
`detectors.ocr.ppocr`, shared with the PP-OCRv6 engine (`rapid3.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rapidocr_onnxruntime
from rapidocr_onnxruntime.ch_ppocr_cls import TextClassifier
from rapidocr_onnxruntime.ch_ppocr_det import TextDetector
from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer
from rapidocr_onnxruntime.utils import read_yaml

from detectors.config import OcrSettings
from detectors.ocr.lexicon import Frames
from detectors.ocr.ppocr import PpOcrEngine, Quads, Votes


class RapidOcrEngine(PpOcrEngine):
    """PP-OCRv4 through `rapidocr_onnxruntime`; create once, reuse for every page."""

    name = "rapidocr"

    def __init__(self, settings: OcrSettings, lexicon: Sequence[str] = ()) -> None:
        super().__init__(settings, lexicon)
        config = _model_config(settings.threads)
        self._det = TextDetector(config["Det"])
        self._cls = TextClassifier(config["Cls"])
        self._rec = TextRecognizer(config["Rec"])
        self.alphabet = self._rec.postprocess_op.character

    def _detect_quads(self, bgr: npt.NDArray[np.uint8]) -> Quads | None:
        quads, _ = self._det(bgr)
        return quads

    def _frames(self, batch: npt.NDArray[np.float32]) -> Frames:
        return np.asarray(self._rec.session(batch)[0], dtype=np.float32)[0]

    def _decode(self, frames: Frames) -> tuple[str, float]:
        text, score = self._rec.postprocess_op(frames[None])[0]
        return str(text), float(score)

    def _classify(self, pieces: list[npt.NDArray[np.uint8]]) -> Votes:
        _, votes, _ = self._cls(pieces)
        return [(str(label), float(score)) for label, score in votes]


def _model_config(threads: int) -> dict[str, Any]:
    package = Path(rapidocr_onnxruntime.__file__).resolve().parent
    config: dict[str, Any] = read_yaml(package / "config.yaml")
    for section in ("Det", "Cls", "Rec"):
        part = config[section]
        part["model_path"] = str(package / part["model_path"])
        part["intra_op_num_threads"] = threads
        part["inter_op_num_threads"] = threads
    # Detection input is scaled by the engine; "max" keeps the detector from enlarging it.
    config["Det"]["limit_type"] = "max"
    return config
