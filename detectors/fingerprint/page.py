"""Fingerprinting one page (placeholder until the fingerprint helper lands its version)."""

from __future__ import annotations

from detectors.fingerprint.model import PageFingerprint
from detectors.model import Page


def fingerprint_page(page: Page, settings: object) -> PageFingerprint | None:
    return None
