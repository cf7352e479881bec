"""Sandbox of an issuing agency's licensing system, pushing issued licences to us (the feed).

The agency signs each batch with a key whose certificate is registered for it (ES256 over the
exact request body, header `X-Licence-Feed-Signature: kid=<hex>, sig=<base64url r||s>`) and
POSTs it to /api/v1/licence-feed. Helper route: `POST /sandbox/licence-feed/publish`
{"issuer", "records": [...]} plays the agency clerk pressing "publish"; `GET .../batches` lists
what was sent and what we answered. Keys: the sandbox issuer keys in certs/sandbox/licences/.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from app.adapters.http import HttpClient, HttpError
from app.config import SANDBOX_CERTS, Settings
from app.lc1.codec import kid_for_certificate
from app.sandbox._helpers import Fields, HelperError, answer_errors_in_envelope, read_object

SIGNATURE_HEADER = "X-Licence-Feed-Signature"


@dataclass
class AgencyKey:
    kid: bytes
    private_key: ec.EllipticCurvePrivateKey
    not_before: float


@dataclass
class FeedState:
    keys: dict[str, AgencyKey]  # issuer credit code -> its newest sandbox key
    batches: list[dict[str, Any]] = field(default_factory=list)


def load_agency_keys(directory: Path) -> dict[str, AgencyKey]:
    keys: dict[str, AgencyKey] = {}
    for cert_path in sorted(directory.glob("*.cert.pem")):
        key_path = cert_path.with_name(cert_path.name.replace(".cert.pem", ".key.pem"))
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        codes = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)
        if not codes or not key_path.exists():
            continue
        private_key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(private_key, ec.EllipticCurvePrivateKey)
        code = str(codes[0].value)
        candidate = AgencyKey(
            kid=kid_for_certificate(certificate.public_bytes(serialization.Encoding.DER)),
            private_key=private_key,
            not_before=certificate.not_valid_before_utc.timestamp(),
        )
        if code not in keys or keys[code].not_before < candidate.not_before:
            keys[code] = candidate
    return keys


def sign_batch(body: bytes, key: AgencyKey) -> str:
    r, s = decode_dss_signature(key.private_key.sign(body, ec.ECDSA(hashes.SHA256())))
    signature = base64.urlsafe_b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).rstrip(b"=").decode()
    return f"kid={key.kid.hex()}, sig={signature}"


def create_blueprint(settings: Settings) -> Blueprint:
    bp = Blueprint("sandbox_licence-feed", url_prefix="/sandbox/licence-feed")
    state = FeedState(keys=load_agency_keys(SANDBOX_CERTS / "licences"))
    bp.ctx.state = state
    answer_errors_in_envelope(bp)
    # base_url: the service's public address, so a standalone sandbox (python -m app sandbox)
    # still pushes to the service and not to itself.
    intake_url = f"{settings.service.base_url}/api/v1/licence-feed"
    http = HttpClient()

    @bp.listener("after_server_stop")
    async def close_http(app: Any) -> None:
        await http.close()

    @bp.post("/publish")
    async def publish(request: Request) -> HTTPResponse:
        fields = Fields(read_object(request), code="invalid_batch")
        issuer = fields.text("issuer", max_length=18)
        records = [record.body for record in fields.objects("records")]
        key = state.keys.get(issuer)
        if key is None:
            raise fields.invalid("issuer", "no sandbox key for this issuer")
        batch = {"batch_id": secrets.token_hex(8), "issuer": issuer, "records": records}
        raw = json.dumps(batch, ensure_ascii=False).encode()
        try:
            answer = await http.request(
                "POST", intake_url, content=raw, timeout=10,
                headers={"content-type": "application/json", SIGNATURE_HEADER: sign_batch(raw, key)},
            )
            answered = answer.json()
        except (HttpError, ValueError):
            raise HelperError(502, "intake_unreachable", "The service's licence feed did not answer in JSON.",
                              context={"url": intake_url}) from None
        result = {"batch_id": batch["batch_id"], "status": answer.status, "answer": answered}
        state.batches.append(result)
        return json_response(result)

    @bp.get("/batches")
    async def batches(request: Request) -> HTTPResponse:
        return json_response({"batches": state.batches})

    return bp
