"""The `leaksentry` command line."""

from __future__ import annotations

import functools
import json
import logging
import os
import secrets
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import IO, NoReturn

import click
import redis
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from bot.connectors.base import ChatConnector, ConnectorError
from bot.groups import Groups
from bot.paths import data_dir
from bot.redis_server import RedisUnavailable, connect, redis_url
from bot.registry import RegistrationError, Registry, RegistryError, check_doc_id
from bot.settings import (
    CONSOLE_URL_ENV,
    BotSettings,
    is_loopback_url,
    load_bot_settings,
    with_console_url,
)
from bot.templates import Templates, load_templates
from bot.web.commands import console_command, users_group
from detectors import ConfigError, ScanConfig, Scanner, ScanReport, Verdict, load_config
from detectors.fingerprint.page import registration_config
from detectors.ocr import ENGINES

ERROR_VERDICT = "error"
"""`scan`'s verdict for a file it could not read and found nothing in: not "clean"."""
VERDICT_STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "clean": "green",
    ERROR_VERDICT: "bold white on dark_orange3",
}


@click.group()
@click.version_option(package_name="leaksentry")
def main() -> None:
    """leaksentry: catches leaked internal documents in work groups."""


@main.command("scan")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file (JSON Lines).")
@click.option("--engine", type=click.Choice(ENGINES), help="OCR engine (default: config).")
@click.option("--recursive", "-r", is_flag=True, help="Descend into sub-folders.")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=1, help="Worker processes.")
@click.option("--config", "config_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--no-registry", is_flag=True, help="Do not look pages up among the registered documents."
)
def scan_command(
    paths: tuple[Path, ...],
    as_json: bool,
    engine: str | None,
    recursive: bool,
    jobs: int,
    config_dir: Path | None,
    no_registry: bool,
) -> None:
    """Scan files and folders for leaked official documents.

    Exit status: 0 when every file was scanned (whatever the verdict), 1 when some file could
    not be, 2 on usage errors. Pages that copy a registered document (`leaksentry register`)
    are critical; without Redis the scan goes on without the registry, with a warning.
    """
    config = _load_config(config_dir)
    files = list(expand_paths(paths, recursive))
    err = Console(stderr=True)
    registry_url = None if no_registry else _registry_url(config, err)
    reports = _progress(scan_files(files, config, engine, jobs, registry_url), len(files), err)
    failed = False
    table = _table()
    for report in reports:
        failed |= report.error is not None
        if as_json:
            click.echo(
                json.dumps(
                    {**report.to_json(), "verdict": shown_verdict(report)}, ensure_ascii=False
                )
            )
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
    files: list[Path],
    config: ScanConfig,
    engine: str | None,
    jobs: int,
    registry_url: str | None = None,
) -> Iterator[ScanReport]:
    """Reports in input order; with `jobs` > 1, scanned by that many processes. With
    `registry_url`, pages are also looked up among the registered documents (each process
    opens its own connection)."""
    if jobs == 1 or len(files) < 2:
        known = _known_documents(registry_url, config)
        scanner = Scanner(config, engine_name=engine, known=known)
        yield from (scanner.scan_path(f) for f in files)
        return
    with ProcessPoolExecutor(
        max_workers=jobs, initializer=_init_worker, initargs=(config, engine, registry_url)
    ) as pool:
        yield from pool.map(_scan_in_worker, files)


_worker_scanner: Scanner | None = None  # one per worker process, set by its initializer


def _init_worker(config: ScanConfig, engine: str | None, registry_url: str | None) -> None:
    global _worker_scanner
    known = _known_documents(registry_url, config)
    _worker_scanner = Scanner(config, engine_name=engine, known=known)


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
    verdict = shown_verdict(report)
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


def shown_verdict(report: ScanReport) -> str:
    """The report's verdict, or `error` when the file could not be read and nothing was found
    (what was found before a failure still counts)."""
    if report.error and report.verdict is Verdict.CLEAN:
        return ERROR_VERDICT
    return report.verdict.label


def _by_detector(report: ScanReport) -> dict[str, list[str]]:
    """One row per detector: its distinct labels, with the pages they stand on."""
    pages: dict[str, dict[str, set[int]]] = {}
    for f in report.findings:
        pages.setdefault(f.detector, {}).setdefault(f.label, set()).add(f.page)
    return {
        detector: [f"{label} (p{','.join(map(str, sorted(on)))})" for label, on in labels.items()]
        for detector, labels in pages.items()
    }


# --- enrolled groups (bot/groups.py) ---------------------------------------------------------


@main.group("groups")
def groups_command() -> None:
    """Enrolled groups: only these are scanned, and these are their alert recipients."""


@groups_command.command("list")
def groups_list_command() -> None:
    """Every enrolled group."""
    store = _groups_store()
    enrolled = store.list()
    if not enrolled:
        click.echo("no group is enrolled")
        return
    table = Table(title="enrolled groups")
    for column in ("room id", "topic", "admins", "officers", "enrolled"):
        table.add_column(column, overflow="fold")
    for group in enrolled:
        table.add_row(
            Text(group.room_id),
            Text(group.topic or "-"),
            Text(", ".join(group.admins) or "-"),
            Text(", ".join(store.officers_of(group)) or "-"),
            Text(f"{_local_time(group.enrolled_at)} by {group.enrolled_by}"),
        )
    Console().print(table)


@groups_command.command("show")
@click.argument("room_id")
def groups_show_command(room_id: str) -> None:
    """One enrolled group and who gets its alerts (exit status 1 when it is not enrolled)."""
    store = _groups_store()
    group = store.get(room_id)
    if group is None:
        _fail(f"{room_id} is not enrolled")
    officers = store.officers_of(group)
    click.echo(f"room id  : {group.room_id}")
    click.echo(f"topic    : {group.topic or '-'}")
    admins = ", ".join(group.admins) or "- (taken from the room at its next message)"
    click.echo(f"admins   : {admins}")
    source = "this group" if group.officers else "organisation-wide"
    click.echo(f"officers : {', '.join(officers) or '- (none configured!)'} ({source})")
    click.echo(f"enrolled : {_local_time(group.enrolled_at)} by {group.enrolled_by}")


@groups_command.command("enroll")
@click.argument("room_id")
@click.option("--topic", default="", help="The group's name (else taken from the room).")
@click.option("--admin", "admins", multiple=True, help="Alert this admin (repeatable).")
@click.option("--officer", "officers", multiple=True, help="Per-group security officer.")
def groups_enroll_command(
    room_id: str, topic: str, admins: tuple[str, ...], officers: tuple[str, ...]
) -> None:
    """Enroll a group by its room id. Without --admin, its owner and WeChat admins are taken
    from the room; without --officer, the organisation-wide officers get its alerts."""
    store = _groups_store()
    try:
        group = store.enroll(room_id, topic=topic, admins=admins, officers=officers)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"enrolled {group.room_id}; officers: {', '.join(store.officers_of(group)) or '-'}")


@groups_command.command("unenroll")
@click.argument("room_id")
def groups_unenroll_command(room_id: str) -> None:
    """Stop scanning a group (exit status 1 when it was not enrolled)."""
    if not _groups_store().unenroll(room_id):
        _fail(f"{room_id} was not enrolled")
    click.echo(f"unenrolled {room_id}")


# --- the bot process (bot/service.py) ----------------------------------------------------------


@main.command("bot")
@click.option("--config", "config_dir", type=click.Path(file_okay=False, path_type=Path))
def bot_command(config_dir: Path | None) -> None:
    """The bot: receives messages, queues scans, sends warnings and alerts, on every configured
    platform: WeChat (WECHATY_PUPPET_SERVICE_TOKEN and _ENDPOINT), QQ (ONEBOT_WS_URL), Feishu
    (FEISHU_APP_ID...); scanning runs in `leaksentry worker` processes sharing the same Redis."""
    from bot import service  # the service's modules load only for the commands that run it

    settings = with_console_url(_bot_settings(config_dir), "127.0.0.1", 8080)
    _service_logging()
    try:
        connector = service.platform_connector()
    except service.SetupError as exc:
        raise click.UsageError(str(exc)) from exc
    _warn_if_loopback(settings)
    try:
        service.run_bot(_redis_client(), settings, connector)
    except ConnectorError as exc:  # a platform that cannot start: what to fix, no traceback
        raise click.ClickException(f"cannot start the bot: {exc}") from exc


@main.command("run")
@click.option("--workers", type=click.IntRange(0, 64), help="Scan processes (default: config).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Console address.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--config", "config_dir", type=click.Path(file_okay=False, path_type=Path))
def run_command(workers: int | None, host: str, port: int, config_dir: Path | None) -> None:
    """Everything on one machine: Redis (embedded unless REDIS_URL is set), scan workers, the
    bot and the console, on every configured platform (WeChat, QQ, Feishu: see `bot`), else
    in the sandbox chat (with the console's sandbox page)."""
    from bot import service
    from bot.children import RunLock, RunLockHeld
    from bot.connectors.sandbox import SandboxConnector
    from bot.web.serve import console_attachment

    lock = RunLock(data_dir())  # held until this process ends, however it ends
    try:
        lock.acquire()
    except RunLockHeld as exc:
        raise click.ClickException(str(exc)) from exc
    settings = with_console_url(_bot_settings(config_dir), host, port)
    os.environ[CONSOLE_URL_ENV] = settings.console.public_url  # the workers' alerts link there too
    console = console_attachment(_load_config(config_dir), settings, host, port)
    _service_logging()
    client = _redis_client()  # starts the embedded server here, before the workers look for it
    _first_admin(client, f"http://{host}:{port}/")
    if service.platforms_configured():
        try:
            connector: ChatConnector = service.platform_connector()
        except service.SetupError as exc:
            raise click.UsageError(str(exc)) from exc
        _warn_if_loopback(settings)
    else:
        connector = SandboxConnector()
        Console(stderr=True).print(
            "[bold yellow]No chat platform is configured (WECHATY_PUPPET_SERVICE_TOKEN,"
            " ONEBOT_WS_URL, FEISHU_APP_ID): running with the sandbox chat. Nothing leaves this"
            " machine; set one of them to serve WeChat, QQ or Feishu.[/]"
        )
    count = settings.pipeline.workers if workers is None else workers
    try:
        service.run_all(
            client,
            settings,
            connector,
            workers=count,
            config_dir=config_dir,
            attachments=(console,),
        )
    except ConnectorError as exc:
        raise click.ClickException(f"cannot start the bot: {exc}") from exc


def _warn_if_loopback(settings: BotSettings) -> None:
    url = settings.console.public_url
    if is_loopback_url(url):
        logging.getLogger("leaksentry").warning(
            "alert links point to %s, which only this machine can open: set console.public_url "
            "(or %s) to the address officers reach the console at",
            url,
            CONSOLE_URL_ENV,
        )


def _first_admin(client: redis.Redis, console_url: str) -> None:
    """On a fresh install nobody could sign in to the console: create `admin` with a random
    password and show it once, on the terminal only (never in the log)."""
    from bot.web.users import Role, UserError, UserStore

    users = UserStore(client)
    if users.count():
        return
    password = secrets.token_urlsafe(12)
    try:
        users.add("admin", Role.ADMIN, password)
    except UserError:  # another process created it at the same moment
        return
    Console(stderr=True).print(
        f"[bold green]First start: console user [white]admin[/] with password "
        f"[white]{password}[/] created. Sign in at {console_url} and add your own users with "
        "`leaksentry users add NAME --role admin|officer`.[/]"
    )


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def _service_logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)


def _groups_store() -> Groups:
    return Groups(_redis_client(), _bot_settings())


def _redis_client() -> redis.Redis:
    try:
        return connect()
    except RedisUnavailable as exc:
        raise click.ClickException(str(exc)) from exc


def _bot_settings(config_dir: Path | None = None) -> BotSettings:
    try:
        return load_bot_settings(config_dir)
    except ConfigError as exc:
        raise click.UsageError(f"invalid configuration: {exc}") from exc


def _local_time(timestamp: float) -> str:
    """In the time zone of the chat and the console (config/messages.yaml), with its offset."""
    return _clock().time(timestamp)


@functools.cache
def _clock() -> Templates:
    return load_templates()


def _fail(message: str) -> NoReturn:
    """Say why on stderr and end the command with exit status 1."""
    click.echo(message, err=True)
    sys.exit(1)


# --- registry of controlled documents (bot/registry/) ----------------------------------------


@main.command("register")
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--id", "doc_id", help="Document id (default: from the file's SHA-256).")
@click.option("--title", help="Title shown in alerts (default: kept, else the file name).")
@click.option("--level", help='Classification level, for example 机密 ("" clears it).')
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file (JSON Lines).")
@click.option("--config", "config_dir", type=click.Path(file_okay=False, path_type=Path))
def register_command(
    paths: tuple[Path, ...],
    doc_id: str | None,
    title: str | None,
    level: str | None,
    as_json: bool,
    config_dir: Path | None,
) -> None:
    """Register controlled documents: every page of each FILE (PDF, image, Word, Excel,
    PowerPoint, WPS, OFD, ...) is read and fingerprinted, and `leaksentry scan` and the bot
    then report any copy of one of them as critical.

    Registering the same file again changes nothing. Another file under an existing --id
    replaces that document, in one step: its old pages stop matching as its new ones start.
    A file that cannot be read is not registered and leaves the registry as it was.

    Exit status: 0 when every file was registered, 1 when some file was not, 2 on usage errors.
    """
    if len(paths) > 1 and (doc_id or title):
        raise click.UsageError("--id and --title name one document: give one FILE with them")
    try:
        doc_id = check_doc_id(doc_id) if doc_id is not None else None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    config = _load_config(config_dir)
    registry = Registry(_redis_client(), config)
    scanner = Scanner(registration_config(config))
    table = Table(title="leaksentry register")
    for column in ("file", "doc id", "pages", "outcome", "title", "level"):
        table.add_column(column, overflow="fold")
    failed = False
    for path in paths:
        try:
            document = registry.register(
                _read_for_registration(path, config),
                path.name,
                doc_id=doc_id,
                title=title,
                level=level,
                scanner=scanner,
            )
        except RegistryError as exc:
            failed = True
            if as_json:
                click.echo(json.dumps({"file": str(path), "error": str(exc)}, ensure_ascii=False))
            else:
                table.add_row(Text(str(path)), "-", "-", Text("error", style="red"), Text(str(exc)))
            continue
        if as_json:
            click.echo(json.dumps({"file": str(path), **document.to_json()}, ensure_ascii=False))
        else:
            table.add_row(
                Text(str(path)),
                Text(document.doc_id),
                str(document.pages),
                Text(document.outcome, style="green"),
                Text(document.title),
                Text(document.level or "-"),
            )
    if not as_json:
        Console().print(table)
    sys.exit(1 if failed else 0)


def _read_for_registration(path: Path, config: ScanConfig) -> bytes:
    limit = config.scan.limits.max_file_bytes
    try:
        size = path.stat().st_size
        if size > limit:
            raise RegistrationError(f"{path.name}: {size:,} bytes exceed the {limit:,} byte cap")
        return path.read_bytes()
    except OSError as exc:
        raise RegistrationError(f"{path.name}: unreadable: {exc.strerror or exc}") from exc


@main.group("registry")
def registry_command() -> None:
    """The registered controlled documents: list, show, remove, export, import."""


@registry_command.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per document.")
def registry_list_command(as_json: bool) -> None:
    """Every registered document, oldest first."""
    documents = _registry().list()
    if as_json:
        for document in documents:
            click.echo(json.dumps(document.to_json(), ensure_ascii=False))
        return
    if not documents:
        click.echo("no document is registered")
        return
    table = Table(title=f"registered documents ({len(documents)})")
    for column in ("doc id", "title", "level", "pages", "registered", "file"):
        table.add_column(column, overflow="fold")
    for d in documents:
        table.add_row(
            Text(d.doc_id),
            Text(d.title),
            Text(d.level or "-"),
            str(d.pages),
            _local_time(d.registered_at),
            Text(d.filename),
        )
    Console().print(table)


@registry_command.command("show")
@click.argument("doc_id")
@click.option("--json", "as_json", is_flag=True, help="The document and its pages as JSON.")
def registry_show_command(doc_id: str, as_json: bool) -> None:
    """One registered document and what is stored of each of its pages (exit status 1 when
    there is no such document)."""
    registry = _registry()
    document = registry.get(doc_id)
    if document is None:
        _fail(f"no registered document {doc_id}")
    pages = registry.pages(doc_id)
    if as_json:
        line = {**document.to_json(), "pages": [p.to_json() for p in pages]}
        del line["outcome"]
        click.echo(json.dumps(line, ensure_ascii=False))
        return
    click.echo(f"doc id     : {document.doc_id}")
    click.echo(f"title      : {document.title}")
    click.echo(f"level      : {document.level or '-'}")
    click.echo(f"file       : {document.filename} (sha256 {document.sha256})")
    click.echo(f"registered : {_local_time(document.registered_at)}")
    table = Table(title=f"{document.pages} registered page(s)")
    for column in ("page", "methods", "text marks", "text chars", "image regions", "bytes"):
        table.add_column(column, justify="right" if column != "image regions" else "left")
    for p in pages:
        methods = [
            m for m, present in (("text", p.text_marks), ("layout", p.layout_bytes)) if present
        ]
        methods += ["image"] if p.image_regions else []
        table.add_row(
            str(p.page),
            ", ".join(methods) if p.current else Text("stale: register again", style="red"),
            str(p.text_marks),
            str(p.text_length),
            ", ".join(p.image_regions) or "-",
            str(p.stored_bytes),
        )
    Console().print(table)


@registry_command.command("remove")
@click.argument("doc_ids", nargs=-1, required=True)
def registry_remove_command(doc_ids: tuple[str, ...]) -> None:
    """Remove documents and every trace of them from the index (exit status 1 when one of
    them was not registered)."""
    registry = _registry()
    missing = False
    for doc_id in doc_ids:
        if registry.remove(doc_id):
            click.echo(f"removed {doc_id}")
        else:
            click.echo(f"no registered document {doc_id}", err=True)
            missing = True
    sys.exit(1 if missing else 0)


@registry_command.command("export")
@click.argument("output", type=click.File("w", encoding="utf-8", lazy=True))
def registry_export_command(output: IO[str]) -> None:
    """Write every registered document's fingerprints to OUTPUT (a file, or - for standard
    output) as JSON Lines: what `registry import` reads, without the original files."""
    count = _registry().export(output)
    click.echo(f"exported {count} document(s)", err=True)


@registry_command.command("import")
@click.argument("source", type=click.File("r", encoding="utf-8"))
def registry_import_command(source: IO[str]) -> None:
    """Register the documents of an export (a file, or - for standard input). Every line is
    checked before anything is written; a document already registered with the same content
    stays as it is, one with other content is replaced."""
    try:
        documents = _registry().import_(source)
    except RegistryError as exc:
        raise click.ClickException(str(exc)) from exc
    outcomes = Counter(d.outcome for d in documents)
    click.echo(
        f"imported {len(documents)} document(s): "
        + ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
    )


def _registry() -> Registry:
    return Registry(_redis_client(), _load_config(None))


def _registry_url(config: ScanConfig, err: Console) -> str | None:
    """The Redis URL of the registry when it holds documents. Unreachable, the scan goes on
    without it, with a warning."""
    try:
        url = redis_url().url
        client = redis.Redis.from_url(url, socket_connect_timeout=5)
        return url if Registry(client, config).count() else None
    except (RedisUnavailable, redis.RedisError) as exc:
        err.print(
            Text(f"warning: scanning without the registry of controlled documents: {exc}"),
            style="yellow",
        )
        return None


def _known_documents(registry_url: str | None, config: ScanConfig) -> Registry | None:
    return Registry(redis.Redis.from_url(registry_url), config) if registry_url else None


# The console's commands live with the console (bot/web/commands.py).
main.add_command(console_command)
main.add_command(users_group)


# --- scan workers (bot/worker.py) ---------------------------------------------------------------


@main.command("worker")
@click.option(
    "--consumers", type=click.IntRange(1, 64), default=1, help="Worker processes (default 1)."
)
@click.option("--name", help="Consumer name (default: host-pid); with --consumers N, the prefix.")
@click.option("--config", "config_dir", type=click.Path(file_okay=False, path_type=Path))
def worker_command(consumers: int, name: str | None, config_dir: Path | None) -> None:
    """Scan jobs from the Redis queue (REDIS_URL, or the embedded server) until SIGTERM. Any
    number of workers on any machine sharing the Redis; each finishes its job before it stops."""
    from bot.worker import worker_main

    try:
        worker_main(consumers, name, config_dir)
    except ConfigError as exc:
        raise click.UsageError(f"invalid configuration: {exc}") from exc


if __name__ == "__main__":
    main()
