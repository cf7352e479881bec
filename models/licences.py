"""Electronic licences (电子证照): types, issuers and their keys, licences, history, inspections, consent.

A licence belongs to a person (found by the blind index of their ID number) or to an enterprise
(by credit code). Private signing keys are never stored here, only issuer certificates.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class LicenceType(Model):
    """A kind of licence, with its field schema, its QR fields and what each reader may see."""

    code = fields.CharField(max_length=21, primary_key=True)  # GB/T 36904 type code
    name = fields.CharField(max_length=100)
    department = fields.CharField(max_length=100)
    holder_kind = fields.CharField(max_length=16)  # person or enterprise
    # Identity-class licences (residence permit and the like) show only after a recent face check.
    identity_class = fields.BooleanField(default=False)
    # field name -> {label, type: text or date, required, max_length}
    field_schema: dict = fields.JSONField(default=dict)
    qr_fields: list = fields.JSONField(default=list)
    # reader -> field names: inspector (an in-scope inspector), department (through consent)
    visible_fields: dict = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "licence_types"


class LicenceIssuer(Model):
    """An issuing authority, known by its unified social credit code."""

    credit_code = fields.CharField(max_length=18, primary_key=True)
    name = fields.CharField(max_length=100)
    region_code = fields.CharField(max_length=6)
    licence_types: list = fields.JSONField(default=list)  # type codes it may issue
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "licence_issuers"


class LicenceIssuerKey(Model):
    """An issuer signing key by its certificate. The signing window of a new key starts while
    the old one still verifies (rotation overlap), until it is retired or its certificate ends."""

    kid = fields.CharField(max_length=16, primary_key=True)  # hex of SHA-256(cert DER)[:8]
    issuer: fields.ForeignKeyRelation[LicenceIssuer] = fields.ForeignKeyField(
        "licences.LicenceIssuer", related_name="keys", on_delete=fields.RESTRICT
    )
    certificate_pem = fields.TextField()
    not_before = fields.DatetimeField()
    not_after = fields.DatetimeField()
    signs_from = fields.DatetimeField()
    retired_at = fields.DatetimeField(null=True)  # dropped from the trust list from then on
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "licence_issuer_keys"


class Licence(Model):
    id = fields.BigIntField(primary_key=True)
    identifier = fields.CharField(max_length=128, unique=True)  # GB/T 36904 证照标识
    licence_type: fields.ForeignKeyRelation[LicenceType] = fields.ForeignKeyField(
        "licences.LicenceType", related_name="licences", on_delete=fields.RESTRICT
    )
    issuer: fields.ForeignKeyRelation[LicenceIssuer] = fields.ForeignKeyField(
        "licences.LicenceIssuer", related_name="licences", on_delete=fields.RESTRICT
    )
    holder_kind = fields.CharField(max_length=16)  # person or enterprise
    holder_index = fields.CharField(max_length=64, null=True, db_index=True)
    holder_credit_code = fields.CharField(max_length=18, null=True, db_index=True)
    holder_name = fields.CharField(max_length=200)
    region_code = fields.CharField(max_length=6)
    data: dict = fields.JSONField(default=dict)  # the type's fields
    valid_from = fields.DateField()
    valid_until = fields.DateField(null=True)
    status = fields.CharField(max_length=16, default="active")
    status_changed_at = fields.DatetimeField()
    source = fields.CharField(max_length=16)  # api or feed
    content_hash = fields.CharField(max_length=64)  # of the issuance request, for idempotency
    issued_at = fields.DatetimeField()

    class Meta:
        table = "licences"
        indexes = (("status", "status_changed_at"),)


class LicenceEvent(Model):
    """History: every issuance and status change, append-only."""

    id = fields.BigIntField(primary_key=True)
    licence: fields.ForeignKeyRelation[Licence] = fields.ForeignKeyField(
        "licences.Licence", related_name="events", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=24)
    from_status = fields.CharField(max_length=16, null=True)
    to_status = fields.CharField(max_length=16)
    actor_id = fields.BigIntField(null=True)
    reason = fields.CharField(max_length=200, default="")
    at = fields.DatetimeField()

    class Meta:
        table = "licence_events"


class Inspection(Model):
    """One check of a presented code by an inspector, whatever its outcome."""

    id = fields.BigIntField(primary_key=True)
    licence: fields.ForeignKeyNullableRelation[Licence] = fields.ForeignKeyField(
        "licences.Licence", related_name="inspections", null=True, on_delete=fields.CASCADE
    )
    inspector_id = fields.BigIntField(db_index=True)
    at = fields.DatetimeField()
    valid = fields.BooleanField()
    reason = fields.CharField(max_length=32, null=True)
    token_id = fields.CharField(max_length=64, null=True)  # hex cti, when the code decoded
    # Set only on acceptance: the database backs the cache in accepting a cti once.
    accepted_token_id = fields.CharField(max_length=64, null=True, unique=True)
    location: dict | None = fields.JSONField(null=True)

    class Meta:
        table = "licence_inspections"
        indexes = (("licence_id", "at"),)


class ConsentGrant(Model):
    """A holder lets a department read one licence once, for a stated purpose, until expiry."""

    id = fields.BigIntField(primary_key=True)
    licence: fields.ForeignKeyRelation[Licence] = fields.ForeignKeyField(
        "licences.Licence", related_name="consents", on_delete=fields.CASCADE
    )
    granted_by_id = fields.BigIntField(db_index=True)
    department = fields.CharField(max_length=100)
    purpose = fields.CharField(max_length=200)
    code_hash = fields.CharField(max_length=64, unique=True)  # SHA-256 of the one-time code
    expires_at = fields.DatetimeField()
    created_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)
    used_at = fields.DatetimeField(null=True)
    used_by_id = fields.BigIntField(null=True)

    class Meta:
        table = "licence_consents"
        # The holder's consent list and usage log find consents by licence. An index here, not
        # db_index on the key: Tortoise alters a key on SQLite by rebuilding the table, which
        # drops the table's other indexes and creates none.
        indexes = (("licence_id",),)
