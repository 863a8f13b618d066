"""Which pixels are seal / organ-mark red.

A fixed hue window fails on photos under warm lamp light: white paper turns orange and
everything looks "warm". So the page is first white-balanced on its own paper (the bright
pixels), with the per-channel gains capped to what a lamp can do: a red poster is not
"balanced" into grey, and red ink stays red. Then red is a hue near 0° with enough
saturation and brightness.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from detectors.config import RedSettings
from detectors.model import RgbImage

BoolMask = npt.NDArray[np.bool_]

_SAMPLE_SIDE = 256
"""Paper colour is estimated on a copy this small: it is a global, smooth quantity."""
_PAPER_PERCENTILE = 90
"""Bright pixels stand for the paper; the top few percent may be highlights."""


def red_mask(image: RgbImage, settings: RedSettings) -> BoolMask:
    """True where the (white-balanced) page shows seal or header red."""
    balanced = white_balance(image, settings.max_white_balance_gain)
    hsv = cv2.cvtColor(balanced, cv2.COLOR_RGB2HSV)
    low = cv2.inRange(
        hsv, (0, settings.min_saturation, settings.min_value), (settings.hue_low_max, 255, 255)
    )
    high = cv2.inRange(
        hsv, (settings.hue_high_min, settings.min_saturation, settings.min_value), (180, 255, 255)
    )
    return np.asarray(cv2.bitwise_or(low, high) > 0)


def white_balance(image: RgbImage, max_gain: float) -> RgbImage:
    """The image with its paper colour mapped to white, by per-channel gains.

    The gains also brighten a dim photo. They are capped at `max_gain`, so they can undo a
    lamp's orange cast but cannot turn a mostly red picture grey.
    """
    paper = paper_color(image)
    gains = np.clip(255.0 / np.maximum(paper, 1.0), 1.0, max_gain)
    if np.all(gains < 1.02):
        return image
    lut = np.clip(np.arange(256, dtype=np.float32)[:, None] * gains[None, :], 0, 255)
    table = lut.astype(np.uint8).reshape(256, 1, 3)
    return np.asarray(cv2.LUT(image, table), dtype=np.uint8)


def paper_color(image: RgbImage) -> npt.NDArray[np.float32]:
    """Mean RGB of the brightest pixels: the paper, on a page photo."""
    h, w = image.shape[:2]
    step = max(1, max(h, w) // _SAMPLE_SIDE)
    sample = image[::step, ::step].reshape(-1, 3).astype(np.float32)
    brightness = sample.sum(axis=1)
    bright = sample[brightness >= np.percentile(brightness, _PAPER_PERCENTILE)]
    return np.asarray(bright.mean(axis=0), dtype=np.float32)
