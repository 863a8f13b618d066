"""Finding a CJK font to draw OFD text with (Debian: fonts-noto-cjk, else fonts-wqy-*)."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import ImageFont

FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts")
# (file name, face whose name ends with this: the Simplified Chinese one of a collection)
_SERIF = (("NotoSerifCJK-Regular.ttc", "SC"), ("NotoSerifCJKsc-Regular.otf", ""))
_SANS = (
    ("NotoSansCJK-Regular.ttc", "SC"),
    ("NotoSansCJKsc-Regular.otf", ""),
    ("wqy-microhei.ttc", ""),
    ("wqy-zenhei.ttc", ""),
)
_ANY_CJK = ("cjk", "wqy", "uming", "ukai", "simsun", "simhei", "droidsansfallback")
_FONT_SUFFIXES = (".ttc", ".otf", ".ttf")
_SERIF_HINTS = ("宋", "明", "楷", "song", "ming", "kai", "serif", "times", "roman")

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


class FontBook:
    """Fonts of one rendering job, looked up once and cached by style and pixel size."""

    def __init__(self, font_dirs: tuple[str, ...] = FONT_DIRS) -> None:
        self._dirs = font_dirs
        self._files: list[Path] | None = None
        self._faces: dict[bool, tuple[str, int] | None] = {}
        self._fonts: dict[tuple[bool, int], Font] = {}

    def get(self, family: str, size_px: int) -> Font:
        """A font for `family` (宋体 → serif, 黑体 → sans) at `size_px`; PIL's default if none."""
        serif = any(hint in family.lower() for hint in _SERIF_HINTS)
        size_px = max(4, min(size_px, 2000))
        key = (serif, size_px)
        if key not in self._fonts:
            self._fonts[key] = self._load(serif, size_px)
        return self._fonts[key]

    def _load(self, serif: bool, size_px: int) -> Font:
        if serif not in self._faces:
            self._faces[serif] = self._find(serif)
        face = self._faces[serif]
        if face is None:
            return ImageFont.load_default(size_px)
        return ImageFont.truetype(face[0], size_px, index=face[1])

    def _find(self, serif: bool) -> tuple[str, int] | None:
        files = self._font_files()
        wanted = (_SERIF + _SANS) if serif else (_SANS + _SERIF)
        for file_name, suffix in wanted:
            for path in files:
                if path.name == file_name:
                    return str(path), _face_index(path, suffix)
        for path in files:
            if any(key in path.name.lower() for key in _ANY_CJK):
                return str(path), 0
        return None

    def _font_files(self) -> list[Path]:
        if self._files is None:
            found: list[Path] = []
            for folder in self._dirs:
                for root, _dirs, names in os.walk(folder):
                    found += [Path(root, n) for n in names if n.lower().endswith(_FONT_SUFFIXES)]
            self._files = sorted(found)
        return self._files


def _face_index(path: Path, suffix: str) -> int:
    """The index of the face in a collection whose family name ends with `suffix`."""
    if not suffix or path.suffix.lower() != ".ttc":
        return 0
    for index in range(8):
        try:
            family = ImageFont.truetype(str(path), 12, index=index).getname()[0] or ""
        except OSError:
            break
        if family.endswith(suffix):
            return index
    return 0
