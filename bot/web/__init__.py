"""The security console: a server-rendered aiohttp app (see bot/web/app.py)."""
