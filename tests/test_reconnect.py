"""The connectors' reconnect backoff."""

from __future__ import annotations

from bot.connectors.reconnect import DEFAULT_RECONNECT_DELAYS, Backoff


def test_the_delays_grow_with_the_failures_and_the_last_one_repeats() -> None:
    backoff = Backoff((0.5, 1.0, 4.0))
    assert [backoff.delay(failures) for failures in range(5)] == [0.5, 1.0, 4.0, 4.0, 4.0]


def test_no_delays_given_means_the_default_ones() -> None:
    assert Backoff(()).delays == DEFAULT_RECONNECT_DELAYS
