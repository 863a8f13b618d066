"""`leaksentry run` as a process: it restarts a Redis killed with SIGKILL, reports it on
/healthz, refuses a second run on its data folder, and leaves no process behind when it is
killed with SIGKILL itself. Real processes throughout (the CLI, valkey-server, workers)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis

WAIT = 120.0  # generous: two cores shared with other test processes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_env(data: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "WECHATY_PUPPET_SERVICE_TOKEN")
    }
    env["LEAKSENTRY_DATA_DIR"] = str(data)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    return env


class Run:
    """One `leaksentry run` process, its output collected in the background."""

    def __init__(self, data: Path, workers: int) -> None:
        self.port = free_port()
        command = ["run", "--workers", str(workers), "--port", str(self.port)]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", *command],
            env=run_env(data),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._up = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:  # to the end: a full pipe would block the process
            self.lines.append(line)
            if "bot service up" in line:
                self._up.set()

    def wait_up(self) -> None:
        """Until the bot is up and the console answers."""
        assert self._up.wait(WAIT), "".join(self.lines)[-3000:]
        wait_until(lambda: self.healthz()[0] != 0, "the console")

    def healthz(self) -> tuple[int, dict[str, object]]:
        url = f"http://127.0.0.1:{self.port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())
        except urllib.error.URLError:  # the console is not listening (yet)
            return 0, {}

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    started: list[Run] = []
    yield started
    for run in started:  # whatever a failed test left: stop it and all it started
        if run.process.poll() is None:
            left = run.descendants()
            run.process.kill()
            run.process.wait()
            for child in left:
                if child.is_running():
                    child.kill()


def server_info(data: Path) -> dict[str, object]:
    return dict(json.loads((data / "redis" / "server.json").read_text()))


def wait_until(condition: object, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


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
    first = server_info(tmp_path)
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
    wait_until(lambda: server_info(tmp_path)["server_pid"] != first["server_pid"], "a restart")
    again = server_info(tmp_path)
    assert again["url"] == first["url"]  # same port and password: clients reconnect
    wait_until(lambda: answers(str(again["url"])), "the restarted server")
    wait_until(lambda: run.healthz()[1].get("restarts") == {"redis": 1, "workers": 0}, "health")
    assert run.healthz()[0] == 200


def test_kill_9_of_run_leaves_no_process_behind(tmp_path: Path, runs: list[Run]) -> None:
    run = Run(tmp_path, workers=1)
    runs.append(run)
    run.wait_up()
    wait_until(
        lambda: any("worker" in " ".join(c.cmdline()) for c in run.descendants()), "a worker"
    )
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
