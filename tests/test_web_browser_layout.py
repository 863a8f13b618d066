"""Every console page in Debian's Chromium at a desk (1366 px) and on a phone (390×844), in
Chinese and in English: nothing scrolls sideways, the texts are in the browser's language, the
phone's menu folds; and a decision taken in the console reaches the alert's recipients and the
member in the sandbox chat. Against `leaksentry run --workers 0` (the bot on the sandbox chat,
no scan workers: the incidents are recorded straight into its Redis)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from bot.blobs import Blobs
from bot.connectors.sandbox import DEMO_MEMBER, DEMO_ROOM, DEMO_TOPIC
from bot.incidents import Incidents
from bot.paths import DATA_DIR_ENV
from bot.redis_server import connect, stop_embedded
from bot.sealing import KEY_ENV, evidence_key_text
from bot.settings import load_bot_settings
from bot.web.evidence import EvidencePictures, evidence_views
from bot.web.users import Role, UserStore
from tests.conftest import scan_job
from tests.test_web_browser import PASSWORD, _free_port, _wait_until_up
from tests.test_web_browser import browser as browser

DESK = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
SIGN_IN_LABELS = {
    "zh-CN": ("用户名", "密码", "登录"),
    "en-US": ("User name", "Password", "Sign in"),
}
LOCALES = {"zh-CN": ("退出登录", "zh-CN"), "en-US": ("Sign out", "en")}
LONG_NAME = "关于印发二〇二四年度保密工作要点及重点任务分工方案的通知_最终审定稿_请勿外传_v3.pdf"
PAGES = (
    "/",
    "/incidents",
    "/incidents?q=%E5%B0%8F%E5%BC%A0",
    "/incidents/{incident}",
    "/registry",
    "/groups",
    "/audit",
    "/users",
    "/sandbox",
    "/no-such-page",
)


@dataclass(frozen=True)
class Run:
    url: str
    incident_id: str
    other_id: str


def _picture() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1200, 1600), (250, 250, 250)).save(out, format="PNG")
    return out.getvalue()


def _seed(data: Path) -> tuple[str, str]:
    """Two users, and two incidents in the demo group (one with a long file name and long
    evidence), their pictures drawn as the worker would have."""
    client = connect(data / "redis")
    UserStore(client).add("alice", Role.ADMIN, PASSWORD)
    settings = load_bot_settings()
    picture = _picture()
    finding = {
        "detector": "classification_marking",
        "label": "机密",
        "confidence": 0.93,
        "page": 1,
        "bbox": [100, 80, 400, 140],
        "evidence": "机密★1年" + "某某单位内部资料不得外传" * 12,
        "member": None,
    }
    header = {**finding, "detector": "document_header", "label": "marking_block"}
    header["bbox"] = [100, 80, 400, 140]  # the same place: both boxes must show
    ids = []
    for number, name in enumerate((LONG_NAME, "通知.png")):
        job = scan_job(
            picture + bytes([number]),
            f"m{number}",
            DEMO_ROOM,
            DEMO_TOPIC,
            sender_id=DEMO_MEMBER,
            platform="sandbox",
            kind="file",
            filename=name,
        )
        report = {
            "source": name,
            "verdict": "high",
            "findings": [finding, header],
            "media_type": "png",
            "pages": 1,
        }
        Blobs(client, settings).put(picture + bytes([number]))
        event = Incidents(client, settings).record(client, job, report)
        assert event is not None
        for view in evidence_views(report):
            EvidencePictures(client, settings).put(job.sha256, view, picture)
        ids.append(event.incident_id)
    return ids[0], ids[1]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    data = tmp_path_factory.mktemp("layout-data")
    env = {**os.environ, DATA_DIR_ENV: str(data)}
    for name in ("REDIS_URL", "WECHATY_PUPPET_SERVICE_TOKEN", "LEAKSENTRY_CONSOLE_URL"):
        env.pop(name, None)
    env[KEY_ENV] = evidence_key_text()  # the pictures seeded here are sealed with this key
    incident_id, other_id = _seed(data)
    port = _free_port()
    command = [sys.executable, "-m", "bot.cli", "run", "--workers", "0", "--port", str(port)]
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url + "/healthz", server)
        yield Run(url, incident_id, other_id)
    finally:
        server.terminate()
        server.wait(timeout=60)
        stop_embedded(data / "redis")


def _page(browser: Browser, viewport: dict[str, int], locale: str) -> Page:
    context = browser.new_context(viewport=viewport, locale=locale)
    return context.new_page()


def sign_in(page: Page, url: str, locale: str) -> None:
    page.goto(url + "/login")
    labels = (
        ("用户名", "密码", "登录") if locale == "zh-CN" else ("User name", "Password", "Sign in")
    )
    page.get_by_label(labels[0]).fill("alice")
    page.get_by_label(labels[1]).fill(PASSWORD)
    page.get_by_role("button", name=labels[2]).click()
    expect(page).to_have_url(url + "/")


def overflow(page: Page) -> int:
    """How many pixels the page is wider than the window (0: no sideways scrolling)."""
    return int(
        page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    )


@pytest.mark.parametrize("locale", sorted(LOCALES))
@pytest.mark.parametrize("viewport", [DESK, PHONE], ids=["desk", "phone"])
def test_no_page_scrolls_sideways_and_all_speak_the_browsers_language(
    run: Run, browser: Browser, viewport: dict[str, int], locale: str
) -> None:
    page = _page(browser, viewport, locale)
    sign_out, lang = LOCALES[locale]
    try:
        page.goto(run.url + "/login")
        assert page.locator("html").get_attribute("lang") == lang
        assert overflow(page) == 0, "/login"
        sign_in(page, run.url, locale)
        wide = []
        for path in PAGES:
            page.goto(run.url + path.format(incident=run.incident_id))
            page.wait_for_load_state("load")
            assert page.locator("html").get_attribute("lang") == lang, path
            expect(page.locator("form.signout button")).to_have_text(sign_out)
            if overflow(page) > 0:
                wide.append((path, overflow(page)))
        assert wide == []
    finally:
        page.context.close()


def test_the_phone_menu_folds_and_opens_within_the_screen(run: Run, browser: Browser) -> None:
    page = _page(browser, PHONE, "zh-CN")
    try:
        sign_in(page, run.url, "zh-CN")
        nav = page.locator(".topbar nav")
        expect(nav).to_be_hidden()
        page.locator("label.menu-button").click()
        expect(nav).to_be_visible()
        for link in nav.locator("a").all():
            box = link.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        nav.get_by_role("link", name="事件").click()
        expect(page.get_by_role("heading", name="事件")).to_be_visible()
        # The list is cards: a card's cells carry their column's name.
        card = page.locator("table.incidents tbody tr").first
        assert card.bounding_box()["width"] <= PHONE["width"]  # type: ignore[index]
        expect(card.locator("td[data-label='发送人']")).to_be_visible()
    finally:
        page.context.close()


def test_the_evidence_picture_zooms_inside_its_frame(run: Run, browser: Browser) -> None:
    page = _page(browser, PHONE, "zh-CN")
    try:
        sign_in(page, run.url, "zh-CN")
        page.goto(f"{run.url}/incidents/{run.incident_id}")
        image = page.locator("img.evidence-image").first
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
        )
        fitted = image.bounding_box()
        assert fitted is not None and fitted["width"] <= PHONE["width"]
        page.get_by_role("button", name="放大查看").click()
        expect(page.get_by_role("button", name="适合屏幕")).to_be_visible()
        zoomed = image.bounding_box()
        assert zoomed is not None and zoomed["width"] > fitted["width"]
        assert overflow(page) == 0  # the frame scrolls, not the page
    finally:
        page.context.close()


def test_a_decision_in_the_console_reaches_the_recipients_and_the_member(
    run: Run, browser: Browser
) -> None:
    page = _page(browser, DESK, "zh-CN")
    try:
        sign_in(page, run.url, "zh-CN")
        page.goto(f"{run.url}/incidents/{run.other_id}")
        expect(page.locator("#first-seen")).to_contain_text("UTC+8")
        page.get_by_label("备注（随处理结果保存）").fill("演练材料")
        page.get_by_role("button", name="标记为误报").click()
        expect(page.locator("#incident-status")).to_have_text("误报")

        page.goto(run.url + "/sandbox")
        for chat in ("sandbox-owner", "sandbox-admin", "sandbox-officer"):
            notice = page.locator(f'ul[data-chat="{chat}"] li.from-bot').last
            expect(notice).to_contain_text(f"事件 {run.other_id}", timeout=30_000)
            expect(notice).to_contain_text("alice")
            expect(notice).to_contain_text("「误报」")
        member = page.locator('ul[data-chat="group"] li.from-bot').last
        expect(member).to_contain_text("为误报", timeout=30_000)
        expect(member.locator(".mention")).to_contain_text("@")

        page.goto(run.url + "/audit?action=incident_status")
        rows = page.locator("table.audit tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("待处理 → 误报: 演练材料")
    finally:
        page.context.close()


def test_bulk_decisions_search_and_export(run: Run, browser: Browser) -> None:
    page = _page(browser, PHONE, "en-US")
    try:
        sign_in(page, run.url, "en-US")
        page.goto(run.url + "/incidents?q=" + "最终审定稿")
        rows = page.locator("table.incidents tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text(run.incident_id)
        rows.first.locator("input[type=checkbox]").check()
        page.get_by_label("Decide the selected incidents").select_option("confirmed")
        page.get_by_role("button", name="Apply to selected").click()
        expect(page.get_by_role("status")).to_contain_text("1 incident marked Confirmed")
        with page.expect_download() as download:
            page.get_by_role("link", name="Export CSV").click()
        text = Path(download.value.path()).read_text(encoding="utf-8-sig")
        assert text.splitlines()[0].startswith("id,opened,verdict,status")
        assert run.incident_id in text and "Confirmed" in text and LONG_NAME in text
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\+8", text)
    finally:
        page.context.close()
