"""Scan workers: take jobs from the queue, scan, record incidents, queue notifications.

A worker is one process with one consumer name. Per job: the bytes from the blob store, the
report from the result cache (by SHA-256 and config digest) or from a scan, then ONE
transaction that records the incident, queues the notifications and finishes the job:

    WATCH ls:job:<id>          finished already (another delivery won)? only drop the entry
    Incidents.record           WATCHes the content's incident, reads, then MULTI + writes
    Outbox.queue_for_incident  the notifications, with ids derived from the job
    JobQueue.finish            job "done", XACK, XDEL
    EXEC                       on WatchError (a concurrent sighting or delivery): all again

A crash before EXEC leaves the job pending: it is redone (the scan comes from the cache) by
this worker when it comes back or by another after `claim_idle_seconds`. A crash after EXEC
has nothing left to redo. While a job is being scanned a heartbeat keeps it from being
reclaimed, so a slow scan is not taken over by a second worker.

The cache key includes a digest of the scanner's configuration and of the leaksentry version,
and the registry's generation: once a document is registered or removed, content seen before
is scanned again, so a forwarded copy of a newly registered document is still caught.

`Supervisor` runs N worker processes (`leaksentry worker --consumers N`, `leaksentry run`):
a native crash in an OCR library kills one process, which is restarted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, Protocol, TypeVar

import redis
from redis.client import Pipeline

from bot import keys, metrics
from bot.blobs import DAY, HOUR, Blobs
from bot.children import child_options
from bot.groups import Groups
from bot.incidents import IncidentEvent, Incidents
from bot.outbox import Outbox, Posted
from bot.queue import Delivery, JobQueue, job_key
from bot.redis_server import RedisUnavailable, connect
from bot.registry import Registry
from bot.retention import trim_record_streams
from bot.sealing import SealError
from bot.settings import BotSettings, load_bot_settings
from bot.templates import Templates, load_templates
from bot.web.evidence import EvidencePictures, PageArtist
from detectors import ScanConfig, Scanner, load_config
from detectors.fingerprint import KnownMatch, PageFingerprint

log = logging.getLogger(__name__)

T = TypeVar("T")

RECONNECT_FIRST_DELAY = 0.2
RECONNECT_MAX_DELAY = 5.0
CONSUMER_FORGET_SECONDS = 24 * HOUR
"""A consumer name silent this long and owning no job belongs to a worker that is gone."""


class StopSignal(Protocol):
    """`threading.Event` or `multiprocessing.Event`."""

    def is_set(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...


def config_digest(config: ScanConfig) -> str:
    """What a cached report depends on besides the bytes: the scanner's configuration (its
    content, not where it was read from) and the code's version."""
    digest = hashlib.sha256(version("leaksentry").encode())
    digest.update(config.model_dump_json(exclude={"source_dir"}).encode())
    return digest.hexdigest()[:16]


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def run_worker(
    client_factory: Callable[[], redis.Redis],
    scan_config: ScanConfig,
    bot_settings: BotSettings,
    consumer_name: str,
    stop_event: StopSignal,
) -> None:
    """Process jobs as `consumer_name` until `stop_event` is set (the job in hand is finished
    first). Redis going away is waited out: reconnect with backoff, then take up the jobs this
    consumer had not finished."""
    scanner = Scanner(scan_config)  # one OCR engine for the life of the process
    templates = load_templates(bot_settings.source_dir or None)
    delay = RECONNECT_FIRST_DELAY
    while not stop_event.is_set():
        try:
            client = client_factory()
            delay = RECONNECT_FIRST_DELAY
            Worker(client, scanner, templates, bot_settings, consumer_name).run(stop_event)
        except (redis.RedisError, RedisUnavailable) as exc:
            # Gone (restart, network) or refusing commands (out of memory, read-only): wait.
            gone = isinstance(exc, (redis.ConnectionError, redis.TimeoutError, RedisUnavailable))
            log.log(
                logging.WARNING if gone else logging.ERROR,
                "worker %s: Redis error (%s); retry in %.1f s",
                consumer_name,
                exc,
                delay,
                exc_info=not gone,
            )
            stop_event.wait(delay)
            delay = min(delay * 2, RECONNECT_MAX_DELAY)


class Worker:
    """One consumer on one connection."""

    def __init__(
        self,
        client: redis.Redis,
        scanner: Scanner,
        templates: Templates,
        settings: BotSettings,
        consumer: str,
    ) -> None:
        self.client = client
        self.name = consumer
        self.settings = settings
        self.queue = JobQueue(client, settings)
        self.blobs = Blobs(client, settings)
        self.incidents = Incidents(client, settings)
        self.groups = Groups(client, settings)
        self.outbox = Outbox(client, settings, templates)
        self.scanner = scanner
        self.artist = PageArtist(scanner.config, scanner=scanner, cached=0)
        self.pictures = EvidencePictures(client, settings)
        self.registry = _Lookups(Registry(client, scanner.config))
        scanner.known = self.registry
        self._digest = config_digest(scanner.config)
        self._heartbeat_seconds = settings.pipeline.claim_idle_seconds / 3

    def run(self, stop_event: StopSignal) -> None:
        self.queue.ensure_group()
        recovered: set[str] = set()  # each once here: one that failed again waits for a reclaim
        while not stop_event.is_set() and (batch := self.queue.recover(self.name)):
            if batch[0].entry_id in recovered:
                break
            recovered.add(batch[0].entry_id)
            self._handle(batch)
        while not stop_event.is_set():
            self._housekeeping()
            self._handle(self.queue.reclaim(self.name) or self.queue.read(self.name))

    def _handle(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            try:
                self.process(delivery)
            except (redis.ConnectionError, redis.TimeoutError):
                raise
            except Exception:  # a bug with this job: it stays pending, retried, then dead
                log.exception("worker %s: job %s failed", self.name, delivery.job.job_id)

    def process(self, delivery: Delivery) -> IncidentEvent | None:
        """Finish one delivery: scanned and recorded, or dead-lettered."""
        job = delivery.job
        if self.queue.exhausted(delivery):
            tries = delivery.attempts - 1
            self.dead_letter(delivery, f"retries: gave up after {tries} attempts to scan it")
            return None
        with self._heartbeat(delivery):
            try:
                data = self.blobs.get(job.sha256)
            except SealError as exc:  # this machine has another LEAKSENTRY_EVIDENCE_KEY
                self.dead_letter(delivery, f"fetch: {exc}")
                return None
            if data is None:
                self.dead_letter(delivery, "fetch: the item's bytes were no longer stored")
                return None
            report = self.report(job.sha256, job.filename, data)
        if report["error"] and not self.incidents.alerts(report["verdict"]):
            # Not (fully) scanned and nothing found: corrupt, unsupported, over a limit. The
            # officers hear of it; "class: details" is the scanner's error format.
            self.dead_letter(delivery, report["error"])
            return None
        event = self._finish_once(delivery, lambda pipe: self._record(pipe, delivery, report))
        if event is not None and event.is_new:
            self._draw_evidence(job.sha256, data, report)
        return event

    def _draw_evidence(self, sha256: str, data: bytes, report: dict[str, Any]) -> None:
        """The console's pictures of a new incident, now rather than when an officer opens it;
        a failure leaves them to be drawn then."""
        try:
            drawn = self.pictures.draw_all(self.artist, sha256, data, report)
        except Exception:  # the incident and its alert are out already
            log.exception("worker %s: evidence pictures of %s not drawn", self.name, sha256)
            return
        log.info("worker %s: %d evidence picture(s) of %s drawn", self.name, drawn, sha256[:12])

    def report(self, sha256: str, filename: str, data: bytes) -> dict[str, Any]:
        """The report of these bytes: cached, or scanned now and cached."""
        generation = self.registry.generation()
        cache_key = f"{keys.SCAN_CACHE}{sha256}:{self._digest}:{generation}"
        cached = self.client.get(cache_key)
        if cached is not None:
            self.client.hincrby(keys.JOB_STATS, "cache_hits", 1)
            return dict(json.loads(cached))
        started = time.perf_counter()
        self.registry.failed = False
        report = self.scanner.scan(data, filename).to_json()
        seconds = time.perf_counter() - started
        flagged = self.incidents.alerts(report["verdict"])
        retention = self.settings.retention
        ttl = retention.evidence_days * DAY if flagged else retention.clean_blob_hours * HOUR
        pipe = self.client.pipeline(transaction=True)
        if not self.registry.failed:  # a report that missed the registry is used, not kept
            pipe.set(cache_key, json.dumps(report, ensure_ascii=False), ex=max(1, round(ttl)))
        metrics.count_scan(pipe, "error" if report["error"] else report["verdict"])
        metrics.observe(pipe, metrics.SCAN_SECONDS, seconds)
        pipe.execute()
        return report

    def _record(
        self, pipe: Pipeline, delivery: Delivery, report: dict[str, Any]
    ) -> IncidentEvent | None:
        event = self.incidents.record(pipe, delivery.job, report)  # leaves `pipe` in MULTI
        if event is not None:
            self.outbox.queue_for_incident(pipe, event, self.groups.get(delivery.job.room_id))
        self.queue.finish(pipe, delivery)
        return event

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """The job goes to the dead letters and its group's officers get a notice, together."""
        log.error("worker %s: job %s dead-lettered: %s", self.name, delivery.job.job_id, reason)
        group = self.groups.get(delivery.job.room_id)

        def writes(pipe: Pipeline) -> None:
            pipe.multi()
            self.queue.dead_letter(pipe, delivery, reason)
            self.outbox.queue_dead_letter_notice(pipe, Posted.of_job(delivery.job), reason, group)

        self._finish_once(delivery, writes)

    def _finish_once(self, delivery: Delivery, writes: Callable[[Pipeline], T]) -> T | None:
        """Run `writes` (reads under WATCH, then MULTI and its writes) and EXEC, unless the
        job was finished by another delivery; then only drop this entry."""
        with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(job_key(delivery.job.job_id))
                    if JobQueue.is_finished(pipe, delivery.job.job_id):
                        pipe.multi()
                        self.queue.release(pipe, delivery)
                        pipe.execute()
                        return None
                    result = writes(pipe)
                    pipe.execute()
                    return result
                except redis.WatchError:
                    continue

    @contextmanager
    def _heartbeat(self, delivery: Delivery) -> Iterator[None]:
        """Keep the job ours while we work on it (see `JobQueue.touch`)."""
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self._heartbeat_seconds):
                try:
                    if not self.queue.touch(self.name, delivery):
                        return
                except redis.RedisError as exc:
                    log.debug("heartbeat of %s failed: %s", delivery.job.job_id, exc)

        thread = threading.Thread(target=beat, name=f"heartbeat-{self.name}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def _housekeeping(self) -> None:
        """Once per `prune_interval_minutes` across all workers: expired incidents leave the
        indexes, names of replaced workers leave the consumer group, old records go."""
        interval = max(1, round(self.settings.retention.prune_interval_minutes * 60))
        if not self.client.set(keys.HOUSEKEEPING, self.name, nx=True, ex=interval):
            return
        pruned = self.incidents.prune()
        forgotten = self.queue.forget_idle_consumers(CONSUMER_FORGET_SECONDS)
        trimmed = trim_record_streams(self.client, self.settings.retention)
        if pruned or forgotten or trimmed:
            log.info(
                "housekeeping: %d expired incident entries, %d old consumers, %d old records",
                pruned,
                forgotten,
                trimmed,
            )


class _Lookups:
    """The registry as the scanner sees it, noting whether a lookup failed during a scan."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self.failed = False

    def generation(self) -> int:
        return self._registry.generation()

    def lookup(self, fingerprint: PageFingerprint) -> list[KnownMatch]:
        try:
            return self._registry.lookup(fingerprint)
        except Exception:
            self.failed = True
            raise


# --- processes ---------------------------------------------------------------------------------


@dataclass
class _Slot:
    name: str
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float = 0.0
    delay: float = 1.0


class Supervisor:
    """Runs `count` worker processes (`leaksentry worker --name PREFIX-i`) and restarts any that
    dies; a process that dies soon after its start is restarted later each time (up to a
    minute), so that a broken setup does not spin."""

    STABLE_SECONDS = 10.0
    MAX_DELAY = 60.0

    def __init__(
        self,
        count: int,
        name_prefix: str | None = None,
        *,
        config_dir: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        prefix = name_prefix or default_consumer_name()
        self._slots = [_Slot(f"{prefix}-{i + 1}") for i in range(count)]
        self._config_dir = config_dir
        self._env = env
        self.restarts = 0

    @property
    def wanted(self) -> int:
        return len(self._slots)

    @property
    def pids(self) -> dict[str, int]:
        """Consumer name -> pid of each running worker process."""
        return {
            s.name: s.process.pid for s in self._slots if s.process and s.process.poll() is None
        }

    def start(self) -> None:
        for slot in self._slots:
            self._spawn(slot)

    def check(self) -> None:
        """Restart the processes that have exited (when their delay is up)."""
        now = time.monotonic()
        for slot in self._slots:
            if slot.process is not None and slot.process.poll() is not None:
                code = slot.process.returncode
                lived = now - slot.started_at
                slot.delay = (
                    1.0 if lived > self.STABLE_SECONDS else min(slot.delay * 2, self.MAX_DELAY)
                )
                slot.restart_at = now + (0.0 if lived > self.STABLE_SECONDS else slot.delay)
                slot.process = None
                log.error(
                    "worker %s exited with %s after %.0f s; restarting", slot.name, code, lived
                )
            if slot.process is None and now >= slot.restart_at:
                self._spawn(slot)
                self.restarts += 1

    def run(self, stop_event: StopSignal, poll_seconds: float = 0.5) -> None:
        """Start, watch until `stop_event`, stop."""
        self.start()
        try:
            while not stop_event.wait(poll_seconds):
                self.check()
        finally:
            self.stop()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (each finishes the job in hand), then SIGKILL what is left after `timeout`."""
        running = [s.process for s in self._slots if s.process and s.process.poll() is None]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + timeout
        for process in running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for slot in self._slots:
            slot.process = None

    def _spawn(self, slot: _Slot) -> None:
        command = [sys.executable, "-m", "bot.cli", "worker", "--name", slot.name]
        if self._config_dir is not None:
            command += ["--config", str(self._config_dir)]
        slot.process = subprocess.Popen(command, env=self._env, **child_options())
        slot.started_at = time.monotonic()


def worker_main(consumers: int, name: str | None, config_dir: Path | None) -> None:
    """`leaksentry worker`: one consumer in this process, or a supervisor of `consumers`."""
    scan_config = load_config(config_dir)
    settings = load_bot_settings(config_dir)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if consumers == 1:
        consumer = name or default_consumer_name()
        log.info("worker %s started", consumer)
        run_worker(connect, scan_config, settings, consumer, stop)
        return
    connect()  # start the embedded server here, in the process that outlives the workers
    Supervisor(consumers, name, config_dir=config_dir).run(stop)
