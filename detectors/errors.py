"""Why a file, or a part of one, could not be scanned.

Every error carries a message a security officer can read. The scanner turns them into
`ScanReport.error` (the whole file) or `ScanReport.warnings` (one archive member).
"""

from __future__ import annotations


class ScanError(Exception):
    """Base class: a clear, user-facing reason."""

    kind = "error"

    def __str__(self) -> str:
        return f"{self.kind}: {super().__str__()}"


class UnsupportedFormat(ScanError):
    kind = "unsupported"


class CorruptFile(ScanError):
    kind = "corrupt"


class LimitExceeded(ScanError):
    """A size, pixel, page, ratio or count cap was hit: the input may be a bomb."""

    kind = "limit"

    def __init__(self, message: str, cap: str = "too_large") -> None:
        super().__init__(message)
        self.cap = cap
        """Which cap, as the label of the `incomplete` finding a skipped member gives:
        "bomb" (inflates too far), "too_large", "too_deep", "too_many"."""


class EncryptedContent(ScanError):
    """Password-protected content. Reported as an `encrypted` finding, not as an error."""

    kind = "encrypted"
