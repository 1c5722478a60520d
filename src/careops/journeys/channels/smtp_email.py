"""E-mail over SMTP: STARTTLS or TLS, login, MIME with Chinese subject and body.

The message is built with the standard library's `email` package under the SMTP policy:
non-ASCII headers become RFC 2047 encoded-words (`=?utf-8?b?…?=`), the body is UTF-8 text
with an HTML alternative in which the text is escaped (markup in a template is shown, never
rendered). The Message-ID is derived from the send's idempotency key, so a message sent twice
after a crash carries the same id and mail systems can drop the duplicate. A CR or LF in a
subject, address or name is refused before anything is sent (header injection).

SMTP answers: 4xx and a dropped connection or timeout → retry; 5xx → failed; a 5xx on the
recipient (550 no such user) → failed with the code, which the engine treats as a fallback.
"""

from __future__ import annotations

import hashlib
import html
import re
import smtplib
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate
from time import perf_counter

from careops.journeys.channels.addresses import NOT_BOUND, has_control
from careops.journeys.channels.base import Message, Outcome
from careops.journeys.channels.httpcall import scrub
from careops.journeys.channels.probe import ProbeResult

_ADDRESS = re.compile(r"^[^@\s<>\"(),;:\\\[\]]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")


def message_id(idempotency_key: str, domain: str) -> str:
    """`<careops.{sha256(key)[:32]}@domain>`: the same key always gives the same id."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<careops.{digest}@{domain}>"


class EmailChannel:
    """One SMTP session per adapter, opened at the first send and reused for the batch."""

    name = "email"
    provider = "smtp"

    def __init__(
        self,
        *,
        host: str,
        port: int = 587,
        security: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        sender: str = "noreply@hospital.example",
        sender_name: str = "互联网医院",
        ca_file: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        if has_control(sender) or has_control(sender_name) or not _ADDRESS.match(sender):
            from careops.errors import ConfigError

            raise ConfigError(f"channels.email.sender {sender!r} 不是有效地址 / not an address")
        self.host, self.port, self.security = host, port, security
        self.username = username
        self._password = password
        self.sender, self.sender_name = sender, sender_name
        self.domain = sender.rsplit("@", 1)[1]
        self.timeout_s = timeout_s
        self._tls = ssl.create_default_context(cafile=ca_file)
        self._smtp: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        if self.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout_s, context=self._tls
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        try:
            smtp.ehlo()
            if self.security == "starttls":
                smtp.starttls(context=self._tls)
                smtp.ehlo()
            if self.username:
                # PLAIN when offered: one try, so a refusal is a 535, not a later disconnect
                smtp.user, smtp.password = self.username, self._password or ""
                if "PLAIN" in smtp.esmtp_features.get("auth", "").upper().split():
                    smtp.auth("PLAIN", smtp.auth_plain)
                else:
                    smtp.login(self.username, self._password or "")
        except BaseException:
            smtp.close()
            raise
        self._smtp = smtp
        return smtp

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            finally:
                self._smtp = None

    def build(self, message: Message) -> EmailMessage:
        """The MIME message for `message` (raises ValueError on a header with CR/LF)."""
        for field_name, value in (("subject", message.subject), ("address", message.address)):
            if has_control(value):
                raise ValueError(f"{field_name} 含控制字符 / {field_name} holds CR/LF or controls")
        mail = EmailMessage(policy=SMTP)
        mail["From"] = Address(self.sender_name, addr_spec=self.sender)
        mail["To"] = message.address.strip()
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = message_id(message.idempotency_key, self.domain)
        mail.set_content(message.body, charset="utf-8")
        escaped = html.escape(message.body).replace("\n", "<br>\n")
        mail.add_alternative(
            f'<!doctype html><html lang="zh-CN"><body><p>{escaped}</p></body></html>',
            subtype="html",
            charset="utf-8",
        )
        return mail

    def send(self, message: Message) -> Outcome:
        address = message.address.strip()
        if not address:
            return Outcome("unbound", code=NOT_BOUND, error="患者没有邮箱 / no e-mail address")
        if has_control(message.address) or has_control(message.subject):
            return Outcome(
                "failed",
                code="header_injection",
                error="主题或地址含换行/控制字符 / CR, LF or control character in a header",
            )
        if not _ADDRESS.match(address):
            return Outcome("failed", code="invalid_address", error="邮箱格式无效 / not an address")
        mail = self.build(message)
        secrets = [self._password]
        try:
            refused = self._open().send_message(mail, from_addr=self.sender, to_addrs=[address])
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            return self._answer(code, text, secrets)
        except smtplib.SMTPNotSupportedError:
            self._drop()  # STARTTLS required but not offered: never log in in clear text
            return Outcome(
                "failed",
                code="starttls_unsupported",
                error="服务器不支持 STARTTLS / the server offers no STARTTLS",
            )
        except smtplib.SMTPAuthenticationError as exc:
            self._drop()
            return Outcome(
                "failed",
                code=f"smtp_{exc.smtp_code}",
                error="SMTP 登录失败 / authentication failed",
            )
        except smtplib.SMTPResponseException as exc:
            self._drop()
            return self._answer(exc.smtp_code, exc.smtp_error, secrets)
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            self._drop()
            return Outcome(
                "retry",
                code="timeout" if isinstance(exc, TimeoutError) else "connect",
                error=scrub(
                    f"SMTP 连接失败 / SMTP connection failed: {type(exc).__name__}", secrets
                ),
            )
        if refused:
            code, text = next(iter(refused.values()))
            return self._answer(code, text, secrets)
        return Outcome("sent", provider_id=mail["Message-ID"], code="250")

    @staticmethod
    def _answer(code: int, text: bytes | str, secrets: list) -> Outcome:
        raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        error = scrub(f"SMTP {code}: {raw}", secrets)
        if 400 <= code < 500:
            return Outcome("retry", code=f"smtp_{code}", error=error)
        return Outcome("failed", code=f"smtp_{code}", error=error)

    def probe(self) -> ProbeResult:
        """Connect, greet, STARTTLS, log in and NOOP: nothing is sent."""
        t0 = perf_counter()
        try:
            code, _ = self._open().noop()
            ok = code == 250
            detail = f"NOOP {code}"
        except smtplib.SMTPAuthenticationError as exc:
            ok, detail = False, f"SMTP 登录失败 / authentication failed ({exc.smtp_code})"
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            ok, detail = False, scrub(f"{type(exc).__name__}: {exc}", [self._password])
        finally:
            self._drop()
        return ProbeResult("email", self.provider, ok, detail, t0)

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            finally:
                self._smtp = None
