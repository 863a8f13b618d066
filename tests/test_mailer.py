"""E-mail through smtplib against a real SMTP server (aiosmtpd) on localhost."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from bot.mailer import Mailer, MailRejected, MailUnavailable
from bot.settings import load_bot_settings
from detectors.config import ConfigError

USER, PASSWORD = "leaksentry", "p@ss/word"


@dataclass
class SmtpInbox:
    port: int
    messages: list[bytes] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    def parsed(self, index: int = 0) -> EmailMessage:
        # As received off the wire: CRLF line ends.
        raw = self.messages[index].replace(b"\r\n", b"\n")
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Handler:
    def __init__(self, inbox: SmtpInbox) -> None:
        self.inbox = inbox

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("nobody@"):
            return "550 no such user"
        if address.startswith("busy@"):
            return "451 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.inbox.messages.append(envelope.content)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_smtpd() -> Iterator[SmtpInbox]:
    """A real SMTP server on localhost that accepts a login (without TLS) and keeps mail."""
    inbox = SmtpInbox(port=free_port())

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        if ok:
            inbox.logins.append(USER)
        return AuthResult(success=ok, handled=False)

    controller = Controller(
        _Handler(inbox),
        hostname="127.0.0.1",
        port=inbox.port,
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def smtpd() -> Iterator[SmtpInbox]:
    with running_smtpd() as inbox:
        yield inbox


def mailer(
    port: int, recipients: tuple[str, ...] = ("security@example.org",), auth: str = ""
) -> Mailer:
    return Mailer.from_url(
        f"smtp://{auth}127.0.0.1:{port}",
        from_address="leaksentry@example.org",
        recipients=recipients,
        timeout_seconds=5,
    )


async def test_sends_chinese_mail_with_a_stable_message_id(smtpd: SmtpInbox) -> None:
    body = "【泄密风险告警】事件编号 A7K3Q9\n群聊：财务科工作群"
    await mailer(smtpd.port).send("【泄密风险告警】事件编号 A7K3Q9", body, "abc123")
    mail = smtpd.parsed()
    assert mail["Subject"] == "【泄密风险告警】事件编号 A7K3Q9"
    assert mail["To"] == "security@example.org"
    assert mail["Message-ID"] == "<abc123@leaksentry>"
    assert mail.get_content().strip() == body


async def test_logs_in_with_the_url_credentials(smtpd: SmtpInbox) -> None:
    auth = "leaksentry:p%40ss%2Fword@"  # percent-encoded in the URL
    await mailer(smtpd.port, auth=auth).send("s", "b", "id-1")
    assert smtpd.logins == [USER] and len(smtpd.messages) == 1
    with pytest.raises(MailRejected, match="login refused"):
        await mailer(smtpd.port, auth="leaksentry:wrong@").send("s", "b", "id-2")


async def test_refused_recipient_is_permanent_busy_is_temporary(smtpd: SmtpInbox) -> None:
    with pytest.raises(MailRejected):
        await mailer(smtpd.port, recipients=("nobody@example.org",)).send("s", "b", "id")
    with pytest.raises(MailUnavailable):
        await mailer(smtpd.port, recipients=("busy@example.org",)).send("s", "b", "id")
    assert smtpd.messages == []


async def test_unreachable_server_is_temporary() -> None:
    with pytest.raises(MailUnavailable):
        await mailer(free_port()).send("s", "b", "id")


def test_settings_and_url_errors() -> None:
    settings = load_bot_settings().email
    assert Mailer.from_settings(settings, environ={}) is None
    env = {settings.smtp_url_env: "smtps://mail.example.org", settings.to_env: "a@x.org, b@x.org"}
    configured = Mailer.from_settings(settings, environ=env)
    assert configured is not None
    assert (configured.security, configured.port) == ("ssl", 465)
    assert configured.recipients == ("a@x.org", "b@x.org")
    with pytest.raises(ConfigError, match=settings.to_env):
        Mailer.from_settings(settings, environ={settings.smtp_url_env: "smtp://h:25"})
    with pytest.raises(ConfigError, match=settings.smtp_url_env):
        Mailer.from_settings(settings, environ={**env, settings.smtp_url_env: "http://h"})
