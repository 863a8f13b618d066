"""Prometheus metrics shared by every leaksentry process, kept in Redis.

Scans run in worker processes, alerts go out from the bot process, and `/metrics` is served by
the console: three processes, possibly on three machines. So counts live in Redis (one hash per
metric, written with HINCRBY inside the caller's pipeline or transaction), and the console turns
them into Prometheus text with a collector on a registry of its own. Nothing here holds state at
import time.

Writers call `count_scan`, `observe` and `count_alert_sent` with a Redis client or a pipeline;
`collector_registry(client)` is what `/metrics` exposes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import redis
import redis.asyncio
from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from bot import keys
from bot.queue import queue_depth as jobs_depth
from bot.redis_text import text_map

Writer = redis.Redis | redis.asyncio.client.Pipeline
"""A client or pipeline (a worker's is sync, the outbox sender's async): writes are queued in
the caller's pipeline and go out with its EXEC."""

SCANS = "leaksentry_scans"  # counter, label verdict ("error" when the item could not be read)
ALERTS_SENT = "leaksentry_alerts_sent"  # counter, label channel (room, direct, webhook, email)
QUEUE_DEPTH = "leaksentry_queue_depth"  # gauge: scan jobs not yet acknowledged by a worker
DEAD_LETTERS = "leaksentry_dead_letters"  # gauge: jobs given up after too many attempts


@dataclass(frozen=True)
class Histogram:
    """A latency histogram: upper bounds in seconds, `+Inf` implied."""

    name: str
    documentation: str
    buckets: tuple[float, ...]


SCAN_SECONDS = Histogram(
    "leaksentry_scan_duration_seconds",
    "Time a worker spent scanning one item (extract, OCR, detect).",
    (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0),
)
WARNING_SECONDS = Histogram(
    "leaksentry_warning_latency_seconds",
    "Time from a message reaching the bot to the member warning being sent in the group.",
    (0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 120.0),
)
HISTOGRAMS = (SCAN_SECONDS, WARNING_SECONDS)

_SUM = "sum"
_INF = "+Inf"


def count_scan(writer: Writer, verdict: str) -> None:
    """One item scanned, with its verdict."""
    writer.hincrby(keys.METRICS + SCANS, verdict, 1)


def count_alert_sent(writer: Writer, channel: str) -> None:
    """One alert or warning delivered on `channel`."""
    writer.hincrby(keys.METRICS + ALERTS_SENT, channel, 1)


def observe(writer: Writer, histogram: Histogram, seconds: float) -> None:
    """One observation: its bucket (not cumulative; the collector adds up) and the sum."""
    bucket = next((b for b in histogram.buckets if seconds <= b), math.inf)
    key = keys.METRICS + histogram.name
    writer.hincrby(key, _bucket_label(bucket), 1)
    writer.hincrbyfloat(key, _SUM, seconds)


def counts(client: redis.Redis, counter: str) -> dict[str, int]:
    """A counter's values by label (SCANS by verdict, ALERTS_SENT by channel)."""
    return {
        label: int(value)
        for label, value in text_map(client.hgetall(keys.METRICS + counter)).items()
    }


def collector_registry(client: redis.Redis) -> CollectorRegistry:
    """A registry for one console app: the shared counts, read from Redis on every scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector(client))
    return registry


class RedisCollector(Collector):
    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def collect(self) -> Iterator[Metric]:
        scans = counts(self._client, SCANS)
        alerts = counts(self._client, ALERTS_SENT)
        yield _counter(SCANS, "Items scanned, by verdict.", "verdict", scans)
        yield _counter(ALERTS_SENT, "Alerts and warnings delivered, by channel.", "channel", alerts)
        for histogram in HISTOGRAMS:
            buckets = text_map(self._client.hgetall(keys.METRICS + histogram.name))
            yield _histogram(histogram, buckets)
        depth, dead = queue_depth(self._client)
        yield GaugeMetricFamily(QUEUE_DEPTH, "Scan jobs waiting or in progress.", value=depth)
        yield GaugeMetricFamily(DEAD_LETTERS, "Scan jobs given up on.", value=dead)


def queue_depth(client: redis.Redis) -> tuple[int, int]:
    """(jobs not yet acknowledged by the workers: waiting + in progress, dead-lettered jobs)."""
    return jobs_depth(client).total, int(client.xlen(keys.DEAD_LETTER_STREAM))


def _counter(
    name: str, documentation: str, label: str, values: Mapping[str, int]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=[label])
    for value, count in sorted(values.items()):
        family.add_metric([value], float(count))
    return family


def _histogram(histogram: Histogram, counts: Mapping[str, str]) -> HistogramMetricFamily:
    cumulative = 0.0
    buckets: list[tuple[str, float]] = []
    for bound in (*histogram.buckets, math.inf):
        label = _bucket_label(bound)
        cumulative += float(counts.get(label, 0))
        buckets.append((label, cumulative))
    return HistogramMetricFamily(
        histogram.name,
        histogram.documentation,
        buckets=buckets,
        sum_value=float(counts.get(_SUM, 0.0)),
    )


def _bucket_label(bound: float) -> str:
    return _INF if math.isinf(bound) else repr(float(bound))
