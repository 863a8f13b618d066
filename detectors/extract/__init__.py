"""Extraction: bytes of any supported file in, `Page`s out.

`extract_pages(data, name, ctx)` sniffs the content (never the extension) and yields pages:
images to OCR, text layers with layout and colour, rendered PDF/OFD pages, a metadata
pseudo-page, and the pages of every member of archives and Office embeddings.
"""

from detectors.extract.base import ExtractContext, ExtractTally
from detectors.extract.dispatch import extract_pages, media_kind
from detectors.extract.sniff import sniff

__all__ = ["ExtractContext", "ExtractTally", "extract_pages", "media_kind", "sniff"]
