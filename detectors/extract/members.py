"""Recursing into the members of a container (archive, Office embedding, OLE package)."""

from __future__ import annotations

from collections.abc import Iterator

from detectors.errors import EncryptedContent, ScanError
from detectors.extract.base import ExtractContext
from detectors.model import Page


def extract_member(data: bytes, source: str, ctx: ExtractContext) -> Iterator[Page]:
    """Pages of one member, one container level deeper.

    A problem with the member (too deep, corrupt, unsupported, password) is recorded against
    it and the container goes on with the others; only a tree-wide cap (total bytes, member
    count) stops the whole input.
    """
    # Imported here: the dispatcher imports every container module, this one included.
    from detectors.extract.dispatch import extract_pages

    try:
        yield from extract_pages(data, source, ctx.nested())
    except EncryptedContent:
        ctx.encrypted(source)
    except ScanError as exc:
        if ctx.exhausted:
            raise
        ctx.skipped(source, exc)
