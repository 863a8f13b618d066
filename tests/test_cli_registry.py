"""`leaksentry register`, `leaksentry registry ...` and the registry in `leaksentry scan`, on
the embedded Redis-protocol server in a temporary data folder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.paths import DATA_DIR_ENV
from bot.redis_server import REDIS_URL_ENV, stop_embedded
from tests.corpus import files as fl
from tests.corpus.registry import document_pages, shoot

SEED = 2026


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "data"
    monkeypatch.setenv(DATA_DIR_ENV, str(folder))
    monkeypatch.delenv(REDIS_URL_ENV, raising=False)
    yield folder
    stop_embedded(folder / "redis")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    pages = document_pages(SEED, 2, 0)
    out = {
        "notice": tmp_path / "关于做好安全工作的通知.pdf",
        "photo": tmp_path / "photo.jpg",
        "other": tmp_path / "other.pdf",
        "broken": tmp_path / "broken.pdf",
    }
    out["notice"].write_bytes(fl.pdf_text(pages))
    out["photo"].write_bytes(shoot(pages[0], "photo", SEED, "test-cli", 1).data)
    out["other"].write_bytes(fl.pdf_text(document_pages(SEED, 3, 0)))
    out["broken"].write_bytes(out["notice"].read_bytes()[:400])
    return out


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_register_list_show_scan_remove(data_dir: Path, files: dict[str, Path]) -> None:
    code, out, _ = run("register", str(files["notice"]), "--id", "GF-2026-7", "--level", "机密")
    assert code == 0
    assert "GF-2026-7" in out and "registered" in out

    code, out, _ = run("register", str(files["notice"]), "--id", "GF-2026-7", "--json")
    assert code == 0
    assert json_lines(out)[0]["outcome"] == "unchanged"

    code, out, _ = run("registry", "list", "--json")
    (listed,) = json_lines(out)
    assert listed["doc_id"] == "GF-2026-7"
    assert listed["title"] == "关于做好安全工作的通知"
    assert listed["level"] == "机密"

    code, out, _ = run("registry", "show", "GF-2026-7", "--json")
    shown = json_lines(out)[0]
    assert code == 0
    assert [p["page"] for p in shown["pages"]] == list(range(1, int(listed["pages"]) + 1))  # type: ignore[call-overload]
    assert all(p["text_marks"] and p["stored_bytes"] for p in shown["pages"])  # type: ignore[attr-defined]
    code, out, _ = run("registry", "show", "GF-2026-7")
    assert code == 0 and "text, layout" in out

    code, out, _ = run("scan", str(files["photo"]), str(files["other"]), "--json")
    photo, other = json_lines(out)
    known = [f for f in photo["findings"] if f["detector"] == "known_document"]  # type: ignore[attr-defined]
    assert photo["verdict"] == "critical"
    assert known[0]["details"]["doc_id"] == "GF-2026-7"
    assert known[0]["details"]["doc_page"] == 1
    assert known[0]["details"]["methods"] and known[0]["details"]["score"] > 0
    assert not [f for f in other["findings"] if f["detector"] == "known_document"]  # type: ignore[attr-defined]

    code, out, _ = run("scan", str(files["photo"]), "--json", "--no-registry")
    assert not [f for f in json_lines(out)[0]["findings"] if f["detector"] == "known_document"]  # type: ignore[attr-defined]

    code, out, _ = run("registry", "remove", "GF-2026-7")
    assert code == 0
    code, out, _ = run("scan", str(files["photo"]), "--json")
    assert not [f for f in json_lines(out)[0]["findings"] if f["detector"] == "known_document"]  # type: ignore[attr-defined]
    code, _, err = run("registry", "remove", "GF-2026-7")
    assert code == 1 and "no registered document" in err
    code, _, err = run("registry", "show", "GF-2026-7")
    assert code == 1


def test_scan_with_several_workers_uses_the_registry(
    data_dir: Path, files: dict[str, Path]
) -> None:
    assert run("register", str(files["notice"]))[0] == 0
    code, out, _ = run("scan", "-j", "2", str(files["other"]), str(files["photo"]), "--json")
    _, photo = json_lines(out)
    assert code == 0
    assert photo["verdict"] == "critical"
    assert [f["detector"] for f in photo["findings"]].count("known_document") >= 1  # type: ignore[attr-defined]


def test_a_file_that_fails_does_not_stop_the_others(data_dir: Path, files: dict[str, Path]) -> None:
    code, out, _ = run("register", str(files["broken"]), str(files["other"]), "--json")
    broken, other = json_lines(out)
    assert code == 1
    assert "broken.pdf" in str(broken["error"])
    assert other["outcome"] == "registered"
    code, out, _ = run("registry", "list", "--json")
    assert [d["filename"] for d in json_lines(out)] == ["other.pdf"]


def test_usage_errors_exit_2(data_dir: Path, files: dict[str, Path]) -> None:
    assert run("register", str(files["notice"]), str(files["other"]), "--id", "X")[0] == 2
    assert run("register", str(files["notice"]), "--id", "  ")[0] == 2
    assert run("register")[0] == 2
    assert run("registry", "show")[0] == 2


def test_export_and_import(data_dir: Path, files: dict[str, Path], tmp_path: Path) -> None:
    run("register", str(files["notice"]), "--id", "A", "--level", "秘密")
    run("register", str(files["other"]), "--id", "B")
    export = tmp_path / "registry.jsonl"
    code, _, err = run("registry", "export", str(export))
    assert code == 0 and "exported 2" in err
    lines = json_lines(export.read_text(encoding="utf-8"))
    assert lines[0]["format"] == "leaksentry-registry"
    assert [line["doc_id"] for line in lines[1:]] == ["A", "B"]
    code, out, _ = run("registry", "export", "-")
    assert json_lines(out) == lines

    run("registry", "remove", "A", "B")
    assert json_lines(run("registry", "list", "--json")[1]) == []
    code, out, _ = run("registry", "import", str(export))
    assert code == 0 and "2 registered" in out
    listed = json_lines(run("registry", "list", "--json")[1])
    assert [(d["doc_id"], d["level"]) for d in listed] == [("A", "秘密"), ("B", None)]
    code, out, _ = run("scan", str(files["photo"]), "--json")
    assert json_lines(out)[0]["verdict"] == "critical"

    bad = tmp_path / "bad.jsonl"
    bad.write_text("hello\n", encoding="utf-8")
    code, _, err = run("registry", "import", str(bad))
    assert code == 1 and "line 1" in err


def test_scan_without_redis_warns_and_goes_on(
    data_dir: Path, files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(REDIS_URL_ENV, "redis://127.0.0.1:1/0")
    code, out, err = run("scan", str(files["other"]), "--json")
    assert code == 0
    assert "without the registry" in err
    assert json_lines(out)[0]["error"] is None
    code, _, err = run("registry", "list")
    assert code == 1 and "cannot reach" in err
