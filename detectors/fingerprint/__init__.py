"""Fingerprints of pages, for recognising registered (known) controlled documents.

A registered page and a member's capture of it (re-photographed, cropped, masked, shown on a
screen, printed at another scale) share little pixel for pixel, so a page carries several
independent fingerprints, and a candidate is accepted only when they agree:

- `text_marks`: hashes of character shingles of the page's normalised text, selected by value
  so that any fragment of the page selects the same marks as the whole (the candidate index);
- `image_hashes`: 64-bit perceptual hashes of the rectified page and of regions of it;
- `layout`: compact data for geometric verification of a candidate.

Pure: fingerprints are computed from a `Page` and compared with each other; where they are
stored and how candidates are found (an index in Redis) is the caller's business, behind the
`KnownDocuments` protocol.
"""

from detectors.fingerprint.model import KnownDocuments, KnownMatch, PageFingerprint, PageMatch

__all__ = ["KnownDocuments", "KnownMatch", "PageFingerprint", "PageMatch"]
