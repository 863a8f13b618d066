"""The typed layer over Redis replies, against real replies of the embedded server, read by a
client with and without `decode_responses`: both give the same text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.redis_server import connect
from bot.redis_text import (
    binaries,
    binary,
    claimed,
    number,
    read_streams,
    scored,
    stream_entries,
    text_map,
)

STREAM = "test:stream"
GROUP = "test:group"


@pytest.fixture(params=[False, True], ids=["bytes", "decoded"])
def reader(request: pytest.FixtureRequest, redis_dir: Path) -> Iterator[redis.Redis]:
    """A client on the test's own server, replying bytes or str."""
    found = connect(redis_dir, decode_responses=request.param)
    yield found
    found.close()


def _two_entries(client: redis.Redis) -> tuple[str, str]:
    client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    first = client.xadd(STREAM, {"job": "机密文件", "n": 1})
    second = client.xadd(STREAM, {"job": "second", "n": 2})
    return first.decode(), second.decode()


def test_xreadgroup_gives_each_stream_with_its_entries_as_text(
    client: redis.Redis, reader: redis.Redis
) -> None:
    first, second = _two_entries(client)
    reply = reader.xreadgroup(GROUP, "c1", {STREAM: ">"}, count=10)
    assert read_streams(reply) == [
        (STREAM, [(first, {"job": "机密文件", "n": "1"}), (second, {"job": "second", "n": "2"})])
    ]
    assert read_streams(reader.xreadgroup(GROUP, "c1", {STREAM: ">"}, block=1)) == []


def test_an_entry_deleted_while_pending_reads_with_no_fields(
    client: redis.Redis, reader: redis.Redis
) -> None:
    first, second = _two_entries(client)
    reader.xreadgroup(GROUP, "c1", {STREAM: ">"}, count=10)
    client.xdel(STREAM, first)
    pending = read_streams(reader.xreadgroup(GROUP, "c1", {STREAM: "0"}, count=10))
    assert pending == [(STREAM, [(first, {}), (second, {"job": "second", "n": "2"})])]


def test_xautoclaim_gives_its_cursor_and_the_claimed_entries(
    client: redis.Redis, reader: redis.Redis
) -> None:
    first, second = _two_entries(client)
    reader.xreadgroup(GROUP, "c1", {STREAM: ">"}, count=10)
    cursor, entries = claimed(reader.xautoclaim(STREAM, GROUP, "c2", 0, "0-0", count=1))
    assert (cursor, entries) == (second, [(first, {"job": "机密文件", "n": "1"})])
    cursor, entries = claimed(reader.xautoclaim(STREAM, GROUP, "c2", 0, cursor, count=1))
    assert (cursor, [e for e, _ in entries]) == ("0-0", [second])


def test_xrevrange_gives_the_newest_entry_first(client: redis.Redis, reader: redis.Redis) -> None:
    first, second = _two_entries(client)
    entries = stream_entries(reader.xrevrange(STREAM))
    assert [entry_id for entry_id, _ in entries] == [second, first]
    assert entries[1][1] == {"job": "机密文件", "n": "1"}


def test_sorted_set_ranges_with_scores_give_members_as_text(
    client: redis.Redis, reader: redis.Redis
) -> None:
    client.zadd("test:a", {"甲": 1.5, "乙": 2.0})
    client.zadd("test:b", {"甲": 0, "丙": 0})
    assert scored(reader.zrange("test:a", 0, -1, withscores=True)) == [("甲", 1.5), ("乙", 2.0)]
    assert scored(reader.zinter({"test:a": 1, "test:b": 0}, withscores=True)) == [("甲", 1.5)]


def test_numbers_read_from_a_hash(client: redis.Redis, reader: redis.Redis) -> None:
    client.hset("test:h", mapping={"at": repr(1733270400.25), "count": 3})
    at, count, missing = reader.hmget("test:h", ["at", "count", "missing"])
    assert (number(at), number(count)) == (1733270400.25, 3.0)
    with pytest.raises(TypeError):
        number(missing)
    assert text_map(reader.hgetall("test:h")) == {"at": "1733270400.25", "count": "3"}


def test_binary_values_need_a_client_that_reads_bytes(client: redis.Redis, redis_dir: Path) -> None:
    sealed = b"\x00\xff\xfe sealed"
    client.set("test:blob", sealed)
    assert binary(client.get("test:blob")) == sealed
    assert binaries(client.mget(["test:blob", "test:none"])) == [sealed, None]
    client.set("test:word", "文字")
    with connect(redis_dir, decode_responses=True) as decoding, pytest.raises(TypeError):
        binaries(decoding.mget(["test:none", "test:word"]))


def test_a_reply_of_another_shape_is_refused(client: redis.Redis) -> None:
    client.set("test:plain", "x")
    with pytest.raises(TypeError):
        stream_entries(client.get("test:plain"))
    with pytest.raises(TypeError):
        read_streams(client.hgetall("test:none"))
