"""`leaksentry scan` on a file it cannot read says `error` in its verdict, never `clean`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _scan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "scan", "--no-registry", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "200"},  # a wide table: one line per row
    )


def test_an_unreadable_file_has_the_verdict_error_in_json_and_table(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog")
    readable = tmp_path / "note.txt"
    readable.write_text("明天上午九点开会", encoding="utf-8")

    done = _scan("--json", str(broken), str(readable))
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["verdict"], bool(r["error"])) for r in lines] == [("error", True), ("clean", False)]
    assert done.returncode == 1

    table = _scan(str(broken), str(readable))
    rows = {line.split("│")[1].strip(): line for line in table.stdout.splitlines() if "│" in line}
    broken_row = next(row for name, row in rows.items() if "broken" in name)
    assert broken_row.split("│")[2].strip() == "error"
    note_row = next(row for name, row in rows.items() if "note.txt" in name)
    assert note_row.split("│")[2].strip() == "clean"
