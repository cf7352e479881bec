"""A WeChat API server for the sandbox: the real paths, fields and errcodes of api.weixin.qq.com.

Protocol routes (under /sandbox/wechat): /sns/jscode2session, /cgi-bin/token,
/cgi-bin/stable_token, /wxa/business/getuserphonenumber, face verification 2.0
(/cityservice/face/identify/getverifyid, .../queryverifyinfo), /cgi-bin/message/subscribe/send.
Helper routes play the phone: login-code, phone-code, face, subscribe, messages, faults.
"""

from __future__ import annotations

import base64
import hashlib
import json as json_module
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, json

from app.config import Settings
from app.sandbox._helpers import Fields, answer_errors_in_envelope, not_found, read_object

CODE_TTL = 300
TOKEN_TTL = 7200
OLD_TOKEN_GRACE = 300
FACE_NOT_FINISHED = 90199
FACE_OUTCOMES = {"pass": 10000, "fail": 10004, "cancel": 90100}
_OUT_SEQ = re.compile(r"^[0-9A-Za-z_-]{5,32}$")
_OPENID = re.compile(r"[A-Za-z0-9_-]{6,64}")
_PHONE = re.compile(r"1\d{10}")
# The APIs whose next answers POST /faults can replace with errcodes or with GARBAGE_ANSWERS
# (the next call gets it, before any check of its own, whatever access token it carries).
FAULT_APIS = (
    "jscode2session", "stable_token", "getuserphonenumber", "getverifyid", "queryverifyinfo", "subscribe_send",
)
# What something else at WeChat's address may answer (a proxy, a misrouted host): never WeChat's
# protocol. kind -> (HTTP status, content type, body).
GARBAGE_ANSWERS: dict[str, tuple[int, str, bytes]] = {
    "empty_object": (200, "application/json", b"{}"),
    "foreign_object": (200, "application/json", b'{"foo": 1}'),
    "list": (200, "application/json", b'[{"errcode": 0, "openid": "o_in_a_list"}]'),
    "wrong_types": (200, "application/json", json_module.dumps({
        "openid": 12345, "session_key": None, "unionid": ["u"], "access_token": 7, "expires_in": "7200",
        "phone_info": "13800138000", "verify_id": {"id": 1}, "verify_ret": "10000",
    }).encode()),
    "text_errcode": (200, "application/json", b'{"errcode": "busy", "errmsg": "?"}'),
    "html": (200, "text/html; charset=utf-8", b"<html><body>Welcome to nginx!</body></html>"),
    "not_found_page": (404, "text/html; charset=utf-8", b"<html><body>404 Not Found</body></html>"),
    "proxy_error": (502, "text/html; charset=utf-8", b"<html><body>502 Bad Gateway</body></html>"),
}

# Subscribe templates registered for the sandbox app: keyword -> value rule.
TEMPLATES: dict[str, dict[str, str]] = {
    "TPL_LICENCE_CHECKED": {"thing1": "thing", "time2": "time", "thing3": "thing", "phrase4": "phrase"},
    "TPL_PAYMENT_RECEIPT": {
        "thing1": "thing",
        "amount2": "amount",
        "time3": "time",
        "character_string4": "character_string",
    },
}
_RULES = {
    "thing": lambda v: 0 < len(v) <= 20,
    "number": lambda v: re.fullmatch(r"\d{1,32}(\.\d+)?", v) is not None,
    "letter": lambda v: re.fullmatch(r"[A-Za-z]{1,32}", v) is not None,
    "symbol": lambda v: 0 < len(v) <= 5,
    "character_string": lambda v: re.fullmatch(r"[\x21-\x7e]{1,32}", v) is not None,
    "time": lambda v: re.fullmatch(r"(\d{4}[-年/]\d{1,2}[-月/]\d{1,2}日? ?)?\d{1,2}:\d{2}(:\d{2})?", v) is not None,
    "date": lambda v: re.fullmatch(r"\d{4}[-年/]\d{1,2}[-月/]\d{1,2}日?( \d{1,2}:\d{2}(:\d{2})?)?", v) is not None,
    "amount": lambda v: re.fullmatch(r"[¥￥$]?\d{1,10}(\.\d{1,2})?元?", v) is not None,
    "phone_number": lambda v: re.fullmatch(r"[\d+\-() ]{1,17}", v) is not None,
    "car_number": lambda v: 0 < len(v) <= 8,
    "name": lambda v: (re.fullmatch(r"[\u4e00-\u9fff·]{1,10}", v) or re.fullmatch(r"[A-Za-z ]{1,20}", v)) is not None,
    "phrase": lambda v: re.fullmatch(r"[\u4e00-\u9fff]{1,5}", v) is not None,
}


@dataclass
class SandboxWeChatState:
    appid: str
    secret: str
    login_codes: dict[str, tuple[str, float]] = field(default_factory=dict)  # code -> (openid, issued)
    used_codes: set[str] = field(default_factory=set)
    session_keys: dict[str, str] = field(default_factory=dict)
    unionids: dict[str, str] = field(default_factory=dict)
    phone_codes: dict[str, tuple[str, float]] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)  # access_token -> expires at
    stable_token: tuple[str, float] | None = None
    last_force_refresh: float = 0.0
    verify_ids: dict[str, dict[str, Any]] = field(default_factory=dict)
    out_seq_nos: set[str] = field(default_factory=set)
    subscriptions: dict[tuple[str, str], int] = field(default_factory=dict)
    sent_messages: list[dict[str, Any]] = field(default_factory=list)
    faults: dict[str, list[int | str]] = field(default_factory=dict)  # api -> errcodes or garbage kinds, next first
    calls: dict[str, int] = field(default_factory=dict)


def _err(errcode: int, errmsg: str) -> HTTPResponse:
    return json({"errcode": errcode, "errmsg": errmsg})


def _protocol_body(request: Request) -> dict[str, Any] | None:
    """A protocol call's JSON object body; None when it is anything else (WeChat answers 47001)."""
    try:
        body = json_module.loads(request.body or b"{}")
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def cert_hash(cert_type: str, cert_name: str, cert_no: str) -> str:
    def b64(value: str) -> str:
        return base64.b64encode(value.encode()).decode()

    return hashlib.sha256(
        f"cert_type={b64(cert_type)}&cert_name={b64(cert_name)}&cert_no={b64(cert_no)}".encode()
    ).hexdigest()


def create_blueprint(settings: Settings) -> Blueprint:
    bp = Blueprint("sandbox_wechat", url_prefix="/sandbox/wechat")
    state = SandboxWeChatState(appid=settings.wechat.appid, secret=settings.wechat.secret.reveal())
    bp.ctx.state = state
    answer_errors_in_envelope(bp)

    def fault(api: str) -> HTTPResponse | None:
        state.calls[api] = state.calls.get(api, 0) + 1
        queued = state.faults.get(api)
        if not queued:
            return None
        queued_answer = queued.pop(0)
        if isinstance(queued_answer, str):
            status, content_type, body = GARBAGE_ANSWERS[queued_answer]
            return HTTPResponse(body, status=status, content_type=content_type)
        return _err(queued_answer, "sandbox fault")

    def token_error(request: Request) -> HTTPResponse | None:
        token = request.args.get("access_token", "")
        if not token:
            return _err(41001, "access_token missing")
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,512}", token):
            return _err(40014, "invalid access_token")
        expires = state.tokens.get(token)
        if expires is None:
            return _err(40001, "invalid credential, access_token is invalid or not latest")
        if expires < time.time():
            return _err(42001, "access_token expired")
        return None

    # ----------------------------------------------------------------- protocol routes
    @bp.get("/sns/jscode2session")
    async def jscode2session(request: Request) -> HTTPResponse:
        if (injected := fault("jscode2session")) is not None:
            return injected
        args = request.args
        if args.get("appid") != state.appid:
            return _err(40013, "invalid appid")
        if args.get("secret") != state.secret:
            return _err(40125, "invalid appsecret")
        if args.get("grant_type") != "authorization_code":
            return _err(40002, "invalid grant_type")
        code = args.get("js_code", "")
        if code in state.used_codes:
            return _err(40163, "code been used")
        entry = state.login_codes.pop(code, None)
        if entry is None or time.time() - entry[1] > CODE_TTL:
            return _err(40029, "invalid code")
        state.used_codes.add(code)
        openid = entry[0]
        # Each wx.login rotates the session key.
        state.session_keys[openid] = base64.b64encode(secrets.token_bytes(16)).decode()
        answer = {"openid": openid, "session_key": state.session_keys[openid]}
        if openid in state.unionids:
            answer["unionid"] = state.unionids[openid]
        return json(answer)

    def new_token() -> str:
        token = secrets.token_urlsafe(96)
        state.tokens[token] = time.time() + TOKEN_TTL
        return token

    @bp.get("/cgi-bin/token")
    async def classic_token(request: Request) -> HTTPResponse:
        if request.args.get("grant_type") != "client_credential":
            return _err(40002, "invalid grant_type")
        if request.args.get("appid") != state.appid:
            return _err(40013, "invalid appid")
        if request.args.get("secret") != state.secret:
            return _err(40001, "invalid credential, access_token is invalid or not latest")
        # Each call issues a new token; the previous ones live five more minutes.
        now = time.time()
        for token, expires in list(state.tokens.items()):
            if state.stable_token and token == state.stable_token[0]:
                continue
            state.tokens[token] = min(expires, now + OLD_TOKEN_GRACE)
        return json({"access_token": new_token(), "expires_in": TOKEN_TTL})

    @bp.post("/cgi-bin/stable_token")
    async def stable_token(request: Request) -> HTTPResponse:
        if (injected := fault("stable_token")) is not None:
            return injected
        body = _protocol_body(request) if request.body else None
        if body is None:
            return _err(47001, "data format error")
        if body.get("grant_type") != "client_credential":
            return _err(40002, "invalid grant_type")
        if body.get("appid") != state.appid:
            return _err(40013, "invalid appid")
        if body.get("secret") != state.secret:
            return _err(40001, "invalid credential")
        now = time.time()
        current = state.stable_token
        if body.get("force_refresh"):
            if now - state.last_force_refresh < 30:
                return _err(45009, "reach max api daily quota limit")
            state.last_force_refresh = now
            if current:
                state.tokens.pop(current[0], None)
            current = None
        if current is None or current[1] - now < OLD_TOKEN_GRACE:
            token = new_token()
            current = state.stable_token = (token, state.tokens[token])
        return json({"access_token": current[0], "expires_in": int(current[1] - now)})

    @bp.post("/wxa/business/getuserphonenumber")
    async def phone_number(request: Request) -> HTTPResponse:
        if (injected := fault("getuserphonenumber")) is not None:
            return injected
        if (bad := token_error(request)) is not None:
            return bad
        body = _protocol_body(request)
        if body is None:
            return _err(47001, "data format error")
        code = str(body.get("code", ""))
        entry = state.phone_codes.pop(code, None)
        if entry is None or time.time() - entry[1] > CODE_TTL:
            return _err(40029, "invalid code")
        phone = entry[0]
        return json(
            {
                "errcode": 0,
                "errmsg": "ok",
                "phone_info": {
                    "phoneNumber": phone,
                    "purePhoneNumber": phone,
                    "countryCode": "86",
                    "watermark": {"timestamp": int(time.time()), "appid": state.appid},
                },
            }
        )

    @bp.post("/cityservice/face/identify/getverifyid")
    async def get_verify_id(request: Request) -> HTTPResponse:
        if (injected := fault("getverifyid")) is not None:
            return injected
        if (bad := token_error(request)) is not None:
            return bad
        body = _protocol_body(request)
        if body is None:
            return _err(47001, "data format error")
        out_seq_no = str(body.get("out_seq_no", ""))
        cert = body.get("cert_info")
        if not _OUT_SEQ.match(out_seq_no) or out_seq_no in state.out_seq_nos:
            return _err(47001, "invalid out_seq_no")
        if (
            not isinstance(cert, dict)
            or cert.get("cert_type") != "IDENTITY_CARD"
            or not all(isinstance(cert.get(k), str) and cert[k] for k in ("cert_name", "cert_no"))
        ):
            return _err(47001, "invalid cert_info")
        state.out_seq_nos.add(out_seq_no)
        verify_id = "vf_" + secrets.token_urlsafe(32)
        state.verify_ids[verify_id] = {
            "out_seq_no": out_seq_no,
            "openid": body.get("openid", ""),
            "cert_hash": cert_hash(cert["cert_type"], cert["cert_name"], cert["cert_no"]),
            "verify_ret": FACE_NOT_FINISHED,
            "expires": time.time() + 3600,
        }
        return json({"errcode": 0, "errmsg": "ok", "verify_id": verify_id, "expires_in": 3600})

    @bp.post("/cityservice/face/identify/queryverifyinfo")
    async def query_verify_info(request: Request) -> HTTPResponse:
        if (injected := fault("queryverifyinfo")) is not None:
            return injected
        if (bad := token_error(request)) is not None:
            return bad
        body = _protocol_body(request)
        if body is None:
            return _err(47001, "data format error")
        record = state.verify_ids.get(str(body.get("verify_id", "")))
        if record is None or record["expires"] < time.time():
            return _err(47001, "invalid verify_id")
        if (body.get("out_seq_no"), body.get("openid"), body.get("cert_hash")) != (
            record["out_seq_no"],
            record["openid"],
            record["cert_hash"],
        ):
            return _err(47001, "verify_id does not match out_seq_no, openid or cert_hash")
        return json({"errcode": 0, "errmsg": "ok", "verify_ret": record["verify_ret"]})

    @bp.post("/cgi-bin/message/subscribe/send")
    async def subscribe_send(request: Request) -> HTTPResponse:
        if (injected := fault("subscribe_send")) is not None:
            return injected
        if (bad := token_error(request)) is not None:
            return bad
        body = _protocol_body(request)
        if body is None:
            return _err(47001, "data format error")
        openid, template_id = str(body.get("touser", "")), str(body.get("template_id", ""))
        if openid not in state.session_keys:
            return _err(40003, "invalid openid")
        template = TEMPLATES.get(template_id)
        if template is None:
            return _err(40037, "invalid template_id")
        data = body.get("data") or {}
        for keyword, rule in template.items():
            entry = data.get(keyword) if isinstance(data, dict) else None
            value = str(entry.get("value", "")) if isinstance(entry, dict) else ""
            if not _RULES[rule](value):
                return _err(47003, f"argument invalid! data.{keyword}.value invalid")
        page = body.get("page")
        if page is not None and (not isinstance(page, str) or not page.startswith("pages/")):
            return _err(41030, "invalid page")
        credits = state.subscriptions.get((openid, template_id), 0)
        if credits <= 0:
            return _err(43101, "user refuse to accept the msg")
        state.subscriptions[(openid, template_id)] = credits - 1
        state.sent_messages.append(
            {"touser": openid, "template_id": template_id, "data": data, "page": page, "at": time.time()}
        )
        return json({"errcode": 0, "errmsg": "ok"})

    # ----------------------------------------------------------------- helper routes (the phone)
    @bp.post("/login-code")
    async def login_code(request: Request) -> HTTPResponse:
        fields = Fields(read_object(request), code="invalid_openid")
        openid = fields.optional_text("openid", pattern=_OPENID, problem="6-64 of [A-Za-z0-9_-]")
        openid = openid or "o" + secrets.token_urlsafe(20)
        state.session_keys.setdefault(openid, base64.b64encode(secrets.token_bytes(16)).decode())
        state.unionids.setdefault(openid, "u" + hashlib.sha256(openid.encode()).hexdigest()[:27])
        code = secrets.token_urlsafe(24)
        state.login_codes[code] = (openid, time.time())
        return json({"code": code, "openid": openid})

    @bp.post("/phone-code")
    async def phone_code(request: Request) -> HTTPResponse:
        fields = Fields(read_object(request), code="invalid_phone")
        phone = fields.text("phone", pattern=_PHONE, problem="an 11-digit mainland number")
        code = secrets.token_urlsafe(24)
        state.phone_codes[code] = (phone, time.time())
        return json({"code": code})

    @bp.post("/face")
    async def face(request: Request) -> HTTPResponse:
        fields = Fields(read_object(request), code="invalid_face_result")
        verify_id = fields.text("verify_id")
        outcome = fields.choice("outcome", tuple(FACE_OUTCOMES))
        record = state.verify_ids.get(verify_id)
        if record is None:
            raise not_found("verify_id_not_found", "No face verification with this verify_id.")
        record["verify_ret"] = FACE_OUTCOMES[outcome]
        return json({"verify_ret": record["verify_ret"]})

    @bp.post("/subscribe")
    async def subscribe(request: Request) -> HTTPResponse:
        """The user accepting wx.requestSubscribeMessage: one message credit per call."""
        fields = Fields(read_object(request), code="invalid_subscription")
        key = (fields.text("openid", max_length=64), fields.text("template_id", max_length=128))
        count = fields.integer("count", default=1, minimum=1, maximum=1000)
        state.subscriptions[key] = state.subscriptions.get(key, 0) + count
        return json({"credits": state.subscriptions[key]})

    @bp.get("/messages")
    async def messages(request: Request) -> HTTPResponse:
        openid = request.args.get("openid")
        return json({"messages": [m for m in state.sent_messages if openid is None or m["touser"] == openid]})

    @bp.post("/faults")
    async def faults(request: Request) -> HTTPResponse:
        """Queue answers for an API's next calls: errcodes, e.g. {"api": "jscode2session",
        "errcodes": [-1]}, then garbage, e.g. {"api": "getverifyid", "answers": ["html"]}."""
        fields = Fields(read_object(request), code="invalid_fault")
        api = fields.choice("api", FAULT_APIS)
        errcodes, answers = fields.body.get("errcodes"), fields.body.get("answers")
        if (errcodes is not None or answers is None) and (
            not isinstance(errcodes, list)
            or not 1 <= len(errcodes) <= 100
            or any(isinstance(c, bool) or not isinstance(c, int) or c == 0 for c in errcodes)
        ):
            raise fields.invalid("errcodes", "a list of 1 to 100 non-zero integer errcodes")
        if answers is not None and (
            not isinstance(answers, list)
            or not 1 <= len(answers) <= 100
            or any(not isinstance(kind, str) or kind not in GARBAGE_ANSWERS for kind in answers)
        ):
            raise fields.invalid("answers", "a list of 1 to 100 of " + ", ".join(GARBAGE_ANSWERS))
        state.faults.setdefault(api, []).extend([*(errcodes or ()), *(answers or ())])
        return json({"faults": state.faults})

    @bp.post("/expire-token")
    async def expire_token(request: Request) -> HTTPResponse:
        """Make every access token expire now (to exercise the refresh on 42001)."""
        for token in state.tokens:
            state.tokens[token] = time.time() - 1
        state.stable_token = None  # so stable_token hands out a live one next, as WeChat's does
        return json({"expired": len(state.tokens)})

    return bp
