"""E-mail over SMTP against a local aiosmtpd peer: STARTTLS with a certificate made for the
test, AUTH required, Chinese subject/body (RFC 2047), Message-ID from the idempotency key,
header injection refused, 4xx retried and 5xx failed."""

from __future__ import annotations

import logging
from email import message_from_bytes
from email.policy import default

import pytest

from careops.journeys.channels import Message
from careops.journeys.channels.retry import RetryPolicy, send_with_retry
from careops.journeys.channels.smtp_email import EmailChannel, message_id

from .channel_peers import SmtpPeer, free_port


@pytest.fixture
def smtp(tmp_path):
    with SmtpPeer(tmp_path) as peer:
        yield peer


def mail(peer: SmtpPeer, password: str | None = None, **kw) -> EmailChannel:
    return EmailChannel(
        host="127.0.0.1",
        port=peer.port,
        security="starttls",
        username=peer.user,
        password=password or peer.password,
        sender="noreply@hospital.example",
        sender_name="互联网医院 健康管家",
        ca_file=peer.ca_file,
        timeout_s=5,
        **kw,
    )


def msg(
    address: str, subject: str = "复诊提醒：请于本周测量血压", key: str = "j1:s1:u1"
) -> Message:
    return Message(
        idempotency_key=key,
        user_id="u1",
        channel="email",
        purpose="service",
        template="bp",
        address=address,
        subject=subject,
        body="王伟您好：\n请记录血压 <script>alert(1)</script> & 饮食。",
    )


def test_chinese_mime_over_starttls_with_auth(smtp):
    ch = mail(smtp)
    out = ch.send(msg("patient@example.com"))
    out2 = ch.send(msg("other@example.com", key="j1:s1:u2"))  # same session reused
    ch.close()
    assert out.status == out2.status == "sent"
    assert len(smtp.messages) == 2
    sender, rcpts, raw = smtp.messages[0]
    assert sender == "noreply@hospital.example" and rcpts == ["patient@example.com"]
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n", 1)[0]  # RFC 2047 encoded-words in headers
    parsed = message_from_bytes(raw, policy=default)
    assert parsed["Subject"] == "复诊提醒：请于本周测量血压"
    assert parsed["From"].addresses[0].display_name == "互联网医院 健康管家"
    assert parsed["Message-ID"] == message_id("j1:s1:u1", "hospital.example") == out.provider_id
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    assert "王伟您好" in text and "<script>" in text
    assert "<script>" not in html and "&lt;script&gt;" in html and "&amp;" in html


def test_the_message_id_is_the_same_for_a_resend():
    assert message_id("k", "h.example") == message_id("k", "h.example")
    assert message_id("k", "h.example") != message_id("k2", "h.example")


@pytest.mark.parametrize(
    ("address", "subject"),
    [
        ("patient@example.com", "提醒\r\nBcc: victim@example.com"),
        ("patient@example.com\r\nBcc: victim@example.com", "提醒"),
        ("patient@example.com", "提醒\nX-Injected: 1"),
        ("patient@example.com", "提醒\x00"),
    ],
)
def test_header_injection_is_refused_and_nothing_is_sent(smtp, address, subject):
    ch = mail(smtp)
    out = ch.send(msg(address, subject=subject))
    ch.close()
    assert (out.status, out.code) == ("failed", "header_injection")
    assert smtp.messages == []


def test_addresses_unbound_invalid_refused_and_deferred(smtp):
    ch = mail(smtp)
    assert ch.send(msg("")).status == "unbound"
    assert ch.send(msg("no-at-sign")).code == "invalid_address"
    refused = ch.send(msg("nobody@example.com"))
    deferred = ch.send(msg("busy@example.com"))
    ch.close()
    assert (refused.status, refused.code) == ("failed", "smtp_550")
    assert (deferred.status, deferred.code) == ("retry", "smtp_451")
    assert smtp.messages == []


def test_a_wrong_password_fails_and_is_never_shown(smtp, caplog):
    caplog.set_level(logging.DEBUG)
    ch = mail(smtp, password="wrong-smtp-password-9")
    out = ch.send(msg("patient@example.com"))
    ch.close()
    assert (out.status, out.code) == ("failed", "smtp_535")
    assert "wrong-smtp-password-9" not in repr(out) + caplog.text


def test_a_server_that_is_down_is_retried_then_undeliverable():
    ch = EmailChannel(host="127.0.0.1", port=free_port(), security="none", timeout_s=2)
    waits: list[float] = []
    out = send_with_retry(ch, msg("patient@example.com"), RetryPolicy(3, 1, 2, 10), waits.append)
    ch.close()
    assert (out.status, out.code, out.attempts) == ("failed", "undeliverable", 3)
    assert waits == [1, 2]


def test_starttls_refused_by_an_untrusted_certificate(smtp):
    ch = mail(smtp)
    ch._tls.load_default_certs()
    other = EmailChannel(
        host="127.0.0.1",
        port=smtp.port,
        username=smtp.user,
        password=smtp.password,
        timeout_s=5,
    )  # system CAs only: the test certificate is not trusted
    out = other.send(msg("patient@example.com"))
    other.close()
    ch.close()
    assert out.status == "retry" and smtp.messages == []


def test_probe_logs_in_and_sends_nothing(smtp):
    ch = mail(smtp)
    result = ch.probe()
    ch.close()
    assert result.ok and result.detail == "NOOP 250" and smtp.messages == []
    bad = mail(smtp, password="nope-nope").probe()
    assert not bad.ok and "nope-nope" not in bad.detail


def test_implicit_tls_port(tmp_path):
    """security: tls (port 465 style): TLS from the first byte, certificate checked."""
    import ssl

    from aiosmtpd.controller import Controller

    from .channel_peers import self_signed

    cert, key = self_signed(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    got: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            got.append(envelope.original_content)
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, ssl_context=ctx)
    controller.start()
    try:
        ch = EmailChannel(host="127.0.0.1", port=port, security="tls", ca_file=cert, timeout_s=5)
        out = ch.send(msg("patient@example.com"))
        ch.close()
    finally:
        controller.stop()
    assert out.status == "sent" and len(got) == 1
    assert message_from_bytes(got[0], policy=default)["Subject"] == "复诊提醒：请于本周测量血压"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_no_starttls_offered_means_no_login_in_clear_text(tmp_path):
    with SmtpPeer(tmp_path, tls=False) as plain:
        ch = EmailChannel(
            host="127.0.0.1",
            port=plain.port,
            security="starttls",
            username=plain.user,
            password=plain.password,
            timeout_s=5,
        )
        out = ch.send(msg("patient@example.com"))
        ch.close()
        assert (out.status, out.code) == ("failed", "starttls_unsupported")
        assert plain.auth_attempts == 0 and plain.messages == []
        # security: none is an explicit choice (an intranet relay): then it logs in and sends
        ch = EmailChannel(
            host="127.0.0.1",
            port=plain.port,
            security="none",
            username=plain.user,
            password=plain.password,
            timeout_s=5,
        )
        assert ch.send(msg("patient@example.com")).status == "sent"
        ch.close()
        assert len(plain.messages) == 1 and plain.auth_attempts == 1
