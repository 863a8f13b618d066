"""RapidOCR 3 (PP-OCRv6 small detection and recognition, PP-OCR mobile direction classifier).

The three models ship inside the `rapidocr` 3.x wheel (`rapidocr/models/`); the engine
loads them from there by path, so the package never fetches a model or a character list at
run time (the recogniser carries its 18,708 characters in its own metadata). The pipeline
around the models is `detectors.ocr.ppocr`, shared with the PP-OCRv4 engine (`rapid.py`).
PP-OCRv6's recogniser takes 48-px-high lines only: lines outside the header are read
narrowed first, not smaller.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rapidocr
from rapidocr.ch_ppocr_cls import TextClassifier
from rapidocr.ch_ppocr_det import TextDetector
from rapidocr.ch_ppocr_rec import TextRecognizer
from rapidocr.utils.parse_parameters import ParseParams

from detectors.config import OcrSettings
from detectors.ocr.layout import NATIVE_HEIGHT
from detectors.ocr.lexicon import Frames
from detectors.ocr.ppocr import PpOcrEngine, Quads, Votes

MODELS = {
    "Det": "PP-OCRv6_det_small.onnx",
    "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
    "Rec": "PP-OCRv6_rec_small.onnx",
}
"""The wheel's own model files, by pipeline section."""


class RapidOcr3Engine(PpOcrEngine):
    """PP-OCRv6 small through `rapidocr` 3.x; create once, reuse for every page."""

    name = "rapidocr3"
    rec_height = NATIVE_HEIGHT

    def __init__(self, settings: OcrSettings, lexicon: Sequence[str] = ()) -> None:
        super().__init__(settings, lexicon)
        # The package logs every model it loads at INFO on its own stderr handler.
        logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        config = _model_config(settings.threads)
        self._det = TextDetector(config.Det)
        self._cls = TextClassifier(config.Cls)
        self._rec = TextRecognizer(config.Rec)
        self.alphabet = self._rec.postprocess_op.character

    def _detect_quads(self, bgr: npt.NDArray[np.uint8]) -> Quads | None:
        return self._det(bgr).boxes

    def _frames(self, batch: npt.NDArray[np.float32]) -> Frames:
        return np.asarray(self._rec.session(batch), dtype=np.float32)[0]

    def _decode(self, frames: Frames) -> tuple[str, float]:
        lines, _ = self._rec.postprocess_op(frames[None])
        text, score = lines[0]
        return str(text), float(score)

    def _classify(self, pieces: list[npt.NDArray[np.uint8]]) -> Votes:
        votes = self._cls(pieces).cls_res or []
        return [(str(label), float(score)) for label, score in votes]


def model_paths() -> dict[str, Path]:
    """The wheel's model files by section; an error names any that is missing (the package
    would otherwise try to download it)."""
    models = Path(rapidocr.__file__).resolve().parent / "models"
    paths = {section: models / name for section, name in MODELS.items()}
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"rapidocr {rapidocr_version()} lacks its models: {missing}")
    return paths


def rapidocr_version() -> str:
    return version("rapidocr")


def _model_config(threads: int) -> Any:
    """The package's own config with its bundled models by path and `threads` per session."""
    package = Path(rapidocr.__file__).resolve().parent
    config = ParseParams.load(package / "config.yaml")
    engine_cfg = config.EngineConfig.onnxruntime
    engine_cfg.intra_op_num_threads = threads
    engine_cfg.inter_op_num_threads = threads
    for section, path in model_paths().items():
        part = config[section]
        part.model_path = str(path)
        part.engine_cfg = engine_cfg
    # Detection input is scaled by the engine; "max" keeps the detector from enlarging it.
    config.Det.limit_type = "max"
    return config
