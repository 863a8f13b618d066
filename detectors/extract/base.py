"""What extractors share: the limits they enforce and where they report partial problems."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from detectors.config import Limits
from detectors.errors import CorruptFile, LimitExceeded, ScanError

BOMB = "bomb"
"""Labels of an `incomplete` finding: a member inflating past a cap (ratio, its declared size,
the tree's bytes, an image's pixels),"""
TOO_LARGE = "too_large"
"""a member declared larger than the file cap,"""
TOO_DEEP = "too_deep"
"""containers nested past the depth cap,"""
TOO_MANY = "too_many"
"""more members than the count cap,"""
UNDECODABLE = "undecodable"
"""a member that claims a format and cannot be read in it (corrupt, truncated),"""
UNSAFE_PATH = "unsafe_path"
"""a member named to escape its folder (zip slip)."""


@dataclass(frozen=True)
class Skipped:
    """A part of the input that was not read whole, and why."""

    source: str
    label: str
    reason: str


@dataclass
class ExtractTally:
    """Shared by every level of one extraction tree (a file and all that is nested in it)."""

    warnings: list[str] = field(default_factory=list)
    encrypted_sources: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    """Members not read whole: each gives an `incomplete` finding (a leak may hide there)."""
    pages_emitted: int = 0
    pages_skipped: int = 0
    bytes_unpacked: int = 0
    members: int = 0


@dataclass(frozen=True)
class ExtractContext:
    """Limits and the shared tally, seen from one container depth.

    An extractor raises a `ScanError` for a problem with the whole input it was given. A
    container (archive, Office file with embedded files) that meets a problem with one member
    records it with `warn()` / `encrypted()` and goes on with the others.
    """

    limits: Limits
    depth: int = 0
    tally: ExtractTally = field(default_factory=ExtractTally)
    decode_max_side: int = 2400
    """Long side, in pixels, that photos are decoded at (config `vision.decode_max_side`)."""
    decode_min_side: int = 2000
    """Long side a JPEG photo may decode at instead, by libjpeg's scaling (config
    `vision.decode_min_side`)."""

    def warn(self, source: str, message: str) -> None:
        self.tally.warnings.append(f"{source}: {message}")

    def encrypted(self, source: str) -> None:
        self.tally.encrypted_sources.append(source)

    def skipped(self, source: str, problem: ScanError | str, label: str | None = None) -> None:
        """A member left unread or read in part: a warning, and noted for an `incomplete`
        finding when a cap refused it or it is corrupt. A format the scanner does not read
        (an MP3 beside the documents) is only a warning: it holds no page to hide."""
        self.warn(source, str(problem))
        if label is None and isinstance(problem, LimitExceeded):
            label = problem.cap
        elif label is None and isinstance(problem, CorruptFile):
            label = UNDECODABLE
        if label is not None:
            self.tally.skipped.append(Skipped(source, label, str(problem)))

    def count_unpacked(self, size: int, members: int = 1) -> None:
        """Add uncompressed bytes and `members` files; raise past the caps (zip bombs).

        Parts of one document (the XML inside a DOCX) count their bytes with `members=0`: the
        member cap is about files in archives, not about how a format is built.
        """
        self.tally.bytes_unpacked += size
        self.tally.members += members
        if self.tally.bytes_unpacked > self.limits.max_archive_total_bytes:
            raise LimitExceeded(
                f"archive expands past {self.limits.max_archive_total_bytes:,} bytes", BOMB
            )
        if self.tally.members > self.limits.max_archive_members:
            raise LimitExceeded(
                f"archive holds more than {self.limits.max_archive_members:,} files", TOO_MANY
            )

    @property
    def exhausted(self) -> bool:
        """Whether a tree-wide cap has been passed: nothing more of this input may be read."""
        return (
            self.tally.bytes_unpacked > self.limits.max_archive_total_bytes
            or self.tally.members > self.limits.max_archive_members
        )

    def nested(self) -> ExtractContext:
        """The same tree one container level deeper."""
        if self.depth + 1 > self.limits.max_archive_depth:
            raise LimitExceeded(
                f"containers nested deeper than {self.limits.max_archive_depth}", TOO_DEEP
            )
        return replace(self, depth=self.depth + 1)

    def take_page(self) -> bool:
        """Whether one more page may be emitted under the page cap; counts skipped ones."""
        if self.tally.pages_emitted >= self.limits.max_pages:
            self.tally.pages_skipped += 1
            return False
        self.tally.pages_emitted += 1
        return True
