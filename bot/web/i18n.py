"""The console's languages: gettext catalogs (bot/web/locale/*/LC_MESSAGES/messages.po),
compiled with Babel when the console starts, served through jinja2's i18n extension.

zh_CN is the default; English is chosen by a user's own setting, the `lang` cookie (the sign-in
page's switch) or the browser's Accept-Language, in that order. The language of a request lives
in a context variable that `language_middleware` sets, so that templates (`_()`, `{% trans %}`)
and handlers (`gettext`) read it without passing it around.

Texts are English msgids; the human names of identifiers (verdicts, detectors, labels,
statuses, audit actions, roles) are msgids under a context (`pgettext("verdict", "critical")`),
which the English catalog translates too ("Critical").
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from pathlib import Path

import jinja2
from aiohttp import web
from aiohttp.typedefs import Middleware
from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
DEFAULT_LANGUAGE = "zh_CN"
LANGUAGES = {"zh_CN": "中文", "en": "English"}
"""The console's languages, each named in itself (as a switch shows them)."""
LANGUAGE_COOKIE = "lang"
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_current: ContextVar[str] = ContextVar("console_language", default=DEFAULT_LANGUAGE)
_catalogs: dict[str, Translations] = {}


def compile_catalog(po_file: Path) -> Translations:
    """A .po file compiled to .mo in memory: what `pybabel compile` writes, without a file."""
    with po_file.open("rb") as source:
        catalog = read_po(source, locale=po_file.parent.parent.name, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def load_catalogs() -> dict[str, Translations]:
    """Every language's catalog, compiled once per process."""
    if not _catalogs:
        _catalogs.update(
            {
                language: compile_catalog(LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po")
                for language in LANGUAGES
            }
        )
    return _catalogs


def current_language() -> str:
    return _current.get()


def gettext(message: str) -> str:
    return load_catalogs()[_current.get()].ugettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    return load_catalogs()[_current.get()].ungettext(singular, plural, count)


def pgettext(context: str, message: str) -> str:
    return load_catalogs()[_current.get()].upgettext(context, message)


def npgettext(context: str, singular: str, plural: str, count: int) -> str:
    return load_catalogs()[_current.get()].unpgettext(context, singular, plural, count)


def N_(message: str) -> str:
    """Marks a text for the catalog where it is defined; it is translated where it is shown."""
    return message


def name_of(kind: str, identifier: str) -> str:
    """The human name of an identifier: `name_of("verdict", "critical")` is 严重 or Critical;
    an identifier the catalog does not know is shown as it is."""
    return pgettext(kind, identifier) if identifier else ""


def label_name(detector: str, label: str) -> str:
    """A finding's label as officers read it: `doc_number` is 发文字号; a marking word (机密) or
    a document id stays as it is."""
    return pgettext("label", label) if label else ""


def choose_language(
    saved: str | None, cookie: str | None, accept_language: str, default: str
) -> str:
    """The user's own setting, else the sign-in page's choice, else the browser's, else
    `default`."""
    for choice in (saved, cookie):
        if choice in LANGUAGES:
            return choice
    return negotiate(accept_language) or default


def negotiate(accept_language: str) -> str | None:
    """The best of `LANGUAGES` for an Accept-Language header (`zh-CN,zh;q=0.9,en;q=0.8`)."""
    wanted = []
    for part in accept_language.split(",")[:20]:
        tag, _, quality = part.strip().partition(";q=")
        try:
            weight = float(quality) if quality else 1.0
        except ValueError:
            continue
        if tag and tag != "*" and weight > 0:
            wanted.append((weight, tag.replace("-", "_")))
    wanted.sort(key=lambda pair: -pair[0])  # stable: equal weights keep the header's order
    for _, tag in wanted:
        try:
            locale = Locale.parse(tag)
        except (ValueError, UnknownLocaleError):
            continue
        if locale.language == "zh":
            return "zh_CN"
        if locale.language == "en":
            return "en"
    return None


def install(environment: jinja2.Environment) -> None:
    """Templates translate through the request's language (`_()`, `{% trans %}`)."""
    environment.add_extension("jinja2.ext.i18n")
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        gettext, ngettext, newstyle=True, pgettext=pgettext, npgettext=npgettext
    )
    environment.globals.update(
        name_of=name_of, label_name=label_name, translate=gettext, languages=LANGUAGES
    )


def language_middleware(default: str, browser_language: bool = True) -> Middleware:
    """Sets the request's language from the `lang` cookie or Accept-Language before anything
    else runs (error pages are translated too), the header only when `browser_language`;
    `use_language` refines it once the signed-in
    user is known. The language is reset after the request: a kept-alive connection serves
    its next request afresh."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        language = choose_language(
            None,
            request.cookies.get(LANGUAGE_COOKIE),
            request.headers.get("Accept-Language", "") if browser_language else "",
            default,
        )
        token = _current.set(language)
        try:
            response = await handler(request)
            response.headers.setdefault("Content-Language", HTML_LANG[current_language()])
            return response
        finally:
            _current.reset(token)

    return middleware


def use_language(language: str | None) -> None:
    """The signed-in user's own setting, when there is one, for the rest of the request."""
    if language in LANGUAGES:
        _current.set(language)
