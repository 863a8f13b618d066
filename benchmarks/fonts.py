"""`--held-out-fonts DIR`: draw a benchmark's corpus in fonts no threshold was tuned on."""

from __future__ import annotations

from pathlib import Path

from tests.corpus.render import use_held_out_fonts

HELD_OUT_HELP = (
    "a folder with the Fandol fonts (FandolFang/Song/Kai/Hei, from Debian's "
    "texlive-lang-chinese): the corpus is drawn in them, in its own folder, and the README is "
    "left alone"
)


def held_out_fonts(folder: Path | None) -> str:
    """Switch the corpus generator to the fonts in `folder`; the suffix that keeps such a
    corpus apart from the default one ("" without a folder)."""
    if folder is None:
        return ""
    use_held_out_fonts(folder)
    return "-fandol"
