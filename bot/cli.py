"""The `leaksentry` command line."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from bot.paths import data_dir
from detectors import ConfigError, ScanConfig, Scanner, ScanReport, load_config

VERDICT_STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "clean": "green",
}


@click.group()
@click.version_option(package_name="leaksentry")
def main() -> None:
    """leaksentry: catches leaked internal documents in work groups."""


@main.command("scan")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file (JSON Lines).")
@click.option(
    "--engine", type=click.Choice(["rapidocr", "tesseract"]), help="OCR engine (default: config)."
)
@click.option("--recursive", "-r", is_flag=True, help="Descend into sub-folders.")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=1, help="Worker processes.")
@click.option("--config", "config_dir", type=click.Path(file_okay=False, path_type=Path))
def scan_command(
    paths: tuple[Path, ...],
    as_json: bool,
    engine: str | None,
    recursive: bool,
    jobs: int,
    config_dir: Path | None,
) -> None:
    """Scan files and folders for leaked official documents.

    Exit status: 0 when every file was scanned (whatever the verdict), 1 when some file could
    not be, 2 on usage errors.
    """
    config = _load_config(config_dir)
    files = list(expand_paths(paths, recursive))
    err = Console(stderr=True)
    reports = _progress(scan_files(files, config, engine, jobs), len(files), err)
    failed = False
    table = _table()
    for report in reports:
        failed |= report.error is not None
        if as_json:
            click.echo(json.dumps(report.to_json(), ensure_ascii=False))
        else:
            _add_row(table, report)
    if not as_json:
        Console().print(table)
    sys.exit(1 if failed else 0)


@main.command("info")
@click.option("--config", "config_dir", type=click.Path(file_okay=False, path_type=Path))
def info_command(config_dir: Path | None) -> None:
    """Show where configuration and data live and which OCR engine is the default."""
    config = _load_config(config_dir)
    click.echo(f"config dir : {config.source_dir}")
    click.echo(f"data dir   : {data_dir()}")
    click.echo(f"OCR engine : {config.scan.ocr.engine} ({config.scan.ocr.threads} thread(s))")
    click.echo(f"redis      : {os.environ.get('REDIS_URL') or 'embedded (REDIS_URL unset)'}")


def _load_config(config_dir: Path | None) -> ScanConfig:
    try:
        return load_config(config_dir)
    except ConfigError as exc:
        raise click.UsageError(f"invalid configuration: {exc}") from exc


def expand_paths(paths: Iterable[Path], recursive: bool) -> Iterator[Path]:
    """Files in the order given; a folder's files sorted by name."""
    for path in paths:
        if path.is_dir():
            found = path.rglob("*") if recursive else path.iterdir()
            yield from sorted(p for p in found if p.is_file())
        else:
            yield path


def scan_files(
    files: list[Path], config: ScanConfig, engine: str | None, jobs: int
) -> Iterator[ScanReport]:
    """Reports in input order; with `jobs` > 1, scanned by that many processes."""
    if jobs == 1 or len(files) < 2:
        scanner = Scanner(config, engine_name=engine)
        yield from (scanner.scan_path(f) for f in files)
        return
    with ProcessPoolExecutor(
        max_workers=jobs, initializer=_init_worker, initargs=(config, engine)
    ) as pool:
        yield from pool.map(_scan_in_worker, files)


_worker_scanner: Scanner | None = None  # one per worker process, set by its initializer


def _init_worker(config: ScanConfig, engine: str | None) -> None:
    global _worker_scanner
    _worker_scanner = Scanner(config, engine_name=engine)


def _scan_in_worker(path: Path) -> ScanReport:
    assert _worker_scanner is not None
    return _worker_scanner.scan_path(path)


def _progress(reports: Iterator[ScanReport], total: int, console: Console) -> Iterator[ScanReport]:
    """A progress bar on a terminal (on stderr, so that JSON on stdout stays clean)."""
    if not console.is_terminal or total < 2:
        yield from reports
        return
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("scanning", total=total)
        for report in reports:
            progress.advance(task)
            yield report


def _table() -> Table:
    table = Table(title="leaksentry scan", show_lines=False)
    table.add_column("file", overflow="fold")
    table.add_column("verdict")
    table.add_column("findings", overflow="fold")
    table.add_column("ms", justify="right")
    return table


def _add_row(table: Table, report: ScanReport) -> None:
    # Text objects, not markup strings: file names and errors may contain [brackets].
    verdict = report.verdict.label
    findings = Text()
    if report.error:
        findings.append(report.error + "\n", style="red")
    for detector, labels in _by_detector(report).items():
        findings.append(f"{detector}: ", style="bold")
        findings.append(", ".join(labels) + "\n")
    findings.rstrip()
    table.add_row(
        Text(report.source),
        Text(verdict, style=VERDICT_STYLE[verdict]),
        findings if findings.plain else Text("-"),
        str(report.timings_ms.get("total", 0)),
    )


def _by_detector(report: ScanReport) -> dict[str, list[str]]:
    """One row per detector: its distinct labels, with the pages they stand on."""
    pages: dict[str, dict[str, set[int]]] = {}
    for f in report.findings:
        pages.setdefault(f.detector, {}).setdefault(f.label, set()).add(f.page)
    return {
        detector: [f"{label} (p{','.join(map(str, sorted(on)))})" for label, on in labels.items()]
        for detector, labels in pages.items()
    }


if __name__ == "__main__":
    main()
