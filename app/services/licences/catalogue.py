"""Licence types, issuers and issuer keys: what may be issued, by whom, signed with what."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from app.lc1.identifier import is_valid_credit_code
from app.lc1.trust_list import IssuerKey
from app.ports import Clock
from app.services.catalogue.regions import unknown_regions
from app.services.identity.audit import AuditLog
from app.services.identity.service import CreditCodeInvalid
from app.services.licences.errors import (
    CertificateInvalid,
    IssuerKeyNotFound,
    IssuerNotFound,
    LicenceInvalid,
    LicenceTypeCodeInvalid,
    LicenceTypeNotFound,
)
from app.services.licences.keys import KeyRing, certificate_credit_code, certificate_kid
from models.licences import LicenceIssuer, LicenceIssuerKey, LicenceType

# A rotation or retirement reaches every worker's signer within this many seconds.
SIGNER_CACHE_SECONDS = 5.0

TYPE_CODE = re.compile(r"[0-9A-Z]{21}")
REGION_CODE = re.compile(r"[1-9][0-9]{5}")
FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
FIELD_KINDS = frozenset({"text", "date"})
READERS = frozenset({"inspector", "department"})


def _check_field_lists(
    schema: dict[str, Any], qr_fields: list[str], visible: dict[str, list[str]]
) -> None:
    problems = []
    for name, spec in schema.items():
        if not FIELD_NAME.fullmatch(name) or not isinstance(spec, dict):
            problems.append({"field": f"field_schema.{name}", "problem": "bad field name or spec"})
        elif spec.get("type", "text") not in FIELD_KINDS:
            problems.append({"field": f"field_schema.{name}", "problem": "type is text or date"})
    for name in qr_fields:
        if name not in schema:
            problems.append({"field": "qr_fields", "problem": f"{name} is not in the schema"})
    for reader, names in visible.items():
        if reader not in READERS:
            problems.append({"field": "visible_fields", "problem": f"unknown reader {reader}"})
        for name in names:
            if name not in schema:
                problems.append({"field": f"visible_fields.{reader}", "problem": f"{name} is not in the schema"})
    if problems:
        raise LicenceInvalid("The licence type is inconsistent.", context={"fields": problems})


def type_view(licence_type: LicenceType) -> dict[str, Any]:
    return {
        "code": licence_type.code,
        "name": licence_type.name,
        "department": licence_type.department,
        "holder_kind": licence_type.holder_kind,
        "identity_class": licence_type.identity_class,
        "field_schema": licence_type.field_schema,
        "qr_fields": licence_type.qr_fields,
        "visible_fields": licence_type.visible_fields,
    }


def issuer_view(issuer: LicenceIssuer) -> dict[str, Any]:
    return {
        "credit_code": issuer.credit_code,
        "name": issuer.name,
        "region_code": issuer.region_code,
        "licence_types": issuer.licence_types,
    }


@dataclass
class LicenceCatalogue:
    clock: Clock
    audit: AuditLog
    keys: KeyRing
    # How long a retired key that may have signed still verifies: its last presentations
    # (minted up to SIGNER_CACHE_SECONDS after retirement) live this long, clock skew included.
    retirement_grace: timedelta = timedelta(0)

    async def upsert_type(
        self,
        *,
        actor_id: int,
        code: str,
        name: str,
        department: str,
        holder_kind: str,
        identity_class: bool,
        field_schema: dict[str, Any],
        qr_fields: list[str],
        visible_fields: dict[str, list[str]],
    ) -> dict[str, Any]:
        if not TYPE_CODE.fullmatch(code):
            raise LicenceTypeCodeInvalid(context={"fields": [{"field": "code", "problem": "21 characters 0-9A-Z"}]})
        _check_field_lists(field_schema, qr_fields, visible_fields)
        values = dict(
            name=name, department=department, holder_kind=holder_kind,
            identity_class=identity_class, field_schema=field_schema, qr_fields=qr_fields,
            visible_fields=visible_fields,
        )
        # The change and its audit record in one transaction: a 503 means nothing was saved.
        async with in_transaction() as conn:
            licence_type, _ = await LicenceType.update_or_create(defaults=values, code=code, using_db=conn)
            await self.audit.record(
                "licence_type_saved", actor_id=actor_id, subject=f"licence_type:{code}", connection=conn
            )
        return type_view(licence_type)

    async def list_types(self, *, limit: int, offset: int) -> dict[str, Any]:
        total = await LicenceType.all().count()
        types = await LicenceType.all().order_by("code").offset(offset).limit(limit)
        return {"items": [type_view(t) for t in types], "total": total, "limit": limit, "offset": offset}

    async def get_type(self, code: str) -> LicenceType:
        licence_type = await LicenceType.get_or_none(code=code)
        if licence_type is None:
            raise LicenceTypeNotFound()
        return licence_type

    async def upsert_issuer(
        self, *, actor_id: int, credit_code: str, name: str, region_code: str, licence_types: list[str]
    ) -> dict[str, Any]:
        if not is_valid_credit_code(credit_code):
            raise CreditCodeInvalid(context={"fields": [{"field": "credit_code", "problem": "not a valid credit code"}]})
        if not REGION_CODE.fullmatch(region_code):
            raise LicenceInvalid(context={"fields": [{"field": "region_code", "problem": "six digits"}]})
        if await unknown_regions([region_code]):
            raise LicenceInvalid(context={"fields": [{"field": "region_code", "problem": "not a known region"}]})
        known = {t.code for t in await LicenceType.filter(code__in=licence_types)}
        if missing := sorted(set(licence_types) - known):
            raise LicenceTypeNotFound(context={"codes": missing})
        # The change and its audit record in one transaction: a 503 means nothing was saved.
        async with in_transaction() as conn:
            issuer, _ = await LicenceIssuer.update_or_create(
                defaults=dict(name=name, region_code=region_code, licence_types=licence_types),
                credit_code=credit_code,
                using_db=conn,
            )
            await self.audit.record(
                "licence_issuer_saved", actor_id=actor_id, subject=f"issuer:{credit_code}", connection=conn
            )
        return issuer_view(issuer)

    async def get_issuer(self, credit_code: str) -> LicenceIssuer:
        issuer = await LicenceIssuer.get_or_none(credit_code=credit_code)
        if issuer is None:
            raise IssuerNotFound()
        return issuer

    async def add_key(
        self, *, actor_id: int, credit_code: str, certificate_pem: str, signs_from: datetime | None
    ) -> dict[str, Any]:
        """Register an issuer certificate. A newer signs_from starts a rotation: the new key signs
        from then on, and the old key keeps verifying until it is retired or its certificate ends."""
        issuer = await self.get_issuer(credit_code)
        try:
            certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
        except ValueError:
            raise CertificateInvalid(context={"problem": "not a PEM certificate"}) from None
        public_key = certificate.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(public_key.curve, ec.SECP256R1):
            raise CertificateInvalid(context={"problem": "the key must be P-256 (ES256)"})
        subject_code = certificate_credit_code(certificate)
        if subject_code is not None and subject_code != credit_code:
            raise CertificateInvalid(context={"problem": "the certificate names another organisation"})
        kid = certificate_kid(certificate).hex()
        # The key and its audit record in one transaction: a key added part-way is not left
        # without its record (its retry would find it and record nothing), and a 503 means no key.
        async with in_transaction() as conn:
            key, created = await LicenceIssuerKey.get_or_create(
                kid=kid,
                defaults=dict(
                    issuer=issuer,
                    certificate_pem=certificate_pem,
                    not_before=certificate.not_valid_before_utc,
                    not_after=certificate.not_valid_after_utc,
                    signs_from=max(signs_from or self.clock.now(), certificate.not_valid_before_utc),
                ),
                using_db=conn,
            )
            if key.issuer_id != credit_code:  # type: ignore[attr-defined]
                raise CertificateInvalid(context={"problem": "this certificate belongs to another issuer"})
            if created:
                await self.audit.record(
                    "licence_key_added", actor_id=actor_id, subject=f"issuer:{credit_code}", data={"kid": kid},
                    connection=conn,
                )
        return self.key_view(key, public_key)

    def key_view(self, key: LicenceIssuerKey, public_key: ec.EllipticCurvePublicKey | None = None) -> dict[str, Any]:
        if public_key is None:
            public_key = x509.load_pem_x509_certificate(key.certificate_pem.encode()).public_key()  # type: ignore[assignment]
        return {
            "kid": key.kid,
            "issuer": key.issuer_id,  # type: ignore[attr-defined]
            "not_before": key.not_before,
            "not_after": key.not_after,
            "signs_from": key.signs_from,
            "retired_at": key.retired_at,
            "can_sign": self.keys.private_key_for(public_key) is not None,  # type: ignore[arg-type]
        }

    async def retire_key(self, *, actor_id: int, credit_code: str, kid: str) -> dict[str, Any]:
        issuer = await self.get_issuer(credit_code)
        key = await LicenceIssuerKey.get_or_none(kid=kid, issuer_id=issuer.credit_code)
        if key is None:
            raise IssuerKeyNotFound()
        if key.retired_at is None:
            now = self.clock.now()
            # Conditional, with its audit record in one transaction: two retirements at once
            # record one, and a retirement that failed part-way is retried whole.
            async with in_transaction() as conn:
                retired = await LicenceIssuerKey.filter(kid=kid, retired_at=None).using_db(conn).update(retired_at=now)
                if retired:
                    await self.audit.record(
                        "licence_key_retired", actor_id=actor_id, subject=f"issuer:{credit_code}", data={"kid": kid},
                        connection=conn,
                    )
            await key.refresh_from_db(fields=["retired_at"])
        return self.key_view(key)

    async def trusted_keys(self, now: datetime) -> tuple[IssuerKey, ...]:
        """Every key a verifier should accept now: certificate not ended, and not retired, or
        retired so recently that codes it signed before retirement are still live. Such a key
        verifies only codes issued before its retirement reached every signer."""
        rows = await LicenceIssuerKey.filter(
            Q(retired_at=None) | Q(retired_at__gt=now - self.retirement_grace), not_after__gt=now
        ).select_related("issuer")
        keys = []
        for row in rows:
            not_after = row.not_after
            if row.retired_at is not None:
                if row.signs_from > row.retired_at:
                    continue  # retired before its signing window began: it never signed a code
                not_after = min(not_after, row.retired_at + timedelta(seconds=SIGNER_CACHE_SECONDS))
            keys.append(
                IssuerKey(
                    kid=bytes.fromhex(row.kid),
                    issuer=row.issuer.credit_code,
                    public_key=_certificate_public_key(row.certificate_pem),
                    not_before=int(row.not_before.timestamp()),
                    not_after=int(not_after.timestamp()),
                    licence_types=tuple(row.issuer.licence_types),
                )
            )
        return tuple(keys)


# Each worker re-reads the trusted keys every few seconds; certificates never change once stored.
@lru_cache(maxsize=256)
def _certificate_public_key(certificate_pem: str) -> ec.EllipticCurvePublicKey:
    public_key = x509.load_pem_x509_certificate(certificate_pem.encode()).public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    return public_key
