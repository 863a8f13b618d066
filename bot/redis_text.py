"""Redis replies as text, whether or not the client was made with `decode_responses`.

redis-py types a reply as the union of what every protocol version and decode mode could give
(bytes or str, RESP2 lists or RESP3 maps, None for a deleted stream entry). The functions here
check the shape the code relies on at run time and hand on exact types, so that callers need
neither casts nor ignores. A reply of another shape raises `TypeError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redis.typing import EncodableT, KeyT, StreamIdT

Fields = dict[EncodableT, EncodableT]
"""A hash or stream entry to write (HSET's mapping, XADD's fields)."""

Streams = dict[KeyT, StreamIdT]
"""What XREAD/XREADGROUP read: stream name → the id to read after."""

StreamEntry = tuple[str, dict[str, str]]
"""A stream entry as read: (id, fields); the fields are empty for an entry deleted meanwhile."""


def text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def text_map(mapping: Mapping[Any, Any]) -> dict[str, str]:
    return {text(k): text(v) for k, v in mapping.items()}


def number(value: object) -> float:
    """A numeric field (a float's repr, an int, or a score redis-py has converted already)."""
    if isinstance(value, bytes | str | int | float):
        return float(value)
    raise TypeError(f"not a number in a Redis reply: {value!r}")


def binary(value: object) -> bytes:
    """A binary value: only a client without `decode_responses` can read one."""
    if isinstance(value, bytes):
        return value
    raise TypeError(f"expected bytes in a Redis reply, got {type(value).__name__}")


def binaries(reply: object) -> list[bytes | None]:
    """MGET's values, None where a key does not exist."""
    return [None if value is None else binary(value) for value in _sequence(reply)]


def scored(reply: object) -> list[tuple[str, float]]:
    """The (member, score) pairs of a sorted-set range read WITHSCORES."""
    pairs = []
    for pair in _sequence(reply):
        member, score = _sequence(pair)
        pairs.append((text(member), number(score)))
    return pairs


def stream_entries(reply: object) -> list[StreamEntry]:
    """The entries of XRANGE or XREVRANGE, or of one stream in XREADGROUP or XAUTOCLAIM."""
    entries = []
    for entry in _sequence(reply):
        entry_id, fields = _sequence(entry)
        entries.append((text(entry_id), {} if fields is None else text_map(_mapping(fields))))
    return entries


def read_streams(reply: object) -> list[tuple[str, list[StreamEntry]]]:
    """XREADGROUP's entries per stream, in the order of the reply (nothing when it timed out)."""
    if reply is None:
        return []
    streams = []
    for stream in _sequence(reply):
        name, entries = _sequence(stream)
        streams.append((text(name), stream_entries(entries)))
    return streams


def claimed(reply: object) -> tuple[str, list[StreamEntry]]:
    """XAUTOCLAIM's cursor for the next call and the entries it claimed."""
    cursor, entries = _sequence(reply)[:2]
    return text(cursor), stream_entries(entries)


def _sequence(reply: object) -> list[object] | tuple[object, ...]:
    if isinstance(reply, list | tuple):
        return reply
    raise TypeError(f"expected a list in a Redis reply, got {type(reply).__name__}")


def _mapping(reply: object) -> Mapping[object, object]:
    if isinstance(reply, Mapping):
        return reply
    raise TypeError(f"expected a map in a Redis reply, got {type(reply).__name__}")
