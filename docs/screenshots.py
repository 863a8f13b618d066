"""Screenshots of the console's main pages for the README: `python -m docs.screenshots`.

Runs `leaksentry run` (embedded Redis, one scan worker, the bot on the sandbox chat, the
console) on a fresh data folder and drives Debian's Chromium through the flow of the browser
test: register a generated official document by upload, post phone photos of marked pages as
a member of the sandbox demo group, decide on the incident. Everything shown was scanned for
real; nothing is seeded. The pictures, in Chinese (the console's default), at 1280 px and on a
390 px phone, go to docs/screenshots/*.png.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from bot.redis_server import connect, stop_embedded
from bot.web.users import Role, UserStore
from tests.corpus import files as fl
from tests.corpus import positive
from tests.corpus.registry import document_pages, member_document
from tests.test_web_browser import CHROMIUM, PASSWORD, _free_port, _wait_until_up
from tests.test_web_browser_flows import (
    SEED,
    demo_files,
    open_incident,
    post_photo_in_sandbox,
    register_document,
    sign_in,
    start_run,
)

OUT = Path(__file__).parent / "screenshots"
DESK_SHOTS = (
    ("dashboard", "/", False),
    ("incidents", "/incidents", False),
    ("incident", "/incidents/{incident}", True),
    ("registry", "/registry", False),
    ("groups", "/groups", False),
    ("sandbox", "/sandbox", False),
    ("audit", "/audit", False),
)
PHONE_SHOTS = (("phone-incidents", "/incidents"), ("phone-incident", "/incidents/{incident}"))
USER = "wang.li"


def shoot(page: Page, name: str, *, full_page: bool = False) -> None:
    OUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=full_page)
    print(f"wrote {OUT / name}.png")


def post_marked_photo(page: Page, index: int) -> None:
    """Another member photo: a marked page from the test corpus, not registered."""
    _, data, _ = positive(SEED, index, None)
    page.get_by_label("Image or file").set_input_files(
        {"name": f"IMG_2024061{index}.jpg", "mimeType": "image/jpeg", "buffer": data}
    )
    page.get_by_role("button", name="Send in the group").click()


def main() -> None:
    pdf, photo = demo_files()
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        UserStore(connect(data / "redis")).add(USER, Role.ADMIN, PASSWORD)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_run(data, port)
        try:
            _wait_until_up(url + "/healthz", server)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
                )
                desk = browser.new_context(viewport={"width": 1280, "height": 860})
                page = desk.new_page()
                sign_in(page, url, USER)  # the steps are the browser test's, in English
                register_document(page, url, pdf)
                other = fl.pdf_text(document_pages(SEED, 3, 0))
                register_document(page, url, other, member_document(SEED, 3, 0).title)
                incident_id = post_photo_in_sandbox(page, url, photo)
                post_marked_photo(page, 7)
                post_marked_photo(page, 12)
                page.wait_for_timeout(45_000)  # the two more photos are scanned meanwhile
                open_incident(page, url, incident_id)
                page.get_by_label("Note").fill("已联系本人撤回，并通报部门负责人")
                page.get_by_role("button", name="Mark confirmed").click()
                expect(page.locator("#incident-status")).to_have_text("Confirmed")
                page.goto(url + "/language?lang=zh_CN&next=/")  # the shots: the console's default
                for name, path, full in DESK_SHOTS:
                    page.goto(url + path.format(incident=incident_id))
                    page.wait_for_load_state("networkidle")
                    shoot(page, name, full_page=full)
                phone = browser.new_context(
                    viewport={"width": 390, "height": 844},
                    device_scale_factor=2,
                    storage_state=desk.storage_state(),
                ).new_page()
                for name, path in PHONE_SHOTS:
                    phone.goto(url + path.format(incident=incident_id))
                    phone.wait_for_load_state("networkidle")
                    shoot(phone, name)
                phone.locator("label.menu-button").click()
                shoot(phone, "phone-menu")
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=60)
            stop_embedded(data / "redis")


if __name__ == "__main__":
    sys.exit(main())
