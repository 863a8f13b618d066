"""`leaksentry run` as a process: it restarts a Redis killed with SIGKILL, reports it on
/healthz, refuses a second run on its data folder, and leaves no process behind when it is
killed with SIGKILL itself. Real processes throughout (the CLI, valkey-server, workers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis

from tests.run_process import WAIT, Run, free_port, run_env, wait_until


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    started: list[Run] = []
    yield started
    for run in started:  # whatever a failed test left: stop it and all it started
        run.kill_all()


def answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def test_redis_killed_is_restarted_and_a_second_run_is_refused(
    tmp_path: Path, runs: list[Run]
) -> None:
    run = Run(tmp_path, workers=0)
    runs.append(run)
    run.wait_up()
    first = run.server_info()
    assert run.healthz() == (
        200,
        {"status": "ok", "redis": "up", "workers": "0/0", "restarts": {"redis": 0, "workers": 0}},
    )

    second = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run", "--workers", "0", "--port", str(free_port())],
        env=run_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert second.returncode == 1
    assert f"another `leaksentry run` (pid {run.process.pid})" in second.stderr
    assert str(tmp_path) in second.stderr

    os.kill(int(first["server_pid"]), signal.SIGKILL)  # type: ignore[call-overload]
    wait_until(lambda: run.server_info()["server_pid"] != first["server_pid"], "a restart")
    again = run.server_info()
    assert again["url"] == first["url"]  # same port and password: clients reconnect
    wait_until(lambda: answers(str(again["url"])), "the restarted server")
    wait_until(lambda: run.healthz()[1].get("restarts") == {"redis": 1, "workers": 0}, "health")
    assert run.healthz()[0] == 200


def test_kill_9_of_run_leaves_no_process_behind(tmp_path: Path, runs: list[Run]) -> None:
    run = Run(tmp_path, workers=1)
    runs.append(run)
    run.wait_up()
    wait_until(run.workers, "a worker")
    children = run.descendants()
    assert len(children) >= 2  # valkey-server and the worker
    names = " ".join(" ".join(c.cmdline()) for c in children)
    assert "valkey-server" in names and "local-worker-1" in names

    run.process.kill()
    run.process.wait()
    _, alive = psutil.wait_procs(children, timeout=WAIT)
    assert alive == []
    restarted = Run(tmp_path, workers=0)  # the lock went with the process
    runs.append(restarted)
    restarted.wait_up()
