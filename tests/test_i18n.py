"""The console's catalogs: every text of the templates and handlers has its Chinese, every
identifier a human name in both languages; and the language a request gets."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.incidents import STATUSES
from bot.templates import load_templates
from bot.web.audit import ACTIONS
from bot.web.i18n import LANGUAGES, LOCALE_DIR, choose_language, load_catalogs, negotiate
from bot.web.users import Role
from detectors import Verdict
from detectors.registry import DETECTOR_NAMES
from tests.console import ADMIN, OFFICER, ClientFactory, console_settings, login, signed_in
from tests.console import client as client
from tests.console import make_client as make_client
from tests.console import redis_dir as redis_dir
from tests.console import users as users

WEB = Path(__file__).parent.parent / "bot" / "web"


def catalog(language: str):  # type: ignore[no-untyped-def]
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=language)


def extracted() -> set[str]:
    """Every msgid the templates and the console's Python mark (what pybabel extract finds)."""
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    found = set()
    for _, _, message, _, _ in extract_from_dir(
        str(WEB),
        method_map,
        options,
        keywords={
            "_": None,
            "N_": None,
            "gettext": None,
            "ngettext": (1, 2),
            "pgettext": ((1, "c"), 2),
        },
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_every_text_of_the_console_has_its_chinese() -> None:
    zh = catalog("zh_CN")
    texts = extracted()
    assert len(texts) > 150
    untranslated = sorted(t for t in texts if not (zh.get(t) and zh.get(t).string))
    assert untranslated == []
    assert [str(error) for _, errors in zh.check() for error in errors] == []


def identifiers() -> list[tuple[str, str]]:
    labels = load_templates().config.finding_labels["document_header"]
    return [
        *(("verdict", v.label) for v in Verdict),
        *(("status", s) for s in STATUSES),
        *(("decide", s) for s in STATUSES),
        *(("detector", d) for d in DETECTOR_NAMES),
        *(("label", label) for label in labels),
        *(("action", a) for a in ACTIONS),
        *(("role", r.value) for r in Role),
        *(("recall", r) for r in ("none", "partial", "all")),
    ]


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_every_identifier_has_a_human_name(language: str) -> None:
    names = catalog(language)
    missing = [
        (context, name)
        for context, name in identifiers()
        if not ((entry := names.get(name, context=context)) and entry.string)
    ]
    assert missing == []
    if language == "zh_CN":  # no raw identifier left in the Chinese console
        chinese = load_catalogs()["zh_CN"]
        assert [i for i in identifiers() if chinese.upgettext(*i) == i[1]] == []


def test_document_header_labels_read_as_in_the_alerts() -> None:
    """The console's Chinese names of a header's parts are the chat's (config/messages.yaml)."""
    zh = load_catalogs()["zh_CN"]
    for label, name in load_templates().config.finding_labels["document_header"].items():
        assert zh.upgettext("label", label) == name
    for verdict, name in load_templates().config.verdicts.items():
        assert zh.upgettext("verdict", verdict) == name


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("", None),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
        ("en-US,en;q=0.9", "en"),
        ("zh-TW", "zh_CN"),
        ("fr-FR,en;q=0.5,zh;q=0.7", "zh_CN"),
        ("fr-FR,de;q=0.5", None),
        ("en;q=0, zh-Hans", "zh_CN"),
        ("*, nonsense;;q=x", None),
    ],
)
def test_accept_language(header: str, chosen: str | None) -> None:
    assert negotiate(header) == chosen


def test_a_users_choice_comes_first_then_the_cookie_then_the_browser() -> None:
    assert choose_language("en", "zh_CN", "zh-CN", "zh_CN") == "en"
    assert choose_language(None, "en", "zh-CN", "zh_CN") == "en"
    assert choose_language(None, None, "en-GB", "zh_CN") == "en"
    assert choose_language(None, "xx", "", "zh_CN") == "zh_CN"


async def test_the_sign_in_page_is_chinese_unless_the_browser_asks_for_english(
    make_client: ClientFactory, users: object
) -> None:
    http = await make_client(language=None)
    chinese = await http.get("/login")
    page = await chinese.text()
    assert '<html lang="zh-CN">' in page and "用户名" in page and "登录" in page
    assert "Sign in" not in page
    english = await http.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert "User name" in await english.text()
    assert english.headers["Content-Language"] == "en"
    fixed = await make_client(settings=console_settings(browser_language=False), language=None)
    still = await fixed.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert "用户名" in await still.text()  # console.browser_language: false


async def test_a_users_own_language_wins_over_the_browsers(
    make_client: ClientFactory, users: object
) -> None:
    http = await make_client(language=None)
    assert (await login(http, OFFICER)).status == 303
    english_browser = {"Accept-Language": "en-US"}
    assert "Sign out" in await (await http.get("/", headers=english_browser)).text()
    switched = await http.get("/language?lang=zh_CN&next=/incidents", allow_redirects=False)
    assert switched.status == 303 and switched.headers["Location"] == "/incidents"
    http.session.cookie_jar.clear()  # the saved setting, not the cookie, must carry it now
    assert (await login(http, OFFICER)).status == 303
    page = await (await http.get("/", headers=english_browser)).text()
    assert "退出登录" in page and "Sign out" not in page
    admin = await signed_in(make_client, ADMIN)
    users_page = await (await admin.get("/users")).text()
    assert "中文" in users_page  # bob's language shows on the users page
    bad = await http.get("/language?lang=tlh", allow_redirects=False)
    assert bad.status == 400 and "不支持该语言" in await bad.text()


async def test_errors_are_pages_of_the_console_in_its_language(
    make_client: ClientFactory, users: object
) -> None:
    officer = await signed_in(make_client, OFFICER, language=None)
    missing = await officer.get("/incidents/ZZZZZZ")
    page = await missing.text()
    assert missing.status == 404
    assert "未找到该事件" in page and 'class="topbar"' in page and "退出登录" in page
    forbidden = await officer.get("/users")
    page = await forbidden.text()
    assert forbidden.status == 403 and "无权访问" in page and "/incidents" in page  # the nav
    nowhere = await officer.get("/no-such-page")
    assert nowhere.status == 404 and "未找到" in await nowhere.text()
    api = await officer.get("/api/incidents/ZZZZZZ")
    assert api.status == 404 and "error" in await api.json()
