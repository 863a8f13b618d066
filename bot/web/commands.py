"""The console's commands: `leaksentry console` and `leaksentry users add|list|remove`."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

import click
import redis
from aiohttp import web

from bot.redis_server import RedisUnavailable, connect
from bot.settings import load_bot_settings, with_console_url
from bot.templates import load_templates
from bot.web.app import create_app
from bot.web.audit import AuditLog
from bot.web.state import CONSOLE
from bot.web.users import Role, UserError, UserStore
from detectors import ConfigError, load_config


@click.command("console")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--config", "config_dir", type=click.Path(file_okay=False, path_type=Path))
def console_command(host: str, port: int, config_dir: Path | None) -> None:
    """Serve the security console: incidents, registry, groups, audit log, JSON API."""
    try:
        scan_config = load_config(config_dir)
        settings = with_console_url(load_bot_settings(config_dir), host, port)
    except ConfigError as exc:
        raise click.UsageError(f"invalid configuration: {exc}") from exc
    app = create_app(_redis(), scan_config, settings)
    if app[CONSOLE].users.count() == 0:
        click.echo(
            "No console users yet: create one with `leaksentry users add NAME --role admin`.",
            err=True,
        )
    click.echo(f"leaksentry console on http://{host}:{port}/ (Ctrl-C stops it)")
    web.run_app(app, host=host, port=port, print=None)


@click.group("users")
def users_group() -> None:
    """Console users: officers see incidents; admins also manage users and groups."""


@users_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
def add_user(name: str, role: str, password_stdin: bool) -> None:
    """Create a user; the password is asked for (twice) unless --password-stdin."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    client = _redis()
    try:
        user = UserStore(client).add(name, Role(role), password)
    except UserError as exc:
        raise click.ClickException(str(exc)) from exc
    AuditLog(client).record(_cli_actor(), "user_add", user.name, detail=user.role.value)
    click.echo(f"added {user.role.value} {user.name!r}")


@users_group.command("list")
def list_users() -> None:
    """Name, role and creation date of every console user."""
    templates = load_templates()
    for user in UserStore(_redis()).list():
        click.echo(f"{user.name:<24} {user.role.value:<8} {templates.time(user.created_at)}")


@users_group.command("remove")
@click.argument("name")
def remove_user(name: str) -> None:
    """Delete a user; their sessions end at once."""
    client = _redis()
    if not UserStore(client).remove(name):
        raise click.ClickException(f"no user {name!r}")
    AuditLog(client).record(_cli_actor(), "user_remove", name)
    click.echo(f"removed {name!r}")


def _redis() -> redis.Redis:
    try:
        return connect()
    except RedisUnavailable as exc:
        raise click.ClickException(str(exc)) from exc


def _cli_actor() -> str:
    """Who ran the command, for the audit log."""
    try:
        return "cli:" + getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, as in some containers
        return f"cli:uid {os.getuid()}"
