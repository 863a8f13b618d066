"""The security console: a server-rendered aiohttp app (see bot/web/app.py)."""

from bot.web.app import create_app, start_console

__all__ = ["create_app", "start_console"]
