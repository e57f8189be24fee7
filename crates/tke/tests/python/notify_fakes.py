"""Local stand-ins for the providers the notify tests cannot reach, speaking their documented
request formats and checking them: fake_tencent_sms (Tencent Cloud API 3.0 SendSms, whose
TC3-HMAC-SHA256 signature it verifies with the secret key it is given), fake_wechat (an
official account's access token and template message send), and a webhook receiver (/hook,
and /flaky, which answers 503 to its first call). Every request is recorded; GET /_records
answers them as JSON. Prints the port it listens on, then serves until killed.

Usage: notify_fakes.py SMS_SECRET_ID SMS_SECRET_KEY WECHAT_APPID WECHAT_SECRET
"""

import datetime
import hashlib
import hmac
import json
import re
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

SMS_ID, SMS_KEY, WX_APPID, WX_SECRET = sys.argv[1:5]
WX_TOKEN = "fake-wechat-token-" + uuid.uuid4().hex
RECORDS = []
FLAKY_CALLS = [0]
LOCK = threading.Lock()


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def fake_tencent_sms(headers, body):
    """Checks a SendSms request as Tencent Cloud does; answers (record, response)."""
    auth = headers.get("Authorization", "")
    m = re.fullmatch(
        r"TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/sms/tc3_request, "
        r"SignedHeaders=content-type;host, Signature=([0-9a-f]{64})",
        auth,
    )

    def error(code, message):
        return {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": str(uuid.uuid4())}}

    if not m:
        return {"ok": False, "why": "authorization"}, error("AuthFailure.SignatureFailure", "bad Authorization")
    secret_id, date, signature = m.groups()
    ts = headers.get("X-TC-Timestamp", "0")
    if secret_id != SMS_ID:
        return {"ok": False, "why": "secret id"}, error("AuthFailure.SecretIdNotFound", "unknown SecretId")
    if datetime.datetime.fromtimestamp(int(ts), datetime.timezone.utc).strftime("%Y-%m-%d") != date:
        return {"ok": False, "why": "date"}, error("AuthFailure.SignatureFailure", "date and timestamp differ")
    canonical = "POST\n/\n\ncontent-type:%s\nhost:%s\n\ncontent-type;host\n%s" % (
        headers.get("Content-Type", ""),
        headers.get("Host", ""),
        sha256_hex(body),
    )
    to_sign = "TC3-HMAC-SHA256\n%s\n%s/sms/tc3_request\n%s" % (ts, date, sha256_hex(canonical.encode()))
    k = sign(("TC3" + SMS_KEY).encode(), date)
    k = sign(k, "sms")
    k = sign(k, "tc3_request")
    expected = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return {"ok": False, "why": "signature"}, error("AuthFailure.SignatureFailure", "signature mismatch")
    if headers.get("X-TC-Action") != "SendSms" or headers.get("X-TC-Version") != "2021-01-11":
        return {"ok": False, "why": "action"}, error("InvalidAction", "not SendSms 2021-01-11")
    req = json.loads(body)
    for field in ("PhoneNumberSet", "SmsSdkAppId", "TemplateId", "SignName"):
        if not req.get(field):
            return {"ok": False, "why": field}, error("MissingParameter", field)
    serial = "2433:" + uuid.uuid4().hex
    answer = {
        "Response": {
            "SendStatusSet": [
                {"SerialNo": serial, "PhoneNumber": p, "Fee": 1, "SessionContext": "", "Code": "Ok",
                 "Message": "send success", "IsoCode": "CN"}
                for p in req["PhoneNumberSet"]
            ],
            "RequestId": str(uuid.uuid4()),
        }
    }
    return {"ok": True, "request": req, "serial": serial}, answer


def fake_wechat(method, url, body):
    """An official account's token and template message API; answers (record, response)."""
    q = parse_qs(url.query)
    if method == "GET" and url.path == "/cgi-bin/token":
        if q.get("grant_type") == ["client_credential"] and q.get("appid") == [WX_APPID] and q.get("secret") == [WX_SECRET]:
            return {"ok": True, "token": True}, {"access_token": WX_TOKEN, "expires_in": 7200}
        return {"ok": False, "why": "credentials"}, {"errcode": 40125, "errmsg": "invalid appsecret"}
    if method == "POST" and url.path == "/cgi-bin/message/template/send":
        if q.get("access_token") != [WX_TOKEN]:
            return {"ok": False, "why": "token"}, {"errcode": 40001, "errmsg": "invalid credential"}
        req = json.loads(body)
        if not req.get("touser") or not req.get("template_id") or not isinstance(req.get("data"), dict):
            return {"ok": False, "why": "fields"}, {"errcode": 47001, "errmsg": "data format error"}
        if any(not isinstance(v, dict) or "value" not in v for v in req["data"].values()):
            return {"ok": False, "why": "data"}, {"errcode": 47001, "errmsg": "data format error"}
        return {"ok": True, "request": req}, {"errcode": 0, "errmsg": "ok", "msgid": 200228332}
    return {"ok": False, "why": "path"}, {"errcode": 404, "errmsg": "unknown api"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self, method):
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        if method == "GET" and url.path == "/_records":
            with LOCK:
                return self.reply(200, RECORDS)
        if "X-TC-Action" in self.headers:
            record, answer = fake_tencent_sms(self.headers, body)
            record["fake"] = "fake_tencent_sms"
            code = 200
        elif url.path.startswith("/cgi-bin/"):
            record, answer = fake_wechat(method, url, body)
            record["fake"] = "fake_wechat"
            code = 200
        elif url.path in ("/hook", "/flaky"):
            record = {"fake": "webhook", "path": url.path, "headers": headers, "body": json.loads(body or b"null")}  # header names lower-cased
            code, answer = 200, {"ok": True}
            if url.path == "/flaky":
                with LOCK:
                    FLAKY_CALLS[0] += 1
                    if FLAKY_CALLS[0] == 1:
                        code, answer = 503, {"ok": False}
            record["code"] = code
        else:
            record, code, answer = {"fake": "unknown", "path": url.path}, 404, {}
        with LOCK:
            RECORDS.append(record)
        self.reply(code, answer)

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
