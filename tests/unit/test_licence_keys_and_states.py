"""Issuer key loading (secrets mount and environment) and the licence status table."""

import datetime as dt

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.config import ConfigError, load_settings
from app.services.licences.keys import (
    certificate_credit_code,
    certificate_kid,
    load_certificates,
    load_key_ring,
    make_self_signed_certificate,
    write_key_pair,
)
from app.services.licences.states import TRANSITIONS, LicenceStatus, next_status

UTC = dt.UTC


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_keys_come_from_a_mount_and_from_the_environment(tmp_path):
    mounted = ec.generate_private_key(ec.SECP256R1())
    certificate = make_self_signed_certificate(
        mounted, common_name="mount", credit_code="11440000MB2C901609",
        not_before=dt.datetime(2026, 1, 1, tzinfo=UTC), not_after=dt.datetime(2027, 1, 1, tzinfo=UTC),
    )
    write_key_pair(tmp_path, "any-name", mounted, certificate)
    from_env = [ec.generate_private_key(ec.SECP256R1()) for _ in range(2)]
    ring = load_key_ring(tmp_path, "\n".join(_pem(k) for k in from_env))
    assert len(ring) == 3
    for key in (mounted, *from_env):
        assert ring.private_key_for(key.public_key()) is not None
    assert ring.private_key_for(ec.generate_private_key(ec.SECP256R1()).public_key()) is None
    assert "BEGIN" not in repr(ring)
    [loaded] = load_certificates(tmp_path)
    assert certificate_kid(loaded) == certificate_kid(certificate)
    assert certificate_credit_code(loaded) == "11440000MB2C901609"


def test_other_curves_are_refused(tmp_path):
    with pytest.raises(ValueError, match="P-256"):
        load_key_ring(None, _pem(ec.generate_private_key(ec.SECP384R1())))


def test_production_refuses_the_sandbox_keys(tmp_path):
    env = {
        "APP_SERVICE_ENVIRONMENT": "production", "APP_SANDBOX_ENABLED": "false",
        "APP_CONFIG": str(tmp_path / "none.toml"),
    }
    with pytest.raises(ConfigError, match=r"licences\.keys_dir"):
        load_settings(env=env)


def test_presentation_lifetime_is_capped_at_90_seconds(tmp_path):
    with pytest.raises(ConfigError, match="presentation_ttl"):
        load_settings(env={"APP_CONFIG": str(tmp_path / "none.toml"), "APP_LICENCES_PRESENTATION_TTL": "120"})


@pytest.mark.parametrize(
    ("current", "action", "expected"),
    [
        ("active", "suspend", LicenceStatus.SUSPENDED),
        ("suspended", "reinstate", LicenceStatus.ACTIVE),
        ("active", "revoke", LicenceStatus.REVOKED),
        ("suspended", "revoke", LicenceStatus.REVOKED),
        ("active", "expire", LicenceStatus.EXPIRED),
        ("revoked", "reinstate", None),
        ("revoked", "suspend", None),
        ("expired", "reinstate", None),
        ("active", "reinstate", None),
    ],
)
def test_status_table(current, action, expected):
    assert next_status(current, action) == expected


def test_revoked_and_expired_are_final():
    assert not [key for key in TRANSITIONS if key[0] in (LicenceStatus.REVOKED, LicenceStatus.EXPIRED)]
