"""The whole product in a real browser: `leaksentry run` (embedded Redis, a real worker process
with real OCR, the bot on the sandbox chat, the console) driven by Debian's Chromium through
Playwright. An officer registers a document by uploading its PDF, a member posts a phone photo
of one of its pages in the sandbox group, the member warning and the officer's alert appear,
and the officer opens the incident and marks it a false positive with a note.

The steps are functions so that `python -m docs.screenshots` drives the same flow.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from bot.paths import DATA_DIR_ENV
from bot.redis_server import connect, stop_embedded
from bot.web.users import Role, UserStore
from tests.corpus import files as fl
from tests.corpus.registry import document_pages, member_document, shoot
from tests.test_web_browser import PASSWORD, _free_port, _wait_until_up
from tests.test_web_browser import browser as browser

SEED = 2026
ADMIN = "alice"
DOC_TITLE = member_document(SEED, 0, 0).title
"""The registered title is the document's own: the incident page shows it next to the photo."""
SCAN_TIMEOUT_MS = 180_000  # a worker's first scan loads the OCR models on a shared 2-core box
INCIDENT_ID = re.compile(r"事件编号 ([A-Z2-9]{6})")
ALERT_TIME = re.compile(r"时间：(\S+ \S+ UTC[+-]\d+)")


@dataclass(frozen=True)
class Demo:
    url: str
    pdf: bytes
    photo: bytes


def demo_files() -> tuple[bytes, bytes]:
    """A generated official document as a PDF, and a phone photo of its first page."""
    pages = document_pages(SEED, 0, 0)
    return fl.pdf_text(pages), shoot(pages[0], "photo", SEED, "console-demo", 1).data


def start_run(data: Path, port: int) -> subprocess.Popen[str]:
    """`leaksentry run` with one worker, as the README says to start it, on `data`."""
    env = {**os.environ, DATA_DIR_ENV: str(data)}
    for name in ("REDIS_URL", "WECHATY_PUPPET_SERVICE_TOKEN", "LEAKSENTRY_CONSOLE_URL"):
        env.pop(name, None)
    command = [sys.executable, "-m", "bot.cli", "run", "--workers", "1", "--port", str(port)]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    data = tmp_path_factory.mktemp("run-data")
    UserStore(connect(data / "redis")).add(ADMIN, Role.ADMIN, PASSWORD)
    port = _free_port()
    server = start_run(data, port)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url + "/healthz", server)
        yield Demo(url, *demo_files())
    finally:
        server.terminate()
        server.wait(timeout=60)
        stop_embedded(data / "redis")


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    blocked: list[str] = []
    opened.on(
        "console",
        lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None,
    )
    yield opened
    context.close()
    assert blocked == [], blocked


# --- the steps -----------------------------------------------------------------------------


def sign_in(page: Page, url: str, user: str = ADMIN) -> None:
    page.goto(url + "/")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def register_document(page: Page, url: str, pdf: bytes, title: str = DOC_TITLE) -> None:
    page.goto(url + "/registry")
    page.get_by_label("File (PDF").set_input_files(
        {"name": f"{title}.pdf", "mimeType": "application/pdf", "buffer": pdf}
    )
    page.get_by_label("Classification level").fill("机密")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("status")).to_contain_text("registered", timeout=SCAN_TIMEOUT_MS)
    expect(page.locator(".document-title").first).to_have_text(title)
    thumbnail = page.locator("img.thumbnail").first
    expect(thumbnail).to_be_visible()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 100", arg=thumbnail.element_handle()
    )


def post_photo_in_sandbox(page: Page, url: str, photo: bytes) -> str:
    """Post the photo as the demo member; wait for the warning and the officer's alert; the
    incident id from the alert."""
    page.goto(url + "/sandbox")
    page.get_by_label("Image or file").set_input_files(
        {"name": "IMG_20240611_093512.jpg", "mimeType": "image/jpeg", "buffer": photo}
    )
    page.get_by_role("button", name="Send in the group").click()
    group = page.locator('ul[data-chat="group"]')
    expect(group.locator("li.line").first).to_contain_text("[image]")
    warning = group.locator("li.from-bot").last
    expect(warning).to_contain_text("请您在2分钟内撤回", timeout=SCAN_TIMEOUT_MS)
    expect(warning.locator(".mention")).to_have_text("@成员小张")
    alert = page.locator('ul[data-chat="sandbox-officer"] li.from-bot').last
    expect(alert).to_contain_text("泄密风险告警", timeout=60_000)
    text = alert.inner_text()
    assert DOC_TITLE not in text.split("检测发现")[0]  # the alert names no page content up top
    found = INCIDENT_ID.search(text)
    assert found, text
    assert f"{url}/incidents/{found.group(1)}" in text  # the link leads to this console's port
    return found.group(1)


def open_incident(page: Page, url: str, incident_id: str) -> None:
    page.goto(url + "/incidents")
    page.get_by_role("link", name=incident_id).click()
    expect(page.get_by_role("heading", name=re.compile(f"Incident {incident_id}"))).to_be_visible()
    evidence = page.locator("img.evidence-image").first
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 200",
        arg=evidence.element_handle(),
        timeout=120_000,
    )
    findings = page.locator("table.findings")
    expect(findings).to_contain_text("Registered document")
    # A known document is named by its registered title, linked to its registry entry.
    expect(findings.locator("a.known-document")).to_have_text(DOC_TITLE)
    assert (findings.locator("a.known-document").get_attribute("href") or "").startswith(
        "/registry#doc-"
    )


def mark_false_positive(page: Page, note: str) -> None:
    page.get_by_label("Note").fill(note)
    page.get_by_role("button", name="Mark false positive").click()
    expect(page.locator("#incident-status")).to_have_text("False positive")
    expect(page.locator(".history")).to_contain_text(note)


# --- the test ------------------------------------------------------------------------------


def test_register_post_see_warning_and_decide(demo: Demo, page: Page) -> None:
    sign_in(page, demo.url)
    register_document(page, demo.url, demo.pdf)
    incident_id = post_photo_in_sandbox(page, demo.url, demo.photo)
    alert = page.locator('ul[data-chat="sandbox-officer"] li.from-bot').last.inner_text()
    sent_at = ALERT_TIME.search(alert)
    assert sent_at, alert

    open_incident(page, demo.url, incident_id)
    expect(page.locator(".facts")).to_contain_text("演示工作群")
    expect(page.locator("#first-seen")).to_have_text(sent_at.group(1))  # the DM's time and zone
    expect(page.locator(".timeline li")).to_have_count(1)
    mark_false_positive(page, "演练用文件，已核实")

    page.goto(demo.url + "/sandbox")  # the loop is closed: the others and the member hear of it
    for chat in ("sandbox-owner", "sandbox-admin", "sandbox-officer"):
        notice = page.locator(f'ul[data-chat="{chat}"] li.from-bot').last
        expect(notice).to_contain_text(f"事件 {incident_id}", timeout=60_000)
        expect(notice).to_contain_text("「误报」")
    member = page.locator('ul[data-chat="group"] li.from-bot').last
    expect(member).to_contain_text("为误报", timeout=60_000)

    page.goto(demo.url + "/incidents?status=false_positive")
    expect(page.get_by_role("link", name=incident_id)).to_be_visible()
    page.goto(demo.url + "/audit")
    audit = page.locator("table.audit")
    expect(audit).to_contain_text("decision")
    expect(audit).to_contain_text("view evidence")
    expect(audit).to_contain_text("document registered")
    page.goto(demo.url + "/")
    expect(page.locator("rect.bar-critical")).to_have_count(1)
