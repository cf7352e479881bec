"""Residents, their sessions and verified attributes, enterprises and roles, and the audit chain.

Personal data (ID number, name, phone, session_key) is stored encrypted (AES-GCM, see
app/services/identity/protection.py); lookups use an HMAC blind index, never the clear value.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class User(Model):
    id = fields.BigIntField(primary_key=True)
    openid = fields.CharField(max_length=64, unique=True, null=True)
    unionid = fields.CharField(max_length=64, null=True, db_index=True)
    session_key_enc = fields.TextField(null=True)
    real_name_enc = fields.TextField(null=True)
    id_number_enc = fields.TextField(null=True)
    # HMAC of the ID number: unique, so one ID number binds to at most one account.
    id_number_index = fields.CharField(max_length=64, unique=True, null=True)
    # Region of household registration (first six digits), kept for region-scoped services.
    id_region_code = fields.CharField(max_length=6, null=True)
    phone_enc = fields.TextField(null=True)
    phone_index = fields.CharField(max_length=64, null=True, db_index=True)
    realname_verified_at = fields.DatetimeField(null=True)
    face_verified_at = fields.DatetimeField(null=True)
    notify_on_licence_check = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_login_at = fields.DatetimeField(null=True)

    class Meta:
        table = "users"


class UserRole(Model):
    """Granted roles (operator, inspector). Resident is implicit, business is derived."""

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "identity.User", related_name="role_grants", on_delete=fields.CASCADE
    )
    role = fields.CharField(max_length=16)
    granted_by_id = fields.BigIntField(null=True)
    granted_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "user_roles"
        unique_together = (("user", "role"),)


class InspectorScope(Model):
    """What an inspector may check: licence type codes and region codes (prefix match)."""

    user: fields.OneToOneRelation[User] = fields.OneToOneField(
        "identity.User", related_name="inspector_scope", on_delete=fields.CASCADE
    )
    user_id: int
    id = fields.BigIntField(primary_key=True)
    licence_types: list[str] = fields.JSONField(default=list)
    regions: list[str] = fields.JSONField(default=list)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "inspector_scopes"


class OperatorCredential(Model):
    user: fields.OneToOneRelation[User] = fields.OneToOneField(
        "identity.User", related_name="operator_credential", on_delete=fields.CASCADE
    )
    id = fields.BigIntField(primary_key=True)
    user_id: int
    username = fields.CharField(max_length=64, unique=True)
    password_hash = fields.CharField(max_length=255)
    failed_attempts = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "operator_credentials"


class RefreshToken(Model):
    """One refresh token. A family is one login session, rotated on every refresh."""

    id = fields.BigIntField(primary_key=True)
    family_id = fields.CharField(max_length=32, db_index=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "identity.User", related_name="refresh_tokens", on_delete=fields.CASCADE
    )
    user_id: int
    token_hash = fields.CharField(max_length=64, unique=True)
    issued_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "refresh_tokens"


class FaceVerification(Model):
    """One WeChat face verification 2.0 attempt, tied to the identity bound at its start."""

    verify_id = fields.CharField(max_length=256, primary_key=True)
    out_seq_no = fields.CharField(max_length=32, unique=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "identity.User", related_name="face_verifications", on_delete=fields.CASCADE
    )
    cert_hash = fields.CharField(max_length=64)
    status = fields.CharField(max_length=16, default="pending")  # pending, passed, failed
    verify_ret = fields.IntField(null=True)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "face_verifications"


class Enterprise(Model):
    credit_code = fields.CharField(max_length=18, primary_key=True)
    name = fields.CharField(max_length=200)
    region_code = fields.CharField(max_length=6)
    legal_rep_index = fields.CharField(max_length=64, db_index=True)
    legal_rep_name_enc = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "enterprises"


class EnterpriseAgent(Model):
    """A person the legal representative authorised to act for the enterprise."""

    id = fields.BigIntField(primary_key=True)
    enterprise: fields.ForeignKeyRelation[Enterprise] = fields.ForeignKeyField(
        "identity.Enterprise", related_name="agents", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "identity.User", related_name="agencies", on_delete=fields.CASCADE
    )
    user_id: int
    scopes: list[str] = fields.JSONField(default=list)
    expires_at = fields.DatetimeField()
    granted_by: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "identity.User", related_name="agent_grants", on_delete=fields.CASCADE
    )
    granted_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "enterprise_agents"


class AuditEvent(Model):
    """Append-only security event, chained to the previous one by hash."""

    id = fields.BigIntField(primary_key=True)
    seq = fields.BigIntField(unique=True)
    at = fields.DatetimeField()
    kind = fields.CharField(max_length=40)
    actor_id = fields.BigIntField(null=True)
    subject = fields.CharField(max_length=80, default="")
    data: dict = fields.JSONField(default=dict)
    prev_hash = fields.CharField(max_length=64)
    hash = fields.CharField(max_length=64, unique=True)

    class Meta:
        table = "audit_events"


class AuditHead(Model):
    """The head of the chain, one row: locking it serialises appends across workers."""

    id = fields.IntField(primary_key=True)
    seq = fields.BigIntField(default=0)
    hash = fields.CharField(max_length=64)

    class Meta:
        table = "audit_head"
