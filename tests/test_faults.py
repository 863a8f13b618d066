"""The fault benchmark's burst, smaller: `leaksentry run` (embedded Redis, one worker) on
WeChat through the real python-wechaty client and the puppet-service harness; four members post
four different marked photos a second apart, the embedded Redis is SIGKILLed before the second
post and the worker before the third. Everyone is warned in time, once; the officer and the
admin hear of every incident, once; nothing is lost; a SIGKILL of the run leaves nothing."""

from __future__ import annotations

from pathlib import Path

from benchmarks.faults import WARN_WITHIN, Burst, measure


async def test_a_burst_through_a_redis_and_a_worker_kill_warns_everyone_once(
    tmp_path: Path,
) -> None:
    burst = Burst(
        members=4, interval=1.0, redis_kill_at=2, worker_kill_at=3, workers=1, photo_width=620
    )
    result = await measure(tmp_path, burst)
    assert (result.posts, result.incidents, result.lost) == (4, 4, 0)
    assert result.warned_in_time == 4 and result.warned_twice == 0, result
    assert result.slowest_warning_s <= WARN_WITHIN
    assert (result.officer_told, result.officer_told_twice) == (4, 0), result
    assert (result.admin_told, result.admin_told_twice) == (4, 0), result
    assert (result.redis_restarts, result.worker_restarts) == (1, 1), result
    assert result.left_behind == ()
