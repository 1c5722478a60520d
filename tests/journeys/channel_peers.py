"""Local stand-ins for the channel providers, each on a loopback port the OS chooses.

Each HTTP peer re-checks what a provider checks: the signature (recomputed here with code
written apart from the adapters', from the providers' documents), the required parameters and
the body, and answers with the provider's own success and error shapes. A `script` tells a
peer what to answer for an address (throttled, invalid number, not subscribed...), one answer
per request, so tests can play "throttled twice, then accepted".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlencode, urlsplit

Answer = tuple[int, dict[str, str], bytes]


def jbody(status: int, data: object, headers: dict[str, str] | None = None) -> Answer:
    return (
        status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(data, ensure_ascii=False).encode(),
    )


class HttpPeer:
    """A threaded HTTP server on 127.0.0.1:<free port>; `handle` answers each request.

    `mode` makes the peer hostile for every request: "slow" (answers after `delay_s`),
    "huge" (a body of `huge_bytes`), "garbage" (200 with non-JSON), "down" (503)."""

    def __init__(self, handle: Callable[[str, str, dict[str, str], bytes], Answer]) -> None:
        self.handle = handle
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.mode: str | None = None
        self.delay_s = 2.0
        self.huge_bytes = 5_000_000
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                peer.requests.append((self.command, self.path, headers, body))
                try:
                    if peer.mode == "slow":
                        time.sleep(peer.delay_s)
                    if peer.mode == "huge":
                        self.send_response(200)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(peer.huge_bytes))
                        self.end_headers()
                        chunk = b"[" * 65536
                        for _ in range(peer.huge_bytes // len(chunk)):
                            self.wfile.write(chunk)
                        return
                    if peer.mode == "drip":  # headers at once, then a byte every 0.1 s
                        self.send_response(200)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", "100")
                        self.end_headers()
                        for _ in range(100):
                            self.wfile.write(b" ")
                            self.wfile.flush()
                            time.sleep(0.1)
                        return
                    if peer.mode == "garbage":
                        status, hdrs, out = 200, {"Content-Type": "text/html"}, b"<html>\x00\xff"
                    elif peer.mode == "down":
                        status, hdrs, out = 503, {"Retry-After": "7"}, b"maintenance"
                    else:
                        status, hdrs, out = peer.handle(self.command, self.path, headers, body)
                    self.send_response(status)
                    for k, v in hdrs.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> HttpPeer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class Script:
    """Per address, a queue of answers (codes); the default when the queue is empty."""

    def __init__(self, default: str) -> None:
        self.default = default
        self.queues: dict[str, list[str]] = defaultdict(list)

    def set(self, address: str, *codes: str) -> None:
        self.queues[address] = list(codes)

    def next(self, address: str) -> str:
        q = self.queues.get(address)
        return q.pop(0) if q else self.default


# -- Alibaba Cloud SMS ------------------------------------------------------------------------
def aliyun_sign(params: dict[str, str], secret: str, method: str) -> str:
    """Alibaba's documented recipe, written the way their Java sample does it: URL-encode,
    then + → %20, * → %2A, %7E → ~."""

    def enc(s: str) -> str:
        return quote(s, safe="").replace("+", "%20").replace("*", "%2A").replace("%7E", "~")

    query = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(params.items()) if k != "Signature")
    to_sign = method + "&" + enc("/") + "&" + enc(query)
    mac = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


class AliyunPeer(HttpPeer):
    """dysmsapi: SendSms and QuerySmsSign, signature and parameters checked."""

    def __init__(self, key_id: str = "LTAI-test", secret: str = "aliyun-secret-0123456789") -> None:
        super().__init__(self._handle)
        self.key_id, self.secret = key_id, secret
        self.script = Script("OK")
        self.nonces: set[str] = set()
        self.sent: list[dict[str, str]] = []

    def _handle(self, method: str, path: str, headers: dict, body: bytes) -> Answer:
        if "application/x-www-form-urlencoded" not in headers.get("content-type", ""):
            return jbody(400, {"Code": "InvalidParameter", "Message": "form body expected"})
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        for need in (
            "AccessKeyId",
            "Action",
            "Format",
            "SignatureMethod",
            "SignatureNonce",
            "SignatureVersion",
            "Timestamp",
            "Version",
            "Signature",
        ):
            if need not in form:
                return jbody(400, {"Code": "MissingParameter", "Message": f"{need} is mandatory"})
        if form["AccessKeyId"] != self.key_id:
            return jbody(404, {"Code": "InvalidAccessKeyId.NotFound", "Message": "not found"})
        if (form["SignatureMethod"], form["SignatureVersion"], form["Version"]) != (
            "HMAC-SHA1",
            "1.0",
            "2017-05-25",
        ):
            return jbody(400, {"Code": "InvalidParameter", "Message": "method/version"})
        ts = datetime.strptime(form["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if abs(datetime.now(UTC) - ts) > timedelta(minutes=15):
            return jbody(400, {"Code": "InvalidTimeStamp.Expired", "Message": "expired"})
        if form["SignatureNonce"] in self.nonces:
            return jbody(400, {"Code": "SignatureNonceUsed", "Message": "nonce used"})
        self.nonces.add(form["SignatureNonce"])
        if aliyun_sign(form, self.secret, method) != form["Signature"]:
            msg = "Specified signature is not matched with our calculation."
            return jbody(400, {"Code": "SignatureDoesNotMatch", "Message": msg})
        if form["Action"] == "QuerySmsSign":
            return jbody(200, {"Code": "OK", "Message": "OK", "SignStatus": 1})
        if form["Action"] == "SendBatchSms":
            return self._batch(form)
        if form["Action"] != "SendSms":
            return jbody(400, {"Code": "InvalidAction.NotFound", "Message": "no such action"})
        for need in ("PhoneNumbers", "SignName", "TemplateCode"):
            if not form.get(need):
                return jbody(400, {"Code": "MissingParameter", "Message": f"{need} is mandatory"})
        try:
            params = json.loads(form.get("TemplateParam") or "{}")
            assert isinstance(params, dict)
        except (ValueError, AssertionError):
            return jbody(200, {"Code": "isv.INVALID_JSON_PARAM", "Message": "JSON参数不合法"})
        phone = form["PhoneNumbers"]
        code = self.script.next(phone)
        if code == "OK" and not (phone.isdigit() and len(phone) == 11 and phone[0] == "1"):
            code = "isv.MOBILE_NUMBER_ILLEGAL"
        if code != "OK":
            messages = {
                "isv.BUSINESS_LIMIT_CONTROL": "触发号码天级流控Permits:10",
                "isv.MOBILE_NUMBER_ILLEGAL": "非法手机号",
                "isp.SYSTEM_ERROR": "isp.SYSTEM_ERROR",
            }
            return jbody(200, {"Code": code, "Message": messages.get(code, code), "RequestId": "r"})
        biz_id = f"{len(self.sent) + 1:06d}^0"
        self.sent.append({**form, "BizId": biz_id})
        return jbody(200, {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": "r"})


def _aliyun_batch(self, form: dict[str, str]) -> Answer:
    """SendBatchSms: three JSON arrays of one length; one bad number refuses the request."""
    try:
        phones = json.loads(form["PhoneNumberJson"])
        signs = json.loads(form["SignNameJson"])
        params = json.loads(form["TemplateParamJson"])
    except (KeyError, ValueError):
        return jbody(200, {"Code": "isv.INVALID_JSON_PARAM", "Message": "JSON参数不合法"})
    if not (isinstance(phones, list) and len(phones) == len(signs) == len(params) <= 100):
        return jbody(200, {"Code": "isv.INVALID_PARAMETERS", "Message": "参数异常"})
    if not all(isinstance(p, dict) for p in params) or not form.get("TemplateCode"):
        return jbody(200, {"Code": "isv.INVALID_PARAMETERS", "Message": "参数异常"})
    codes = [self.script.next(p) for p in phones]
    bad = [
        c
        for c, p in zip(codes, phones, strict=True)
        if c != "OK" or not (p.isdigit() and len(p) == 11 and p[0] == "1")
    ]
    if bad:
        code = bad[0] if bad[0] != "OK" else "isv.MOBILE_NUMBER_ILLEGAL"
        return jbody(200, {"Code": code, "Message": code, "RequestId": "r"})
    biz_id = f"{len(self.sent) + 1:06d}^0"
    for p, prm in zip(phones, params, strict=True):
        self.sent.append(
            {
                **form,
                "PhoneNumbers": p,
                "TemplateParam": json.dumps(prm),
                "BizId": biz_id,
                "OutId": "",
            }
        )
    return jbody(200, {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": "r"})


AliyunPeer._batch = _aliyun_batch  # type: ignore[attr-defined]


# -- Tencent Cloud SMS ------------------------------------------------------------------------
def tencent_sign(secret_key: str, date: str, service: str, to_sign: str) -> str:
    k = ("TC3" + secret_key).encode()
    for part in (date, service, "tc3_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()


class TencentPeer(HttpPeer):
    """sms.tencentcloudapi.com: TC3-HMAC-SHA256 recomputed from the headers as received."""

    def __init__(
        self, secret_id: str = "AKID-test", secret_key: str = "tencent-secret-0123456789"
    ) -> None:
        super().__init__(self._handle)
        self.secret_id, self.secret_key = secret_id, secret_key
        self.script = Script("Ok")
        self.sent: list[dict] = []

    def _error(self, code: str, message: str) -> Answer:
        return jbody(
            200,
            {
                "Response": {
                    "Error": {"Code": code, "Message": message},
                    "RequestId": str(uuid.uuid4()),
                }
            },
        )

    def _handle(self, method: str, path: str, headers: dict, body: bytes) -> Answer:
        auth = headers.get("authorization", "")
        if not auth.startswith("TC3-HMAC-SHA256 "):
            return self._error("AuthFailure.SignatureFailure", "no TC3 authorization")
        parts = dict(p.strip().split("=", 1) for p in auth[len("TC3-HMAC-SHA256 ") :].split(","))
        secret_id, date, service, term = parts["Credential"].split("/")
        if secret_id != self.secret_id:
            return self._error("AuthFailure.SecretIdNotFound", "SecretId not found")
        ts = int(headers.get("x-tc-timestamp", "0"))
        if abs(time.time() - ts) > 300:
            return self._error("AuthFailure.SignatureExpire", "expired")
        if datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d") != date or service != "sms":
            return self._error("AuthFailure.SignatureFailure", "credential scope")
        signed = parts["SignedHeaders"].split(";")
        if "content-type" not in signed or "host" not in signed:
            return self._error("AuthFailure.SignatureFailure", "content-type and host required")
        canonical_headers = "".join(f"{h}:{headers.get(h, '').strip().lower()}\n" for h in signed)
        canonical = "\n".join(
            [method, "/", "", canonical_headers, ";".join(signed), hashlib.sha256(body).hexdigest()]
        )
        to_sign = "\n".join(
            [
                "TC3-HMAC-SHA256",
                str(ts),
                f"{date}/{service}/{term}",
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        if tencent_sign(self.secret_key, date, service, to_sign) != parts["Signature"]:
            return self._error("AuthFailure.SignatureFailure", "signature mismatch")
        if headers.get("x-tc-version") != "2021-01-11":
            return self._error("InvalidParameter", "version")
        data = json.loads(body)
        action = headers.get("x-tc-action")
        if action == "SmsPackagesStatistics":
            return jbody(200, {"Response": {"SmsPackagesStatisticsSet": [], "RequestId": "r"}})
        if action != "SendSms":
            return self._error("InvalidAction", "no such action")
        for need in ("PhoneNumberSet", "SmsSdkAppId", "TemplateId"):
            if not data.get(need):
                return self._error("MissingParameter", f"{need} is required")
        if not all(isinstance(p, str) for p in data.get("TemplateParamSet", [])):
            return self._error("InvalidParameterValue.TemplateParameterFormatError", "strings")
        out = []
        for phone in data["PhoneNumberSet"]:
            code = self.script.next(phone)
            if code == "Ok" and not (phone.startswith("+") and phone[1:].isdigit()):
                code = "InvalidParameterValue.IncorrectPhoneNumber"
            serial = f"2640:{len(self.sent) + 1:010d}" if code == "Ok" else ""
            out.append(
                {
                    "SerialNo": serial,
                    "PhoneNumber": phone,
                    "Fee": 1 if serial else 0,
                    "SessionContext": data.get("SessionContext", ""),
                    "Code": code,
                    "Message": "send success" if code == "Ok" else code,
                    "IsoCode": "CN",
                }
            )
            if serial:
                self.sent.append({**data, "SerialNo": serial})
        return jbody(200, {"Response": {"SendStatusSet": out, "RequestId": str(uuid.uuid4())}})


# -- WeChat -----------------------------------------------------------------------------------
class WechatPeer(HttpPeer):
    """api.weixin.qq.com: stable_token, template/send and subscribe/bizsend."""

    def __init__(self, app_id: str = "wx-test", secret: str = "wechat-secret-0123456789") -> None:
        super().__init__(self._handle)
        self.app_id, self.secret = app_id, secret
        self.expires_in = 7200
        self.tokens: set[str] = set()
        self.token_requests = 0
        self.script = Script("0")
        self.sent: list[dict] = []

    def revoke_all(self) -> None:
        self.tokens.clear()

    def _handle(self, method: str, path: str, headers: dict, body: bytes) -> Answer:
        url = urlsplit(path)
        if url.path == "/cgi-bin/stable_token":
            self.token_requests += 1
            data = json.loads(body)
            if data.get("grant_type") != "client_credential" or data.get("appid") != self.app_id:
                return jbody(200, {"errcode": 40013, "errmsg": "invalid appid"})
            if data.get("secret") != self.secret:
                return jbody(200, {"errcode": 40125, "errmsg": "invalid appsecret"})
            token = f"TOKEN-{uuid.uuid4().hex}"
            self.tokens.add(token)
            return jbody(200, {"access_token": token, "expires_in": self.expires_in})
        token = parse_qs(url.query).get("access_token", [""])[0]
        if token not in self.tokens:
            return jbody(
                200,
                {
                    "errcode": 40001,
                    "errmsg": "invalid credential, access_token is invalid or not latest",
                },
            )
        data = json.loads(body)
        if url.path not in ("/cgi-bin/message/template/send", "/cgi-bin/message/subscribe/bizsend"):
            return jbody(404, {"errcode": 404, "errmsg": "not found"})
        if (
            not data.get("touser")
            or not data.get("template_id")
            or not isinstance(data.get("data"), dict)
        ):
            return jbody(200, {"errcode": 47001, "errmsg": "data format error"})
        if not all(
            isinstance(v, dict) and isinstance(v.get("value"), str) for v in data["data"].values()
        ):
            return jbody(200, {"errcode": 47001, "errmsg": "data format error"})
        code = int(self.script.next(data["touser"]))
        if code:
            messages = {
                43004: "require subscribe",
                43101: "user refuse to accept the msg",
                -1: "system error",
                45009: "reach max api daily quota limit",
            }
            return jbody(200, {"errcode": code, "errmsg": messages.get(code, "error")})
        self.sent.append({**data, "_path": url.path})
        return jbody(200, {"errcode": 0, "errmsg": "ok", "msgid": 200228332 + len(self.sent)})


# -- JPush ------------------------------------------------------------------------------------
class JPushPeer(HttpPeer):
    """api.jpush.cn v3: push, push/validate, status/message; Basic auth checked."""

    def __init__(self, app_key: str = "jpush-key", secret: str = "jpush-master-0123456789") -> None:
        super().__init__(self._handle)
        self.app_key, self.secret = app_key, secret
        self.devices = {"rid-1", "rid-2"}
        self.script = Script("ok")
        self.sent: list[dict] = []

    def _handle(self, method: str, path: str, headers: dict, body: bytes) -> Answer:
        expected = "Basic " + base64.b64encode(f"{self.app_key}:{self.secret}".encode()).decode()
        if headers.get("authorization") != expected:
            return jbody(401, {"error": {"code": 1004, "message": "Authen failed"}})
        try:
            data = json.loads(body)
        except ValueError:
            return jbody(400, {"error": {"code": 1003, "message": "Parameter value is invalid"}})
        if path == "/v3/status/message":
            return jbody(
                200,
                {
                    rid: {
                        "status": 0
                        if any(
                            str(s["msg_id"]) == str(data["msg_id"])
                            and rid in s["audience"]["registration_id"]
                            for s in self.sent
                        )
                        else 1
                    }
                    for rid in data["registration_ids"]
                },
            )
        if path not in ("/v3/push", "/v3/push/validate"):
            return jbody(404, {"error": {"code": 1000, "message": "not found"}})
        if data.get("platform") != "all" or "notification" not in data:
            return jbody(400, {"error": {"code": 1003, "message": "Parameter value is invalid"}})
        audience = data.get("audience")
        if path == "/v3/push/validate":
            return jbody(200, {"sendno": "0", "msg_id": "0"})
        rids = audience.get("registration_id", []) if isinstance(audience, dict) else []
        rid = rids[0] if rids else ""
        code = self.script.next(rid)
        if code == "throttle":
            return jbody(
                429,
                {"error": {"code": 2002, "message": "Request times is too high"}},
                {"X-Rate-Limit-Reset": "3"},
            )
        if not set(rids) & self.devices:
            return jbody(
                400, {"error": {"code": 1011, "message": "cannot find user by this audience"}}
            )
        msg_id = str(54043195528320000 + len(self.sent))
        self.sent.append({**data, "msg_id": msg_id})
        return jbody(200, {"sendno": "0", "msg_id": msg_id})


def form_encode(params: dict[str, str]) -> bytes:
    return urlencode(params).encode()


# -- SMTP -------------------------------------------------------------------------------------
def self_signed(tmp_path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and localhost (it is its own CA) and its key, as files."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpPeer:
    """aiosmtpd on 127.0.0.1: STARTTLS required (when a certificate is given), AUTH required,
    recipients nobody@… refused (550) and busy@… deferred (451); accepted mail kept raw."""

    def __init__(
        self,
        tmp_path,
        user: str = "mailer",
        password: str = "smtp-pass-0123456789",
        tls: bool = True,
    ) -> None:
        import ssl

        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.user, self.password = user, password
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.auth_attempts = 0
        peer = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                if address.startswith("nobody@"):
                    return "550 5.1.1 No such user"
                if address.startswith("busy@"):
                    return "451 4.3.0 Try again later"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):
                peer.messages.append(
                    (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
                )
                return "250 Message accepted"

        def authenticator(server, session, envelope, mechanism, auth_data):
            peer.auth_attempts += 1
            ok = auth_data.login.decode() == peer.user and auth_data.password.decode() == (
                peer.password
            )
            return AuthResult(success=ok, handled=False)

        kwargs: dict = {}
        self.ca_file = None
        if tls:
            cert, key = self_signed(tmp_path)
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(cert, key)
            kwargs = {"tls_context": ctx, "require_starttls": True, "auth_require_tls": True}
            self.ca_file = cert
        self.port = free_port()
        self.controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            authenticator=authenticator,
            auth_required=True,
            **kwargs,
            **({} if tls else {"auth_require_tls": False}),
        )

    def __enter__(self) -> SmtpPeer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()
