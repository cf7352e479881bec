"""The offline verifier: every check, and the attack list of issue 4, with their reason codes."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from app.lc1 import codec
from app.lc1.identifier import LicenceIdentifier
from app.lc1.trust_list import (
    IssuerKey,
    TrustList,
    TrustListError,
    load_trust_list,
    revocation_hash,
    sign_trust_list,
)
from app.lc1.verifier import (
    InspectorScope,
    MemoryReplayGuard,
    Reason,
    check_scope,
    region_within,
    verify,
)

ISSUER_A = "11440000MB2C901609"
ISSUER_B = "11440100MB2C92470Y"
FOOD = "11100000MB0143000Y001"
KEY_A = ec.derive_private_key(0xA11CE, ec.SECP256R1())
KEY_A_OLD = ec.derive_private_key(0xA11CF, ec.SECP256R1())
KEY_B = ec.derive_private_key(0xB0B, ec.SECP256R1())
ROGUE = ec.derive_private_key(0xBAD, ec.SECP256R1())
LIST_KEY = ec.derive_private_key(0x7157, ec.SECP256R1())
KID_A, KID_A_OLD, KID_B, LIST_KID = (bytes([n]) * 8 for n in (1, 2, 3, 9))
NOW = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
T = int(NOW.timestamp())
IDENTIFIER = str(LicenceIdentifier(FOOD, ISSUER_A, "JY24401060000001", "001"))


def issuer_key(private, kid, issuer, **overrides):
    values = dict(
        kid=kid,
        issuer=issuer,
        public_key=private.public_key(),
        not_before=T - 86_400 * 365,
        not_after=T + 86_400 * 365,
    )
    values.update(overrides)
    return IssuerKey(**values)


TRUST = TrustList(
    keys=(
        issuer_key(KEY_A, KID_A, ISSUER_A),
        issuer_key(KEY_A_OLD, KID_A_OLD, ISSUER_A),
        issuer_key(KEY_B, KID_B, ISSUER_B),
    ),
    issued_at=T - 60,
    expires_at=T + 86_400,
)


def mint(key=KEY_A, kid=KID_A, *, iat=T, life=90, issuer=ISSUER_A, identifier=IDENTIFIER, **lic):
    licence = {"id": identifier, "t": FOOD, "rg": "440106", "h": "广州某某餐饮有限公司"}
    licence.update(lic)
    claims = codec.LicenceClaims(
        issuer=issuer, issued_at=iat, expires_at=iat + life, token_id=b"cti-0001", licence=licence
    )
    return codec.encode_lc1(claims, key, kid)


def reason(payload, trust=TRUST, now=NOW, **kwargs):
    result = verify(payload, trust, now, **kwargs)
    return "valid" if result.valid else result.reason


def test_valid_token():
    result = verify(mint(), TRUST, NOW)
    assert result.valid and result.reason is None
    assert result.claims.identifier == IDENTIFIER
    assert result.key.kid == KID_A
    assert result.licence["h"] == "广州某某餐饮有限公司"


def test_full_token_fits_qr_version_15_at_level_m():
    # A food-business licence with a long name and scope: alphanumeric capacity of V15-M is 600.
    payload = mint(h="广州市海珠区某某某餐饮管理有限公司第一分店", sc="预包装食品销售；热食类食品制售；冷食类食品制售", vu="20310630")
    assert len(payload) <= 600


def test_every_flipped_byte_is_rejected():
    payload = mint(sc="预包装食品销售；" * 6)
    body = codec.b45_decode(payload[4:])
    assert codec.is_zlib(body)  # exercises the compression layer too
    signed = codec.inflate(body, codec.LC1)
    guard = MemoryReplayGuard()
    assert reason(payload, seen_cti=guard) == "valid"
    for index in range(len(body)):
        for mask in (0x01, 0x10, 0x80):
            tampered = bytearray(body)
            tampered[index] ^= mask
            result = verify("LC1:" + codec.b45_encode(bytes(tampered)), TRUST, NOW, seen_cti=guard)
            assert not result.valid, (index, mask)
            if result.reason == Reason.REPLAYED:
                # Only a flip in the deflate stream's final padding bits survives decompression;
                # it yields the very same signed token, which the replay cache then refuses.
                assert codec.inflate(bytes(tampered), codec.LC1) == signed
            else:
                assert result.reason in {
                    Reason.BAD_COMPRESSION, Reason.BAD_COSE, Reason.BAD_HEADER,
                    Reason.UNSUPPORTED_ALGORITHM, Reason.UNKNOWN_KID, Reason.BAD_SIGNATURE,
                }


def test_every_flipped_byte_of_an_uncompressed_token_is_rejected():
    claims = codec.LicenceClaims(ISSUER_A, T, T + 90, b"cti-0002", {"id": IDENTIFIER, "t": FOOD})
    body = codec.sign_es256(codec.encode_claims(claims), KEY_A, KID_A)
    assert reason("LC1:" + codec.b45_encode(body)) == "valid"
    for index in range(len(body)):
        for mask in (0x01, 0x10, 0x80):
            tampered = bytearray(body)
            tampered[index] ^= mask
            assert reason("LC1:" + codec.b45_encode(bytes(tampered))) != "valid", (index, mask)


def test_every_changed_text_character_is_rejected():
    payload = mint(sc="预包装食品销售；" * 6)
    signed = codec.inflate(codec.b45_decode(payload[4:]), codec.LC1)
    guard = MemoryReplayGuard()
    assert reason(payload, seen_cti=guard) == "valid"
    for index in range(len(payload)):
        replacement = "A" if payload[index] != "A" else "B"
        changed = payload[:index] + replacement + payload[index + 1 :]
        result = verify(changed, TRUST, NOW, seen_cti=guard)
        assert not result.valid, index
        if result.reason == Reason.REPLAYED:  # the change only touched deflate padding bits
            assert codec.inflate(codec.b45_decode(changed[4:]), codec.LC1) == signed


@pytest.mark.parametrize("cut", [1, 2, 3, 10, 100])
def test_truncation_is_rejected(cut):
    assert reason(mint()[:-cut]) in {Reason.BAD_ENCODING, Reason.BAD_COSE, Reason.BAD_COMPRESSION}


@pytest.mark.parametrize("prefix", ["HC1:", "LC2:", "lc1:", "", "LC1"])
def test_wrong_prefix(prefix):
    assert reason(prefix + mint()[4:]) == Reason.BAD_PREFIX


def test_unknown_kid():
    assert reason(mint(ROGUE, bytes(8))) == Reason.UNKNOWN_KID


def test_rogue_key_under_a_trusted_kid():
    assert reason(mint(ROGUE, KID_A)) == Reason.BAD_SIGNATURE


def test_another_issuers_key():
    # Issuer B signs a licence claiming issuer A: B's key is trusted, but not for A.
    assert reason(mint(KEY_B, KID_B)) == Reason.ISSUER_MISMATCH
    # ... or claiming itself while the licence identifier names issuer A.
    assert reason(mint(KEY_B, KID_B, issuer=ISSUER_B)) == Reason.ISSUER_MISMATCH


def test_kid_collisions_try_every_key():
    colliding = replace(
        TRUST, keys=(issuer_key(KEY_B, KID_A, ISSUER_B), *TRUST.keys)
    )
    assert reason(mint(), trust=colliding) == "valid"


def test_rotation_overlap_both_keys_verify():
    assert reason(mint(KEY_A_OLD, KID_A_OLD)) == "valid"
    assert reason(mint()) == "valid"


def test_key_used_outside_its_validity():
    retired = replace(TRUST, keys=(issuer_key(KEY_A, KID_A, ISSUER_A, not_after=T - 1000),))
    assert reason(mint(), trust=retired) == Reason.KEY_NOT_VALID


def test_key_restricted_to_other_licence_types():
    restricted = replace(
        TRUST, keys=(issuer_key(KEY_A, KID_A, ISSUER_A, licence_types=("OTHER",)),)
    )
    assert reason(mint(), trust=restricted) == Reason.KEY_USAGE


def test_time_window_with_60_seconds_of_skew():
    assert reason(mint(iat=T + 60)) == "valid"
    assert reason(mint(iat=T + 61)) == Reason.NOT_YET_VALID
    assert reason(mint(iat=T - 150)) == "valid"  # exp = T - 60
    assert reason(mint(iat=T - 151)) == Reason.EXPIRED


def test_lifetime_longer_than_90_seconds_is_refused():
    assert reason(mint(life=91)) == Reason.BAD_CLAIMS
    assert reason(mint(life=0)) == Reason.BAD_CLAIMS


def test_identifier_must_be_valid():
    assert reason(mint(identifier=IDENTIFIER[:-1] + "Z")) == Reason.BAD_CLAIMS


def test_revoked_after_minting():
    payload = mint()
    assert reason(payload) == "valid"
    revoked = replace(TRUST, revoked=frozenset({revocation_hash(IDENTIFIER)}))
    assert reason(payload, trust=revoked) == Reason.REVOKED


def test_replay_within_window():
    guard = MemoryReplayGuard()
    payload = mint()
    assert reason(payload, seen_cti=guard) == "valid"
    assert reason(payload, seen_cti=guard) == Reason.REPLAYED
    # A refused code does not use up the acceptance of another.
    assert reason(mint(ROGUE, KID_A), seen_cti=MemoryReplayGuard()) == Reason.BAD_SIGNATURE


def test_replay_guard_forgets_after_the_window():
    guard = MemoryReplayGuard()
    assert guard.remember(b"a" * 8, until=T + 10, now=T)
    assert not guard.remember(b"a" * 8, until=T + 10, now=T + 5)
    assert guard.remember(b"a" * 8, until=T + 30, now=T + 11)


def test_stale_trust_list():
    assert reason(mint(iat=T + 86_400 + 100), now=NOW + timedelta(seconds=86_400 + 100)) == (
        Reason.STALE_TRUST_LIST
    )


@pytest.mark.parametrize(
    "payload",
    ["", "LC1:", "garbage", "LC1:" + "A" * 5000, "\x00\x01binary", "LC1:ä€"],
)
def test_garbage(payload):
    assert reason(payload) in {Reason.BAD_PREFIX, Reason.BAD_ENCODING, Reason.TOO_LARGE, Reason.BAD_COSE}


def test_headers_must_be_protected():
    claims = codec.encode_claims(
        codec.LicenceClaims(ISSUER_A, T, T + 60, b"12345678", {"id": IDENTIFIER})
    )
    protected = cbor2.dumps({codec.HEADER_ALG: codec.ES256})
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    der = KEY_A.sign(codec.sig_structure(protected, claims), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    cose = cbor2.dumps(
        cbor2.CBORTag(18, [protected, {codec.HEADER_KID: KID_A}, claims, r.to_bytes(32, "big") + s.to_bytes(32, "big")])
    )
    assert reason("LC1:" + codec.b45_encode(cose)) == Reason.BAD_HEADER


def test_scope():
    result = verify(mint(), TRUST, NOW)
    assert check_scope(result.claims, InspectorScope(frozenset({FOOD}), frozenset({"440000"})))
    assert check_scope(result.claims, InspectorScope(frozenset({FOOD}), frozenset({"440106"})))
    assert not check_scope(result.claims, InspectorScope(frozenset({FOOD}), frozenset({"440300"})))
    assert not check_scope(result.claims, InspectorScope(frozenset({"X"}), frozenset({"440000"})))
    assert region_within("440106", "440100") and not region_within("450106", "440000")
    assert not region_within("440106", "")


# --------------------------------------------------------------------------- trust list document
def test_signed_trust_list_round_trip():
    revoked = TRUST.__class__(
        keys=TRUST.keys, revoked=frozenset({revocation_hash(IDENTIFIER)}), sequence=7,
        issued_at=T, expires_at=T + 3600,
    )
    document = sign_trust_list(revoked, LIST_KEY, LIST_KID)
    loaded = load_trust_list(document, {LIST_KID: LIST_KEY.public_key()})
    assert loaded.sequence == 7 and loaded.expires_at == T + 3600
    assert [k.kid for k in loaded.keys] == [KID_A, KID_A_OLD, KID_B]
    assert IDENTIFIER.encode() not in document  # identifiers only as hashes
    assert reason(mint(), trust=loaded) == Reason.REVOKED


def test_trust_list_signature_and_signer_are_checked():
    document = sign_trust_list(TRUST, LIST_KEY, LIST_KID)
    with pytest.raises(TrustListError) as caught:
        load_trust_list(document, {LIST_KID: ROGUE.public_key()})
    assert caught.value.reason == "bad_trust_list_signature"
    with pytest.raises(TrustListError) as caught:
        load_trust_list(document, {bytes(8): LIST_KEY.public_key()})
    assert caught.value.reason == "untrusted_signer"
    tampered = document.replace(b'"payload":"', b'"payload":"e30', 1)
    with pytest.raises(TrustListError):
        load_trust_list(tampered, {LIST_KID: LIST_KEY.public_key()})
    for junk in (b"", b"[]", b"{}", b"\xff\xfe"):
        with pytest.raises(TrustListError):
            load_trust_list(junk, {LIST_KID: LIST_KEY.public_key()})
