"""The console in a real browser: Debian's Chromium, driven by Playwright, against
`leaksentry console` running as its own process on a real (embedded) Redis."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from bot.paths import DATA_DIR_ENV
from bot.redis_server import connect, stop_embedded
from bot.web.users import Role, UserStore

CHROMIUM = "/usr/bin/chromium"  # from apt (scripts/install.sh); Playwright's download is unused
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def console_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("console-data")
    client = connect(data / "redis")
    UserStore(client).add("alice", Role.ADMIN, PASSWORD)
    port = _free_port()
    env = {**os.environ, DATA_DIR_ENV: str(data)}
    env.pop("REDIS_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "console", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url + "/healthz", server)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        stop_embedded(data / "redis")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()
    yield opened
    context.close()


def test_sign_in_see_the_dashboard_and_sign_out(console_url: str, page: Page) -> None:
    blocked: list[str] = []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    page.goto(console_url + "/")
    expect(page).to_have_url(console_url + "/login?next=/")

    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")

    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(console_url + "/")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_text("items scanned")).to_be_visible()

    [session] = [c for c in page.context.cookies() if c["name"] == "ls_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert session["secure"] is False  # plain http on localhost
    assert page.evaluate("document.cookie") == ""  # scripts cannot read it

    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    expect(page.locator("table.audit tbody tr").first).to_contain_text("view")
    expect(page.locator("table.audit")).to_contain_text("failed sign-in")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(console_url + "/login")
    assert not [c for c in page.context.cookies() if c["name"] == "ls_session"]
    page.goto(console_url + "/audit")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert blocked == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_up(url: str, server: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            output = server.stdout.read() if server.stdout else ""
            raise RuntimeError(f"leaksentry console exited with {server.returncode}:\n{output}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"leaksentry console did not answer {url} within {timeout} s")
