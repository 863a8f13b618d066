"""`leaksentry run` keeps its embedded Redis and its scan workers alive.

One thread (`Supervision.run`) watches both every half second. A worker that exits is started
again (`bot.worker.Supervisor`, with backoff when it dies young). The embedded Redis is pinged;
when it does not answer (killed, crashed, stopped by the process that had started it) it is
started again from its append-only file on the same port, so that every client reconnects to
the URL it has, waiting 1 s, then twice as long after each failed start, up to 30 s. With
`--workers 0` only Redis is watched. The state is what `/healthz` reports (`health()`).

Children started here die with the run (`bot.children`): this thread lives as long as the run,
which the kernel's parent-death signal needs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bot.redis_server import RedisUnavailable, embedded_server, ensure_embedded
from bot.worker import StopSignal, Supervisor

log = logging.getLogger(__name__)

FIRST_DELAY = 1.0
MAX_DELAY = 30.0
STABLE_SECONDS = 10.0


@dataclass(frozen=True)
class Health:
    redis: str
    """"up", "down" (restarting), or "external" when `REDIS_URL` names a server not ours."""
    workers_running: int
    workers_wanted: int
    redis_restarts: int
    worker_restarts: int

    @property
    def ok(self) -> bool:
        return self.redis != "down"

    def to_json(self) -> dict[str, object]:
        return {
            "redis": self.redis,
            "workers": f"{self.workers_running}/{self.workers_wanted}",
            "restarts": {"redis": self.redis_restarts, "workers": self.worker_restarts},
        }


class RedisKeeper:
    """Starts the embedded server again whenever it stops answering."""

    def __init__(self, directory: Path, url: str) -> None:
        self._directory = directory
        self._probe = _probe(url)
        self.up = True
        self.restarts = 0
        self._delay = FIRST_DELAY
        self._next_try = 0.0
        self._started_at = time.monotonic()

    def check(self) -> None:
        server = embedded_server(self._directory)
        if (server is None or not server.exited()) and self._answers():
            self.up = True
            return
        now = time.monotonic()
        if self.up:
            log.error("embedded Redis is not answering; starting it again")
            self.up = False
            young = now - self._started_at < STABLE_SECONDS  # dies again and again: back off
            self._next_try = now + self._delay if young else now
            self._delay = min(self._delay * 2, MAX_DELAY) if young else FIRST_DELAY
        if now < self._next_try:
            return
        try:
            ensure_embedded(self._directory)
        except RedisUnavailable as exc:
            log.error("embedded Redis did not start (%s); next try in %.0f s", exc, self._delay)
            self._next_try = now + self._delay
            self._delay = min(self._delay * 2, MAX_DELAY)
            return
        self.restarts += 1
        self.up = True
        self._started_at = time.monotonic()
        log.info("embedded Redis started again (restart %d)", self.restarts)

    def _answers(self) -> bool:
        try:
            return bool(self._probe.ping())
        except redis.RedisError:
            return False


class Supervision:
    """The workers and, when it is embedded, Redis, watched from one thread."""

    def __init__(self, workers: Supervisor, keeper: RedisKeeper | None) -> None:
        self._workers = workers
        self._keeper = keeper

    def run(self, stop: StopSignal, poll_seconds: float = 0.5) -> None:
        """Start the workers, watch until `stop`, stop the workers (Redis stops last, at
        exit, so that the workers can finish their jobs)."""
        global _current
        _current = self
        self._workers.start()
        try:
            while not stop.wait(poll_seconds):
                if self._keeper is not None:
                    self._keeper.check()
                self._workers.check()
        finally:
            self._workers.stop()
            _current = None

    def health(self) -> Health:
        """Read from the console's thread while `run` updates it: plain attribute reads."""
        keeper = self._keeper
        return Health(
            redis="external" if keeper is None else ("up" if keeper.up else "down"),
            workers_running=len(self._workers.pids),
            workers_wanted=self._workers.wanted,
            redis_restarts=keeper.restarts if keeper else 0,
            worker_restarts=self._workers.restarts,
        )


_current: Supervision | None = None


def health() -> Health | None:
    """The supervision of this process when it is `leaksentry run`; None elsewhere (the
    console alone, a test)."""
    current = _current
    return current.health() if current is not None else None


def _probe(url: str) -> redis.Redis:
    """A client that fails at once: no retries, short timeouts."""
    return redis.Redis.from_url(
        url, socket_timeout=2.0, socket_connect_timeout=2.0, retry=Retry(NoBackoff(), 0)
    )
