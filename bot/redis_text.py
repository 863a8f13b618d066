"""Redis replies as text, whether or not the client was made with `decode_responses`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def text_map(mapping: Mapping[Any, Any]) -> dict[str, str]:
    return {text(k): text(v) for k, v in mapping.items()}
