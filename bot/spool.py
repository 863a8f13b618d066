"""The intake's spool: messages received while Redis is unreachable, kept on the data disk.

The bot must not lose a message because Redis restarts. While it is away, the intake writes
each message (and, for an image or file, the bytes it fetched) to one file here, and replays
the files in the order they were written once Redis answers again (`Intake.replay_spool`).

Each file is written whole to a temporary name, fsync'd, renamed into place and the folder
fsync'd, so that a file either is complete or does not exist, also after a power cut. The
folder is bounded (`intake.spool_max_mb`, `intake.spool_max_items`): past that a message is
refused and counted, and the officers hear how many (`refused`). Files are 0600 in a 0700
folder and sealed with the evidence key (`bot.sealing`): they hold what members posted.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from bot.connectors.base import IncomingMessage, MessageKind
from bot.sealing import Sealer, SealError

log = logging.getLogger(__name__)

_SUFFIX = ".msg"
_CONTEXT = b"leaksentry spool"
_NAME = re.compile(r"^(\d{12})-(\d+)\.msg$")


@dataclass(frozen=True)
class Spooled:
    """One message read back from the spool."""

    path: Path
    message: IncomingMessage
    received_at: float
    data: bytes | None
    """The bytes fetched for an image or file when it was spooled (None: fetch on replay)."""


class Spool:
    """A folder of spooled messages, oldest first (file names carry a sequence number)."""

    def __init__(
        self, directory: Path, *, max_bytes: int, max_items: int, sealer: Sealer | None = None
    ) -> None:
        self._directory = directory
        self._sealer = sealer or Sealer.from_environment()
        self._max_bytes = max_bytes
        self._max_items = max_items
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.chmod(0o700)
        self._next = 1 + max((_sequence(p) for p in self._files()), default=0)
        self.refused = 0
        """Messages refused since the start because the spool was full."""

    def __len__(self) -> int:
        return len(self._files())

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self._files())

    def append(self, message: IncomingMessage, received_at: float, data: bytes | None) -> bool:
        """Write one message durably; False (and counted in `refused`) when the spool is full."""
        record = self._sealer.seal(_encode(message, received_at, data), _CONTEXT)
        files = self._files()
        if len(files) >= self._max_items or (
            sum(p.stat().st_size for p in files) + len(record) > self._max_bytes
        ):
            self.refused += 1
            log.error("spool full (%d files): message %s refused", len(files), message.key)
            return False
        path = self._directory / f"{self._next:012d}-{os.getpid()}{_SUFFIX}"
        self._next += 1
        _write_durably(path, record)
        return True

    def entries(self) -> list[Path]:
        """The spooled files, oldest first."""
        return self._files()

    def read(self, path: Path) -> Spooled | None:
        """The message in `path`; None when it is unreadable (logged, and the file removed:
        only a bug or a broken disk writes such a file, and it must not block the rest)."""
        try:
            return _decode(path, self._sealer.open(path.read_bytes(), _CONTEXT))
        except FileNotFoundError:  # replayed by another process meanwhile
            return None
        except (OSError, ValueError, KeyError, TypeError, SealError) as exc:
            log.error("spooled file %s unreadable (%s); removed", path.name, exc)
            self.remove(path)
            return None

    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def _files(self) -> list[Path]:
        return sorted((p for p in self._directory.iterdir() if _NAME.match(p.name)), key=_order)


def _sequence(path: Path) -> int:
    match = _NAME.match(path.name)
    return int(match.group(1)) if match else 0


def _order(path: Path) -> tuple[int, str]:
    return _sequence(path), path.name


def _encode(message: IncomingMessage, received_at: float, data: bytes | None) -> bytes:
    """One JSON line (the message, when it arrived, how many bytes follow), then the bytes."""
    fields = asdict(message)
    fields["kind"] = message.kind.value
    header = {
        "message": fields,
        "received_at": received_at,
        "data_bytes": -1 if data is None else len(data),
    }
    return json.dumps(header, ensure_ascii=False).encode() + b"\n" + (data or b"")


def _decode(path: Path, record: bytes) -> Spooled:
    head, _, body = record.partition(b"\n")
    header = json.loads(head)
    fields = dict(header["message"])
    fields["kind"] = MessageKind(fields["kind"])
    size = int(header["data_bytes"])
    if size >= 0 and len(body) != size:
        raise ValueError(f"{len(body)} bytes of data, {size} expected")
    return Spooled(
        path=path,
        message=IncomingMessage(**fields),
        received_at=float(header["received_at"]),
        data=body if size >= 0 else None,
    )


def _write_durably(path: Path, record: bytes) -> None:
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(record)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
