"""One HTTP call to a provider, answered as data: the shared part of the HTTP adapters.

Every provider answer goes through `call`: a whole-request timeout, no redirects (a redirect
could carry credentials elsewhere), a cap on the size of the answer (read as a stream, so a
huge body is never held in memory), and JSON parsed here. Failures become an `Outcome` (via
`ProviderFault`) with a code the retry policy understands: `timeout`, `connect`, `http_5xx`,
`http_429`, `too_large`, `bad_answer`. Secrets never enter an error: `scrub` removes them.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from careops.journeys.channels.base import Outcome

log = logging.getLogger("careops.channels")

_QUERY_SECRETS = re.compile(r"((?:access_token|secret|appsecret|Signature)=)[^&\s\"']+", re.I)


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` without any of `secrets` (and no access_token/secret/Signature query values),
    cut to 300 characters and without control characters: safe for logs and outcomes."""
    out = _QUERY_SECRETS.sub(r"\1***", text)
    for s in secrets:
        if s and len(s) >= 4:
            out = out.replace(s, "***")
    out = re.sub(r"[\x00-\x1f\x7f]", " ", out)
    return out[:300]


class _RedactHttpxFilter(logging.Filter):
    """httpx logs every request URL at INFO; WeChat puts its access token in the URL."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                scrub(str(a)) if isinstance(a, str | httpx.URL) else a for a in record.args
            )
        return True


_filter = _RedactHttpxFilter()
if not any(isinstance(f, _RedactHttpxFilter) for f in logging.getLogger("httpx").filters):
    logging.getLogger("httpx").addFilter(_filter)


class ProviderFault(Exception):
    """A call that did not produce a usable answer; `outcome` says retry or failed, and why."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.error)
        self.outcome = outcome


@dataclass(frozen=True)
class Answer:
    """A provider's HTTP answer, read within the size cap."""

    status: int
    body: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        """The body as JSON; a `ProviderFault` (retry, `bad_answer`) when it is not JSON."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            if 400 <= self.status < 500:  # a wrong endpoint or a gateway's refusal page
                raise ProviderFault(
                    Outcome(
                        "failed",
                        code=f"http_{self.status}",
                        error=f"服务商拒绝 (HTTP {self.status}) / refused, non-JSON answer: "
                        "check the endpoint setting",
                    )
                ) from exc
            raise ProviderFault(
                Outcome(
                    "retry",
                    code="bad_answer",
                    error=f"服务商返回无法解析的内容 / non-JSON answer (HTTP {self.status})",
                )
            ) from exc

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object (a list or a scalar is a `bad_answer`)."""
        data = self.json()
        if not isinstance(data, dict):
            raise ProviderFault(
                Outcome("retry", code="bad_answer", error="应答不是对象 / not a JSON object")
            )
        return data


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds of an HTTP `Retry-After: N` header, else of JPush's `X-Rate-Limit-Reset`
    (seconds until the quota resets); dates are ignored; at most an hour."""
    raw = headers.get("retry-after") or headers.get("x-rate-limit-reset")
    try:
        return min(max(float(raw), 0.0), 3600.0) if raw is not None else None
    except ValueError:
        return None


def call(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    max_bytes: int,
    secrets: Iterable[str | None] = (),
    **kwargs: Any,
) -> Answer:
    """Make one request; answer with the status, body and headers, or raise `ProviderFault`
    for a timeout, a refused connection, a body over `max_bytes`, 429 or 5xx (all `retry`)."""
    secrets = list(secrets)
    # httpx's timeout bounds each read; a provider dripping a byte at a time would never hit
    # it, so the whole answer also has a deadline of the same length
    total = client.timeout.read or 30.0
    deadline = time.monotonic() + total
    try:
        with client.stream(method, url, **kwargs) as r:
            chunks, size = [], 0
            for chunk in r.iter_bytes():
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("answer took longer than the timeout")
                size += len(chunk)
                if size > max_bytes:
                    raise ProviderFault(
                        Outcome(
                            "retry",
                            code="too_large",
                            error=f"应答超过 {max_bytes} 字节 / answer over {max_bytes} bytes",
                        )
                    )
                chunks.append(chunk)
            answer = Answer(r.status_code, b"".join(chunks), r.headers)
    except httpx.TimeoutException as exc:
        raise ProviderFault(
            Outcome("retry", code="timeout", error="服务商超时 / provider timed out")
        ) from exc
    except httpx.HTTPError as exc:
        raise ProviderFault(
            Outcome(
                "retry",
                code="connect",
                error=scrub(
                    f"无法连接服务商 / cannot reach provider: {type(exc).__name__}", secrets
                ),
            )
        ) from exc
    if answer.status == 429 or answer.status >= 500:
        raise ProviderFault(
            Outcome(
                "retry",
                code=f"http_{answer.status}",
                error=scrub(
                    f"服务商暂时不可用 / provider busy (HTTP {answer.status}): "
                    + answer.body[:200].decode("utf-8", "replace"),
                    secrets,
                ),
                retry_after_s=retry_after(answer.headers),
            )
        )
    return answer


def new_client(timeout_s: float, verify: bool | str = True) -> httpx.Client:
    """An HTTP client for one adapter: one timeout for connect, read, write and pool, no
    redirects, no proxies from the environment unless httpx's defaults say so."""
    return httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=False, verify=verify)
