"""Incident notices by e-mail: plain SMTP through smtplib, in a thread.

The server comes from one URL in the environment (the variable is named in config/bot.yaml):
`smtp://user:password@host:25` (plain), `smtp+starttls://...:587`, or `smtps://...:465`.
The mail carries the same text as the officer's DM: what was found, never the content.
(Named `mailer`, not `email`, so that it can never shadow the standard library's package.)
"""

from __future__ import annotations

import asyncio
import logging
import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Literal
from urllib.parse import unquote, urlsplit

from bot.settings import EmailSettings
from detectors.config import ConfigError

log = logging.getLogger(__name__)

Security = Literal["plain", "starttls", "ssl"]

_SCHEMES: dict[str, tuple[Security, int]] = {
    "smtp": ("plain", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("ssl", 465),
}


class MailRejected(RuntimeError):
    """The server refused the mail for good (5xx, bad login): retrying will not help."""


class MailUnavailable(RuntimeError):
    """The server could not be reached or answered with a temporary error (4xx)."""


@dataclass(frozen=True)
class Mailer:
    host: str
    port: int
    security: Security
    username: str
    password: str
    from_address: str
    recipients: tuple[str, ...]
    timeout_seconds: float

    @classmethod
    def from_settings(
        cls, settings: EmailSettings, environ: Mapping[str, str] | None = None
    ) -> Mailer | None:
        """The configured mailer, or None when the SMTP URL variable is unset."""
        env = os.environ if environ is None else environ
        url = env.get(settings.smtp_url_env, "").strip()
        if not url:
            return None
        recipients = tuple(a.strip() for a in env.get(settings.to_env, "").split(",") if a.strip())
        if not recipients:
            raise ConfigError(
                f"{settings.to_env} must name recipients when {settings.smtp_url_env} is set"
            )
        return cls.from_url(
            url,
            from_address=settings.from_address,
            recipients=recipients,
            timeout_seconds=settings.timeout_seconds,
            where=settings.smtp_url_env,
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        from_address: str,
        recipients: tuple[str, ...],
        timeout_seconds: float = 30.0,
        where: str = "SMTP URL",
    ) -> Mailer:
        parts = urlsplit(url)
        scheme = _SCHEMES.get(parts.scheme.lower())
        if scheme is None or not parts.hostname:
            known = ", ".join(f"{s}://host:port" for s in _SCHEMES)
            raise ConfigError(f"{where}: expected one of {known}, got {parts.scheme or url!r}")
        security, default_port = scheme
        try:
            port = parts.port or default_port
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        return cls(
            host=parts.hostname,
            port=port,
            security=security,
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            from_address=from_address,
            recipients=recipients,
            timeout_seconds=timeout_seconds,
        )

    async def send(self, subject: str, body: str, message_id: str) -> None:
        """Send one mail to every recipient. `message_id` is stable across retries, so that
        a mail client can fold a repeat."""
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = self.from_address
        message["To"] = ", ".join(self.recipients)
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = f"<{message_id}@leaksentry>"
        message.set_content(body, charset="utf-8")
        await asyncio.to_thread(self._send_blocking, message)

    def _send_blocking(self, message: EmailMessage) -> None:
        try:
            with self._connect() as smtp:
                if self.username:
                    smtp.login(self.username, self.password)
                refused = smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise MailRejected(f"SMTP {self.host}: login refused: {exc.smtp_code}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            kind = MailRejected if all(code >= 500 for code in codes) else MailUnavailable
            raise kind(f"SMTP {self.host}: recipients refused: {exc.recipients}") from exc
        except smtplib.SMTPResponseException as exc:
            kind = MailRejected if exc.smtp_code >= 500 else MailUnavailable
            raise kind(f"SMTP {self.host}: {exc.smtp_code} {exc.smtp_error!r}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise MailUnavailable(f"SMTP {self.host}:{self.port}: {exc}") from exc
        if refused:
            # Sent to the others; a retry would send it to them twice.
            log.warning("SMTP %s refused some recipients: %s", self.host, refused)

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            context = ssl.create_default_context()
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout_seconds, context=context
            )
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds)
        if self.security == "starttls":
            try:
                smtp.starttls(context=ssl.create_default_context())
            except BaseException:
                smtp.close()
                raise
        return smtp
