"""`leaksentry run` as a child process, as an operator starts it: its own data folder, the
embedded Redis (REDIS_URL unset), its output read in the background. Used by the supervision
tests and by `benchmarks.faults`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
WAIT = 120.0  # generous: two cores shared with other test processes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_env(data: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without a Redis URL or a WeChat token, the data folder `data`, and
    `extra` on top."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "WECHATY_PUPPET_SERVICE_TOKEN")
    }
    env["LEAKSENTRY_DATA_DIR"] = str(data)
    env["PYTHONPATH"] = str(REPO)
    env.update(extra or {})
    return env


def wait_until(condition: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


class Run:
    """One `leaksentry run` process, its output collected in the background."""

    def __init__(self, data: Path, workers: int, extra_env: Mapping[str, str] | None = None):
        self.data = data
        self.port = free_port()
        command = ["run", "--workers", str(workers), "--port", str(self.port)]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", *command],
            env=run_env(data, extra_env),
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

    def workers(self) -> list[psutil.Process]:
        """The scan worker processes now running."""
        return [c for c in self.descendants() if _is_worker(c)]

    def server_info(self) -> dict[str, object]:
        """The embedded Redis server's `server.json` (its pid, its URL with the password)."""
        return dict(json.loads((self.data / "redis" / "server.json").read_text()))

    def kill_all(self) -> None:
        """SIGKILL this run and whatever it started that is still alive."""
        if self.process.poll() is None:
            left = self.descendants()
            self.process.kill()
            self.process.wait()
            for child in left:
                if child.is_running():
                    child.kill()


def _is_worker(process: psutil.Process) -> bool:
    try:
        return "worker" in " ".join(process.cmdline())
    except psutil.NoSuchProcess:
        return False
