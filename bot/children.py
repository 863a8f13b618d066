"""Child processes that die with their parent, and one `leaksentry run` per data folder.

`leaksentry run` starts an embedded Redis and scan workers. Killed with SIGKILL, it gets no
chance to stop them; they must not live on (holding memory, and a second `local-worker-1`
beside the next run's). So every child it starts:

- asks the kernel for a signal when its parent dies (Linux `prctl(PR_SET_PDEATHSIG)`:
  SIGTERM, so a worker finishes its job and Redis writes its append-only file), and checks that
  the parent did not die already between the fork and that call;
- runs in a process group of its own, so that a Ctrl-C in the terminal reaches only the
  parent, which stops the workers first and Redis last;
- creates its files 0600 (umask 077): Redis writes what members posted.

`RunLock` holds an exclusive lock on `<data folder>/run.lock` while a run lives, so that a
second run on the same folder stops at once with a message naming the first.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

PR_SET_PDEATHSIG = 1
CHILD_UMASK = 0o077
# Looked up here, in the parent: loading a library between fork and exec may deadlock.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def child_options() -> dict[str, Any]:
    """Keyword arguments for `subprocess.Popen` of a child that dies with this process.

    The parent-death signal fires when the *thread* that started the child ends, so children
    are started from threads that live as long as the run (the main thread, the supervisor's).
    """
    return {"preexec_fn": _die_with(os.getpid()), "process_group": 0}


def _die_with(parent: int) -> Callable[[], None]:
    def prepare() -> None:  # runs in the child between fork and exec: no allocation-heavy work
        os.umask(CHILD_UMASK)
        if _PRCTL is not None:
            _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return prepare


class RunLockHeld(RuntimeError):
    """Another process holds the data folder's run lock (message for the person starting)."""


class RunLock:
    """An exclusive `flock` on `<folder>/run.lock` for the life of this process (the kernel
    drops it when the process dies, however it dies). The file names the holder's pid."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "run.lock"
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise RunLockHeld(
                f"another `leaksentry run` (pid {holder}) is using the data folder "
                f"{self.path.parent}; stop it first, or give this one its own folder with "
                "LEAKSENTRY_DATA_DIR"
            ) from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        os.chmod(self.path, 0o600)
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
