"""Licences for holders and issuers: issuance, wallet, status, presentations, usage, consent."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from app.config import LicenceSettings
from app.context import Principal
from app.errors import AppError, FaceVerificationRequired
from app.lc1 import codec
from app.lc1.identifier import InvalidIdentifier, LicenceIdentifier, is_valid_credit_code
from app.ports import Clock, PresentationVerifier, QrRenderer
from app.services.catalogue.regions import unknown_regions
from app.services.identity.audit import AuditLog
from app.services.identity.idnumbers import InvalidIdNumber, validate_id_number
from app.services.identity.protection import mask_name
from app.services.identity.service import IdentityService
from app.services.licences.catalogue import REGION_CODE, SIGNER_CACHE_SECONDS, LicenceCatalogue
from app.services.licences.errors import (
    ConsentNotFound,
    ConsentNotWithdrawable,
    FeedRejected,
    IdentifierInvalid,
    IssuerNotAllowed,
    LicenceConflict,
    LicenceInvalid,
    LicenceNotActive,
    LicenceNotFound,
    PayloadInvalid,
    SigningKeyUnavailable,
    TransitionNotAllowed,
)
from app.services.licences.states import LicenceStatus, next_status
from app.services.licences.trust import TrustStore
from models.identity import Enterprise, EnterpriseAgent, User
from models.licences import ConsentGrant, Inspection, Licence, LicenceEvent, LicenceIssuerKey

SHANGHAI = ZoneInfo("Asia/Shanghai")
TOKEN_ID_BYTES = 8
USAGE_LIMIT = 100


def local_today(now: datetime) -> date:
    return now.astimezone(SHANGHAI).date()


class HasValidity(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def valid_until(self) -> date | None: ...


def effective_status(licence: HasValidity, now: datetime) -> str:
    """The status now: a licence past its last valid day counts as expired even before a job marks it."""
    if licence.status == LicenceStatus.ACTIVE and licence.valid_until and licence.valid_until < local_today(now):
        return LicenceStatus.EXPIRED
    return licence.status


def _content_hash(request: dict[str, Any]) -> str:
    canonical = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _validate_data(schema: dict[str, Any], data: dict[str, Any]) -> dict[str, str]:
    problems = []
    clean: dict[str, str] = {}
    for name in data:
        if name not in schema:
            problems.append({"field": f"data.{name}", "problem": "not a field of this licence type"})
    for name, spec in schema.items():
        value = data.get(name)
        if value is None or value == "":
            if spec.get("required", False):
                problems.append({"field": f"data.{name}", "problem": "required"})
            continue
        if not isinstance(value, str):
            problems.append({"field": f"data.{name}", "problem": "must be text"})
            continue
        if spec.get("type", "text") == "date":
            try:
                date.fromisoformat(value)
            except ValueError:
                problems.append({"field": f"data.{name}", "problem": "must be a date YYYY-MM-DD"})
                continue
        elif len(value) > int(spec.get("max_length", 200)):
            problems.append({"field": f"data.{name}", "problem": "too long"})
            continue
        clean[name] = value
    if problems:
        raise LicenceInvalid(context={"fields": problems})
    return clean


@dataclass
class LicenceService:
    settings: LicenceSettings
    clock: Clock
    identity: IdentityService
    audit: AuditLog
    catalogue: LicenceCatalogue
    trust: TrustStore
    renderer: QrRenderer
    verifier: PresentationVerifier
    # issuer -> (when chosen, kid, private key, certificate end)
    _signers: dict[str, tuple[float, str, Any, datetime]] = field(default_factory=dict, repr=False)

    # ----------------------------------------------------------------- views
    def view(self, licence: Licence, *, now: datetime, locked: bool = False) -> dict[str, Any]:
        licence_type = licence.licence_type
        return {
            "id": licence.id,
            "identifier": licence.identifier,
            "type": {"code": licence_type.code, "name": licence_type.name, "department": licence_type.department},
            "issuer": licence.issuer_id,  # type: ignore[attr-defined]
            "holder": {
                "kind": licence.holder_kind,
                "name": licence.holder_name,
                "credit_code": licence.holder_credit_code,
            },
            "region_code": licence.region_code,
            "status": effective_status(licence, now),
            "valid_from": licence.valid_from,
            "valid_until": licence.valid_until,
            "identity_class": licence_type.identity_class,
            # Identity-class licences show their fields only after a recent face check.
            "locked": locked,
            "data": {} if locked else licence.data,
        }

    # ----------------------------------------------------------------- issuance
    async def issue(
        self,
        *,
        actor_id: int | None,
        source: str,
        type_code: str,
        issuer_code: str,
        serial: str,
        version: str,
        holder_name: str,
        holder_id_number: str | None,
        holder_credit_code: str | None,
        region_code: str,
        data: dict[str, Any],
        valid_from: date,
        valid_until: date | None,
    ) -> tuple[dict[str, Any], bool]:
        """Issue a licence; repeating the same request returns the same licence (created=False)."""
        now = self.clock.now()
        licence_type = await self.catalogue.get_type(type_code)
        issuer = await self.catalogue.get_issuer(issuer_code)
        if type_code not in issuer.licence_types:
            raise IssuerNotAllowed()
        try:
            identifier = str(LicenceIdentifier(type_code, issuer_code, serial, version))
        except InvalidIdentifier as exc:
            raise IdentifierInvalid(context={"problem": str(exc)}) from None
        problems = []
        holder_index = None
        if licence_type.holder_kind == "person":
            try:
                number, _ = validate_id_number(holder_id_number or "", today=local_today(now))
            except InvalidIdNumber as exc:
                problems.append({"field": "holder.id_number", "problem": exc.reason})
            else:
                holder_index = self.identity.blind.of(number, field="id_number")
            holder_credit_code = None
        elif not is_valid_credit_code(holder_credit_code or ""):
            problems.append({"field": "holder.credit_code", "problem": "not a valid credit code"})
        if not REGION_CODE.fullmatch(region_code):
            problems.append({"field": "region_code", "problem": "six digits"})
        elif await unknown_regions([region_code]):
            problems.append({"field": "region_code", "problem": "not a known region"})
        if valid_until is not None and valid_until < valid_from:
            problems.append({"field": "valid_until", "problem": "before valid_from"})
        if problems:
            raise LicenceInvalid(context={"fields": problems})
        clean = _validate_data(licence_type.field_schema, data)
        content_hash = _content_hash(
            {
                "identifier": identifier, "holder_index": holder_index,
                "holder_credit_code": holder_credit_code, "holder_name": holder_name,
                "region_code": region_code, "data": clean, "valid_from": valid_from,
                "valid_until": valid_until,
            }
        )
        existing = await Licence.get_or_none(identifier=identifier).select_related("licence_type")
        if existing is not None:
            return self._same_or_conflict(existing, content_hash, now), False
        try:
            async with in_transaction() as conn:
                licence = await Licence.create(
                    identifier=identifier, licence_type=licence_type, issuer=issuer,
                    holder_kind=licence_type.holder_kind, holder_index=holder_index,
                    holder_credit_code=holder_credit_code, holder_name=holder_name,
                    region_code=region_code, data=clean, valid_from=valid_from,
                    valid_until=valid_until, status=LicenceStatus.ACTIVE, status_changed_at=now,
                    source=source, content_hash=content_hash, issued_at=now, using_db=conn,
                )
                await LicenceEvent.create(
                    licence=licence, kind="issued", to_status=LicenceStatus.ACTIVE,
                    actor_id=actor_id, reason=source, at=now, using_db=conn,
                )
        except IntegrityError:
            # Someone issued the same identifier at the same moment: answer as a repeat would.
            existing = await Licence.get(identifier=identifier).select_related("licence_type")
            return self._same_or_conflict(existing, content_hash, now), False
        licence.licence_type = licence_type
        return self.view(licence, now=now), True

    async def intake_feed(
        self, *, raw_body: bytes, signature: str, issuer_code: str, records: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """An agency's signed batch of issued licences; each record is issued idempotently."""
        await self._check_feed_signature(raw_body, signature, issuer_code)
        results = []
        for record in records:
            holder = record["holder"]
            try:
                view, created = await self.issue(
                    actor_id=None, source="feed", type_code=record["type_code"], issuer_code=issuer_code,
                    serial=record["serial"], version=record["version"], holder_name=holder["name"],
                    holder_id_number=holder.get("id_number"), holder_credit_code=holder.get("credit_code"),
                    region_code=record["region_code"], data=record["data"], valid_from=record["valid_from"],
                    valid_until=record["valid_until"],
                )
            except AppError as exc:
                results.append({"serial": record["serial"], "result": "rejected", "error": exc.code})
                continue
            results.append({
                "serial": record["serial"], "id": view["id"], "identifier": view["identifier"],
                "result": "created" if created else "unchanged",
            })
        return {"results": results}

    async def _check_feed_signature(self, raw_body: bytes, signature: str, issuer_code: str) -> None:
        fields_ = dict(part.strip().partition("=")[::2] for part in signature.split(","))
        try:
            kid = bytes.fromhex(fields_.get("kid", "")).hex()
            raw = base64.urlsafe_b64decode(fields_.get("sig", "") + "=" * (-len(fields_.get("sig", "")) % 4))
        except ValueError:
            raise FeedRejected() from None
        key = await LicenceIssuerKey.get_or_none(kid=kid, issuer_id=issuer_code, retired_at=None)
        if key is None or len(raw) != 64:
            raise FeedRejected()
        public_key = x509.load_pem_x509_certificate(key.certificate_pem.encode()).public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise FeedRejected()
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        try:
            public_key.verify(der, raw_body, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise FeedRejected() from None

    def _same_or_conflict(self, existing: Licence, content_hash: str, now: datetime) -> dict[str, Any]:
        if existing.content_hash != content_hash:
            raise LicenceConflict(context={"identifier": existing.identifier})
        return self.view(existing, now=now)

    # ----------------------------------------------------------------- status
    async def change_status(
        self, *, actor_id: int, licence_id: int, action: str, reason: str
    ) -> dict[str, Any]:
        now = self.clock.now()
        # The cache first too: with Redis down the call is refused (503) before anything changes.
        await self.trust.invalidate()
        async with in_transaction() as conn:
            licence = await Licence.select_for_update().using_db(conn).get_or_none(id=licence_id)
            if licence is None:
                raise LicenceNotFound()
            target = next_status(licence.status, action)
            if target is None:
                raise TransitionNotAllowed(context={"status": licence.status, "action": action})
            previous = licence.status
            licence.status, licence.status_changed_at = target, now
            await licence.save(update_fields=["status", "status_changed_at"], using_db=conn)
            await LicenceEvent.create(
                licence=licence, kind=action, from_status=previous, to_status=target,
                actor_id=actor_id, reason=reason, at=now, using_db=conn,
            )
            # In the same transaction: a change is never stored without its audit record, and a
            # 503 means nothing changed (so the retry is not refused as transition_not_allowed).
            await self.audit.record(
                f"licence_{action}", actor_id=actor_id, subject=f"licence:{licence_id}", data={"reason": reason},
                connection=conn,
            )
        await self.trust.invalidate()  # the trust list's revocations, rebuilt on next read
        await licence.fetch_related("licence_type")
        return self.view(licence, now=now)

    # ----------------------------------------------------------------- operators
    def admin_view(self, licence: Licence, *, now: datetime) -> dict[str, Any]:
        """What operators see in lists: persons only by masked name, never by ID number."""
        licence_type = licence.licence_type
        person = licence.holder_kind == "person"
        return {
            "id": licence.id,
            "identifier": licence.identifier,
            "type": {"code": licence_type.code, "name": licence_type.name},
            "issuer": licence.issuer_id,  # type: ignore[attr-defined]
            "holder": {
                "kind": licence.holder_kind,
                "name": mask_name(licence.holder_name) if person else licence.holder_name,
                "credit_code": None if person else licence.holder_credit_code,
            },
            "region_code": licence.region_code,
            "status": effective_status(licence, now),
            "valid_from": licence.valid_from,
            "valid_until": licence.valid_until,
            "issued_at": licence.issued_at,
            "source": licence.source,
        }

    async def admin_search(
        self,
        *,
        type_code: str | None,
        status: str | None,
        holder: str | None,
        text: str | None,
        limit: int,
        offset: int,
    ) -> dict[str, Any]:
        """Licences by type, status (as it is now), holder or text in the identifier or holder
        name, newest first. `holder` is an enterprise's 18-character credit code or a person's
        user id: no ID number travels in URLs."""
        now = self.clock.now()
        text = text.strip() if text else None
        holder_credit_code = holder if holder is not None and len(holder) == 18 else None
        holder_user_id = int(holder) if holder is not None and len(holder) < 18 and holder.isdigit() else None
        today = local_today(now)
        query = Licence.all()
        if type_code:
            query = query.filter(licence_type_id=type_code)
        if status == LicenceStatus.EXPIRED:
            query = query.filter(
                Q(status=LicenceStatus.EXPIRED) | Q(status=LicenceStatus.ACTIVE, valid_until__lt=today)
            )
        elif status == LicenceStatus.ACTIVE:
            query = query.filter(Q(valid_until__isnull=True) | Q(valid_until__gte=today), status=status)
        elif status:
            query = query.filter(status=status)
        if holder_credit_code:
            query = query.filter(holder_kind="enterprise", holder_credit_code=holder_credit_code)
        if holder_user_id is not None:
            user = await User.get_or_none(id=holder_user_id).only("id", "id_number_index")
            index = user.id_number_index if user is not None else None
            if index is None:
                return {"items": [], "total": 0, "limit": limit, "offset": offset}
            query = query.filter(holder_kind="person", holder_index=index)
        if text:
            query = query.filter(Q(identifier__icontains=text) | Q(holder_name__icontains=text))
        total = await query.count()
        rows = await query.select_related("licence_type").order_by("-issued_at", "-id").offset(offset).limit(limit)
        return {
            "items": [self.admin_view(licence, now=now) for licence in rows],
            "total": total,
            "limit": limit,
            "offset": offset,
        }

    async def admin_licence(self, *, licence_id: int) -> dict[str, Any]:
        """One licence with its history. A person's licence data stays out: it can carry the ID
        number; operators see which fields it has."""
        licence = await Licence.get_or_none(id=licence_id).select_related("licence_type", "issuer")
        if licence is None:
            raise LicenceNotFound()
        view = self.admin_view(licence, now=self.clock.now())
        person = licence.holder_kind == "person"
        events = await LicenceEvent.filter(licence_id=licence_id).order_by("id")
        return view | {
            "issuer": {"credit_code": licence.issuer.credit_code, "name": licence.issuer.name},
            "type": view["type"] | {"department": licence.licence_type.department,
                                    "identity_class": licence.licence_type.identity_class},
            "data": None if person else licence.data,
            "data_fields": sorted(licence.data),
            "status_changed_at": licence.status_changed_at,
            "events": [
                {"kind": e.kind, "from_status": e.from_status, "to_status": e.to_status,
                 "actor_id": e.actor_id, "reason": e.reason, "at": e.at}
                for e in events
            ],
        }

    async def history(self, *, licence_id: int) -> list[dict[str, Any]]:
        if not await Licence.exists(id=licence_id):
            raise LicenceNotFound()
        return [
            {"kind": e.kind, "from_status": e.from_status, "to_status": e.to_status,
             "actor_id": e.actor_id, "reason": e.reason, "at": e.at}
            for e in await LicenceEvent.filter(licence_id=licence_id).order_by("id")
        ]

    # ----------------------------------------------------------------- wallet
    async def _holder_filter(self, who: Principal) -> Q | None:
        user = await User.get_or_none(id=who.user_id)
        if user is None:
            return None
        enterprises = [
            role.credit_code
            for role in await self.identity.acting_for(who.user_id, user=user)
            if "licences" in role.scopes
        ]
        conditions = []
        if user.id_number_index:
            conditions.append(Q(holder_kind="person", holder_index=user.id_number_index))
        if enterprises:
            conditions.append(Q(holder_kind="enterprise", holder_credit_code__in=enterprises))
        if not conditions:
            return None
        return Q(*conditions, join_type="OR")

    def _face_is_recent(self, who: Principal) -> bool:
        try:
            self.identity.require_recent_face(who)
        except FaceVerificationRequired:
            return False
        return True

    async def wallet(self, who: Principal) -> list[dict[str, Any]]:
        condition = await self._holder_filter(who)
        if condition is None:
            return []
        now = self.clock.now()
        face = self._face_is_recent(who)
        licences = await Licence.filter(condition).select_related("licence_type").order_by("id")
        return [
            self.view(licence, now=now, locked=licence.licence_type.identity_class and not face)
            for licence in licences
        ]

    async def holder_licence(self, who: Principal, licence_id: int) -> Licence:
        """The caller's own licence (or their enterprise's); 404 for anyone else's, as for none."""
        licence = await Licence.get_or_none(id=licence_id).select_related("licence_type")
        user = await User.get_or_none(id=who.user_id) if licence is not None else None
        if licence is None or user is None or not await self._may_hold(licence, user):
            raise LicenceNotFound()
        return licence

    async def _may_hold(self, licence: Licence, user: User) -> bool:
        if licence.holder_kind == "person":
            return bool(user.id_number_index) and licence.holder_index == user.id_number_index
        if user.id_number_index and await Enterprise.exists(
            credit_code=licence.holder_credit_code, legal_rep_index=user.id_number_index
        ):
            return True
        grants = await EnterpriseAgent.filter(
            enterprise_id=licence.holder_credit_code, user_id=user.id, revoked_at=None, expires_at__gt=self.clock.now()
        ).values_list("scopes", flat=True)
        return any("licences" in scopes for scopes in grants)

    async def get_for_holder(self, who: Principal, licence_id: int) -> dict[str, Any]:
        licence = await self.holder_licence(who, licence_id)
        locked = licence.licence_type.identity_class and not self._face_is_recent(who)
        return self.view(licence, now=self.clock.now(), locked=locked)

    # ----------------------------------------------------------------- presentations
    async def _signing_key(self, issuer_code: str, now: datetime) -> tuple[str, Any]:
        """(kid, private key): the issuer's newest key whose signing window has begun, whose
        certificate outlives the code, and whose private key we hold. Each worker reuses its
        choice for a few seconds."""
        # Verifiers drop a key when its certificate ends, and accept a code until exp + skew: a
        # key ending sooner would sign codes that die early (unknown_kid) in the inspector's hand.
        lasts_until = now + timedelta(seconds=self.settings.presentation_ttl + self.settings.clock_skew)
        cached = self._signers.get(issuer_code)
        if cached is not None and time.monotonic() - cached[0] < SIGNER_CACHE_SECONDS and cached[3] > lasts_until:
            return cached[1], cached[2]
        candidates = await LicenceIssuerKey.filter(
            issuer_id=issuer_code, retired_at=None, signs_from__lte=now, not_after__gt=lasts_until
        ).order_by("-signs_from")
        for row in candidates:
            private_key = self.trust.private_key_for(row)
            if private_key is not None:
                self._signers[issuer_code] = (time.monotonic(), row.kid, private_key, row.not_after)
                return row.kid, private_key
        raise SigningKeyUnavailable()

    def _require_showable(self, licence: Licence, now: datetime) -> None:
        """A code is minted or drawn, and a consent granted or read, only for a licence that
        inspection would accept now."""
        status = effective_status(licence, now)
        if status != LicenceStatus.ACTIVE:
            raise LicenceNotActive(context={"status": status})
        if licence.valid_from > local_today(now):
            raise LicenceNotActive(context={"status": status, "valid_from": licence.valid_from.isoformat()})

    async def _licence_to_show(self, who: Principal, licence_id: int, now: datetime) -> Licence:
        """The caller's licence if they may show it now: identity-class ones only after a recent
        face check (checked before the status, as the wallet locks them), and only while showable."""
        licence = await self.holder_licence(who, licence_id)
        if licence.licence_type.identity_class:
            self.identity.require_recent_face(who)
        self._require_showable(licence, now)
        return licence

    async def present(self, who: Principal, *, licence_id: int) -> dict[str, Any]:
        now = self.clock.now()
        licence = await self._licence_to_show(who, licence_id, now)
        licence_type = licence.licence_type
        kid, private_key = await self._signing_key(licence.issuer_id, now)  # type: ignore[attr-defined]
        claim: dict[str, Any] = {
            "id": licence.identifier,
            "t": licence_type.code,
            "rg": licence.region_code,
            "h": licence.holder_name if licence.holder_kind == "enterprise" else mask_name(licence.holder_name),
        }
        if licence.holder_credit_code:
            claim["hc"] = licence.holder_credit_code
        if licence.valid_until:
            claim["vu"] = licence.valid_until.strftime("%Y%m%d")
        for name in licence_type.qr_fields:
            if name in licence.data:
                claim[name] = licence.data[name]
        issued_at = int(now.timestamp())
        claims = codec.LicenceClaims(
            issuer=licence.issuer_id,  # type: ignore[attr-defined]
            issued_at=issued_at,
            expires_at=issued_at + self.settings.presentation_ttl,
            token_id=secrets.token_bytes(TOKEN_ID_BYTES),
            licence=claim,
        )
        payload = codec.encode_lc1(claims, private_key, bytes.fromhex(kid))
        return {
            "payload": payload,
            "expires_at": datetime.fromtimestamp(claims.expires_at, SHANGHAI),
            "refresh_after": datetime.fromtimestamp(issued_at + self.settings.refresh_after, SHANGHAI),
        }

    async def render(self, who: Principal, *, licence_id: int, payload: str, image_format: str) -> tuple[bytes, str]:
        """PNG or SVG of one of this licence's own current presentations, while the licence may
        still be shown (a code minted before a suspension would still pass the signature check),
        and by the same rules as minting it (the image shows the code as well as the payload does)."""
        now = self.clock.now()
        licence = await self._licence_to_show(who, licence_id, now)
        result = await self.verifier.verify(payload, await self.trust.online(), now, skew=self.settings.clock_skew)
        if not result.valid or result.claims is None or result.claims.identifier != licence.identifier:
            raise PayloadInvalid(context={"reason": result.reason or "other_licence"})
        if image_format == "svg":
            svg = await asyncio.to_thread(self.renderer.svg, payload)
            return svg.encode(), "image/svg+xml"
        return await asyncio.to_thread(self.renderer.png, payload), "image/png"

    # ----------------------------------------------------------------- usage
    async def usage(self, who: Principal, *, licence_id: int) -> list[dict[str, Any]]:
        """Every read of this licence, newest first: inspections of its codes (`kind`
        "inspection") and departments' reads through a consent (`kind` "consent")."""
        licence = await self.holder_licence(who, licence_id)
        rows = await Inspection.filter(licence_id=licence.id).order_by("-at", "-id").limit(USAGE_LIMIT)
        # A redeemed consent is its own record of the read (used_at, used_by): nothing to copy.
        used = ConsentGrant.filter(licence_id=licence.id, used_at__isnull=False)
        reads = await used.order_by("-used_at", "-id").limit(USAGE_LIMIT)
        readers = {row.inspector_id for row in rows} | {g.used_by_id for g in reads if g.used_by_id is not None}
        names = await self._inspector_names(readers)
        entries = [
            {
                "kind": "inspection",
                "at": row.at.astimezone(SHANGHAI),
                "inspector": {"id": row.inspector_id, "name": names.get(row.inspector_id)},
                "valid": row.valid,
                "reason": row.reason,
                "location": row.location,
            }
            for row in rows
        ] + [
            {
                "kind": "consent",
                "at": grant.used_at.astimezone(SHANGHAI),
                "inspector": {"id": grant.used_by_id, "name": names.get(grant.used_by_id)},
                "valid": True,
                "reason": None,
                "location": None,
                "consent": {"id": grant.id, "department": grant.department, "purpose": grant.purpose},
            }
            for grant in reads
            if grant.used_at is not None
        ]
        entries.sort(key=lambda entry: entry["at"], reverse=True)  # stable: ties keep their order
        return entries[:USAGE_LIMIT]

    async def _inspector_names(self, user_ids: set[int]) -> dict[int, str | None]:
        names: dict[int, str | None] = {}
        for user in await User.filter(id__in=user_ids):
            name = self.identity.cipher.decrypt(user.real_name_enc, field="users.real_name") if user.real_name_enc else None
            names[user.id] = mask_name(name) if name else None
        return names

    # ----------------------------------------------------------------- consent (授权用证)
    async def grant_consent(
        self, who: Principal, *, licence_id: int, department: str, purpose: str, ttl_minutes: int
    ) -> dict[str, Any]:
        now = self.clock.now()
        licence = await self._licence_to_show(who, licence_id, now)
        code = secrets.token_urlsafe(24)
        async with in_transaction() as conn:  # the grant and its audit record, or neither
            grant = await ConsentGrant.create(
                licence=licence, granted_by_id=who.user_id, department=department, purpose=purpose,
                code_hash=hashlib.sha256(code.encode()).hexdigest(),
                expires_at=now + timedelta(minutes=ttl_minutes), created_at=now, using_db=conn,
            )
            await self.audit.record(
                "licence_consent_granted", actor_id=who.user_id, subject=f"licence:{licence.id}",
                data={"consent": grant.id, "department": department}, connection=conn,
            )
        # The code is shown once, to the holder, who hands it to the department.
        return {**self._consent_view(grant, now), "code": code}

    def _consent_view(self, grant: ConsentGrant, now: datetime) -> dict[str, Any]:
        if grant.revoked_at:
            state = "revoked"
        elif grant.used_at:
            state = "used"
        elif grant.expires_at <= now:
            state = "expired"
        else:
            state = "open"
        return {
            "id": grant.id,
            "licence_id": grant.licence_id,  # type: ignore[attr-defined]
            "department": grant.department,
            "purpose": grant.purpose,
            "expires_at": grant.expires_at.astimezone(SHANGHAI),
            "created_at": grant.created_at.astimezone(SHANGHAI),
            "used_at": grant.used_at.astimezone(SHANGHAI) if grant.used_at else None,
            "used_by": grant.used_by_id,
            "state": state,
        }

    async def consents(self, who: Principal, *, licence_id: int) -> list[dict[str, Any]]:
        licence = await self.holder_licence(who, licence_id)
        now = self.clock.now()
        return [self._consent_view(g, now) for g in await ConsentGrant.filter(licence_id=licence.id).order_by("-id")]

    async def revoke_consent(self, who: Principal, *, licence_id: int, consent_id: int) -> dict[str, Any]:
        """Withdraws a consent nobody used yet; a used or withdrawn one answers 409 and changes nothing."""
        licence = await self.holder_licence(who, licence_id)
        now = self.clock.now()
        async with in_transaction() as conn:  # the withdrawal and its audit record, or neither
            withdrawn = await ConsentGrant.filter(
                id=consent_id, licence_id=licence.id, revoked_at=None, used_at=None
            ).using_db(conn).update(revoked_at=now)
            grant = await ConsentGrant.filter(id=consent_id, licence_id=licence.id).using_db(conn).first()
            if grant is None:
                raise ConsentNotFound()
            if not withdrawn:
                raise ConsentNotWithdrawable(context={"state": self._consent_view(grant, now)["state"]})
            await self.audit.record(
                "licence_consent_revoked", actor_id=who.user_id, subject=f"licence:{licence.id}",
                data={"consent": consent_id}, connection=conn,
            )
        return self._consent_view(grant, now)

    async def redeem_consent(self, *, reader_id: int, code: str) -> dict[str, Any]:
        """A department reads the licence once; the conditional update makes a second use fail.
        The reader who used it may ask again while the consent lasts (their answer may have been
        lost) and gets the same read; anyone else gets 404, as for no such code. A licence not
        showable now (suspended, revoked, expired, not yet valid) is not read (409), and an
        unused consent stays open for a read once it is showable again, within the consent's time."""
        now = self.clock.now()
        code_hash = hashlib.sha256(code.encode()).hexdigest()
        # The claim and its audit record in one transaction: a redemption that fails part-way
        # (503) leaves the code unused, so the department's retry reads the licence.
        async with in_transaction() as conn:
            claimed = await ConsentGrant.filter(
                code_hash=code_hash, used_at=None, revoked_at=None, expires_at__gt=now
            ).using_db(conn).update(used_at=now, used_by_id=reader_id)
            grant = await ConsentGrant.filter(code_hash=code_hash).using_db(conn).select_related(
                "licence__licence_type").first()
            repeat = (
                claimed != 1 and grant is not None and grant.used_by_id == reader_id
                and grant.revoked_at is None and grant.expires_at > now
            )
            if grant is None or not (claimed == 1 or repeat):
                raise ConsentNotFound()
            licence = grant.licence
            self._require_showable(licence, now)  # rolls the claim back
            # A repeat keeps the first read's used_at: the holder's usage log and consent list
            # show one read, as the department made one. The audit log has each answer given.
            await self.audit.record(
                "licence_consent_repeated" if repeat else "licence_consent_used", actor_id=reader_id,
                subject=f"licence:{licence.id}", data={"consent": grant.id}, connection=conn,
            )
        visible = licence.licence_type.visible_fields.get("department", [])
        view = self.view(licence, now=now)
        view["data"] = {k: v for k, v in licence.data.items() if k in visible}
        return {"consent": self._consent_view(grant, now), "licence": view}
