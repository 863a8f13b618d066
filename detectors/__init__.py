"""leaksentry's scanning library: bytes in, findings out. No chat, no Redis, no globals.

from detectors import load_config, scan
report = scan(data, "photo.jpg", load_config())
"""

from detectors.config import ConfigError, ScanConfig, load_config
from detectors.model import BBox, Finding, Page, ScanReport, TextLine, Verdict
from detectors.scan import Scanner, scan

__all__ = [
    "BBox",
    "ConfigError",
    "Finding",
    "Page",
    "ScanConfig",
    "ScanReport",
    "Scanner",
    "TextLine",
    "Verdict",
    "load_config",
    "scan",
]
