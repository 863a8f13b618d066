"""Where leaksentry keeps state: one folder, `LEAKSENTRY_DATA_DIR` or the user's data folder."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

DATA_DIR_ENV = "LEAKSENTRY_DATA_DIR"


def data_dir() -> Path:
    """The data folder (created on first use, 0700): embedded Redis, spool, keys."""
    folder = Path(os.environ.get(DATA_DIR_ENV) or platformdirs.user_data_dir("leaksentry"))
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    return folder


def private_file(path: Path, text: str) -> None:
    """Write `text` to `path`, readable by this user only (0600 from its creation on)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    path.chmod(0o600)  # a file that existed before keeps its mode through O_CREAT
