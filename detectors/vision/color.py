"""Which pixels are seal / organ-mark red.

A fixed hue window fails on photos under warm lamp light: white paper turns orange and
everything looks "warm". So the page is first white-balanced on its own paper (the bright
pixels), with the per-channel gains capped to what a lamp can do: a red poster is not
"balanced" into grey, and red ink stays red. Then red is a hue near 0° with enough
saturation and brightness.

A photo of a monitor shifts the ink itself, not the paper: the panel's subpixels and the
camera turn red toward magenta or orange, which white balance on the paper cannot undo. So
the hue window follows the picture's own red ink, by at most `max_hue_shift`, measured on
the saturated pixels near red. Ink is a small share of a page; a brown desk or an orange
wall around it is not, and then the window stays where it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from detectors.config import RedSettings
from detectors.model import RgbImage

BoolMask = npt.NDArray[np.bool_]

_SAMPLE_SIDE = 256
"""Paper colour is estimated on a copy this small: it is a global, smooth quantity."""
_HUE_TURN = 180
_MIN_INK_PIXELS = 200
"""Fewer reddish pixels than this say nothing about the ink's hue."""
_PAPER_PERCENTILE = 90
"""Bright pixels stand for the paper; the top few percent may be highlights."""


@dataclass(frozen=True)
class Colors:
    """A picture's white-balanced colours as the red tests read them, computed once for the
    page's red and its faint red."""

    hue: npt.NDArray[np.int16]
    """Signed around red (`_signed_hue`)."""
    saturation: npt.NDArray[np.uint8]
    value: npt.NDArray[np.uint8]


def colors(image: RgbImage, max_white_balance_gain: float) -> Colors:
    balanced = white_balance(image, max_white_balance_gain)
    hsv = np.asarray(cv2.cvtColor(balanced, cv2.COLOR_RGB2HSV), dtype=np.uint8)
    return Colors(_signed_hue(hsv[..., 0]), hsv[..., 1], hsv[..., 2])


def red_mask(image: RgbImage, settings: RedSettings) -> BoolMask:
    """True where the (white-balanced) page shows seal or header red."""
    return red_in(colors(image, settings.max_white_balance_gain), settings)


def red_in(picture: Colors, settings: RedSettings) -> BoolMask:
    """`red_mask` of a picture's colours (`settings.max_white_balance_gain` was theirs)."""
    hue = picture.hue
    vivid = (picture.saturation >= settings.min_saturation) & (picture.value >= settings.min_value)
    low, high = settings.hue_high_min - _HUE_TURN, settings.hue_low_max
    shift = _ink_shift(hue, vivid, low, high, settings)
    return np.asarray(vivid & (hue >= low + shift) & (hue <= high + shift))


def _signed_hue(hue: npt.NDArray[np.uint8]) -> npt.NDArray[np.int16]:
    """OpenCV hue (0-180) as degrees/2 around red: -90..89, so the red window is one range."""
    signed = hue.astype(np.int16)
    return np.where(signed >= _HUE_TURN // 2, signed - _HUE_TURN, signed).astype(np.int16)


def _ink_shift(
    hue: npt.NDArray[np.int16], vivid: BoolMask, low: int, high: int, settings: RedSettings
) -> int:
    """How far the picture's red ink sits from the window's centre, within the shift cap;
    0 when the reddish pixels are too many to be ink (a desk, a wall, a poster)."""
    cap = settings.max_hue_shift
    if cap == 0:
        return 0
    reddish = vivid & (hue >= low - cap) & (hue <= high + cap)
    count = int(np.count_nonzero(reddish))
    if count < _MIN_INK_PIXELS or count > settings.max_ink_share * reddish.size:
        return 0
    offset = float(np.median(hue[reddish])) - settings.ink_hue
    return round(min(max(offset, -cap), cap))


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
