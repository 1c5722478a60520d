"""Where a journey's webhook step may call: the guard against server-side request forgery.

A webhook runs inside the hospital's network, so a definition must not be able to make the
service call an internal address (the metadata service, a database admin page, localhost).
Only `https` URLs without credentials, to a host on the allow-list (setting
`journeys.webhook_allow`: exact hosts, `host:port`, or `*.domain` for subdomains), pass;
a literal IP address passes only when listed exactly. The sender (next slice) must check again at
send time and refuse redirects, so that a redirect cannot widen the list.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def webhook_problem(url: str, allow: list[str]) -> str | None:
    """Why `url` may not be called (None when it may): https only, no credentials, and the
    host must be on the allow-list (exact host, or `*.domain` for its subdomains); a literal
    private, loopback or link-local IP address is refused unless listed exactly."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port
    except ValueError:
        return "URL 无效 / invalid URL"
    if parts.scheme != "https":
        return "webhook 只能用 https / webhooks must use https"
    if parts.username or parts.password:
        return "URL 不得含账号密码 / no credentials in the URL (use settings)"
    if not host or _CONTROL.search(url) or any(c.isspace() for c in url):
        return "URL 无效 / invalid URL"
    allowed = False
    for raw in allow:
        entry = raw.lower().rstrip(".")
        wildcard = entry.startswith("*.") and host.endswith(entry[1:]) and host != entry[2:]
        if wildcard or entry in (host, f"{host}:{port}"):
            allowed = True
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        ip = None
    if ip is not None and not allowed:
        return "不允许直接使用 IP 地址 / IP addresses are refused unless allow-listed exactly"
    if not allowed:
        return (
            f"主机 {host!r} 不在 journeys.webhook_allow 中 / host {host!r} is not on the "
            "webhook allow-list (setting journeys.webhook_allow)"
        )
    return None
