"""Readings a line could also have: the recogniser's own odds for marking words in its place.

A far shot or a monitor's moiré makes the recogniser's best reading of a short marking line
a near miss (内部 read 山都, 机密★1年 read 实密★1年), while the word itself is still among
what it saw: its CTC output gives each glyph at each step a probability. A reading with a
stretch of the best one replaced by a word of the lexicon (the configured markings) is
scored by the probabilities of its glyphs at the steps where the best reading emitted the
ones it replaces; it is an alternative when it is not much less likely than the best.
Detectors judge an alternative as they judge a reading, with less confidence.

After Graves et al., "Connectionist Temporal Classification" (ICML 2006): the best path
decodes each step to its most probable label, collapsing repeats and dropping blanks; the
steps that emitted a glyph are where its alternatives compete.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Frames = npt.NDArray[np.float32]
"""The recogniser's output for one line: (steps, alphabet) probabilities, index 0 the blank."""


@dataclass(frozen=True)
class Emitted:
    """A glyph of the best path and the steps that emitted it."""

    glyph: str
    steps: tuple[int, ...]


def best_path(frames: Frames, alphabet: Sequence[str]) -> list[Emitted]:
    """The greedy CTC reading, glyph by glyph, with the steps behind each."""
    labels = frames.argmax(axis=1)
    emitted: list[Emitted] = []
    previous = 0
    for step, label in enumerate(int(x) for x in labels):
        if label != 0 and label == previous and emitted:
            last = emitted[-1]
            emitted[-1] = Emitted(last.glyph, (*last.steps, step))
        elif label != 0:
            emitted.append(Emitted(alphabet[label], (step,)))
        previous = label
    return emitted


def alternatives(
    frames: Frames,
    alphabet: Sequence[str],
    index: Mapping[str, int],
    words: Sequence[str],
    max_loss: float,
) -> tuple[str, ...]:
    """Readings of the line with one stretch of the best path replaced by a word of `words`
    as long as the stretch, best first, whose replaced glyphs lose at most `max_loss`
    (natural log) of probability on average against the best path's. Words with a glyph
    outside the alphabet make no alternative."""
    path = best_path(frames, alphabet)
    if not path:
        return ()
    text = "".join(e.glyph for e in path)
    glyphs = sorted({c for word in words for c in word if c in index})
    column = {glyph: i for i, glyph in enumerate(glyphs)}
    # Per glyph of the path: the log-odds of its own glyph and of each lexicon glyph at the
    # steps that emitted it.
    odds = np.array([frames[list(e.steps)].max(axis=0) for e in path]).reshape(len(path), -1)
    own = np.log(np.maximum(odds.max(axis=1), _FLOOR))
    seen = np.log(np.maximum(odds[:, [index[g] for g in glyphs]], _FLOOR))
    scored: dict[str, float] = {}
    for word in words:
        if word in text or not all(c in column for c in word):
            continue
        for start in range(len(path) - len(word) + 1):
            lost = [
                own[start + k] - seen[start + k, column[c]]
                for k, c in enumerate(word)
                if path[start + k].glyph != c
            ]
            loss = float(np.mean(lost)) if lost else math.inf  # the word is read there
            if loss <= max_loss:
                reading = text[:start] + word + text[start + len(word) :]
                scored[reading] = min(loss, scored.get(reading, loss))
    return tuple(sorted(scored, key=scored.__getitem__))


_FLOOR = 1e-12
"""Odds below this count as this: log(0) would make every comparison infinite."""
