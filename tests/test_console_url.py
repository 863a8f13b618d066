"""Alert links lead to the console that `run` / `console` actually serve, unless configured."""

from __future__ import annotations

import logging

import pytest

from bot.cli import _warn_if_loopback
from bot.settings import CONSOLE_URL_ENV, is_loopback_url, load_bot_settings, with_console_url


def test_an_empty_public_url_follows_the_address_the_console_listens_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(CONSOLE_URL_ENV, raising=False)
    settings = load_bot_settings()
    assert settings.console.public_url == "http://127.0.0.1:8080"  # `leaksentry bot`'s guess
    bound = with_console_url(settings, "127.0.0.1", 8093)
    assert bound.console.public_url == "http://127.0.0.1:8093"
    assert with_console_url(settings, "::1", 9000).console.public_url == "http://[::1]:9000"
    wildcard = with_console_url(settings, "0.0.0.0", 8093).console.public_url
    assert wildcard.endswith(":8093") and "0.0.0.0" not in wildcard


def test_a_configured_public_url_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONSOLE_URL_ENV, "https://console.example.cn")
    settings = with_console_url(load_bot_settings(), "127.0.0.1", 8093)
    assert settings.console.public_url == "https://console.example.cn"


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://127.8.0.1", True),
        ("http://[::1]:8080", True),
        ("http://localhost:8080", True),
        ("http://10.1.2.3:8080", False),
        ("https://console.example.cn", False),
    ],
)
def test_loopback_addresses(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_a_loopback_link_is_warned_about(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(CONSOLE_URL_ENV, raising=False)
    caplog.set_level(logging.WARNING)
    _warn_if_loopback(with_console_url(load_bot_settings(), "127.0.0.1", 8093))
    assert "http://127.0.0.1:8093" in caplog.text and "public_url" in caplog.text
    caplog.clear()
    _warn_if_loopback(with_console_url(load_bot_settings(), "10.1.2.3", 8093))
    assert caplog.text == ""
