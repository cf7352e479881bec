import zlib

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.lc1 import codec

KEY = ec.derive_private_key(0x5EED_0001, ec.SECP256R1())
KID = bytes.fromhex("a1a2a3a4a5a6a7a8")


def claims(**overrides):
    values = dict(
        issuer="11440000MB2C901609",
        issued_at=1_795_000_000,
        expires_at=1_795_000_090,
        token_id=bytes(range(8)),
        licence={"id": "x", "t": "11100000MB0143000Y001", "h": "广州某某餐饮有限公司"},
    )
    values.update(overrides)
    return codec.LicenceClaims(**values)


def test_round_trip_and_header_layout():
    text = codec.encode_lc1(claims(), KEY, KID)
    assert text.startswith("LC1:")
    cose = codec.decode_text(text, codec.LC1)
    assert cose.protected == {codec.HEADER_ALG: codec.ES256, codec.HEADER_KID: KID}
    assert cose.unprotected == {}
    assert len(cose.signature) == 64  # raw r || s, not DER
    assert codec.verify_signature(cose, KEY.public_key(), codec.ES256)
    assert codec.decode_licence_claims(cose.payload) == claims()


def test_token_is_tagged_cose_sign1():
    cose_bytes = codec.sign_es256(codec.encode_claims(claims()), KEY, KID)
    assert cose_bytes[:1] == b"\xd2"  # tag 18


def test_zlib_only_when_smaller():
    small = codec.b45_decode(codec.encode_lc1(claims(), KEY, KID)[4:])
    assert small[:1] == b"\xd2"  # signed CBOR with random bytes does not shrink
    repetitive = claims(licence={"id": "x", "sc": "食品销售" * 40})
    big = codec.b45_decode(codec.encode_lc1(repetitive, KEY, KID)[4:])
    assert big[:1] == b"\x78"
    assert codec.decode_licence_claims(codec.parse_cose_sign1(codec.inflate(big, codec.LC1)).payload) == repetitive


def test_double_tagged_and_untagged_are_accepted():
    cose_bytes = codec.sign_es256(codec.encode_claims(claims()), KEY, KID)
    inner = cbor2.loads(cose_bytes)
    untagged = cbor2.dumps(list(inner.value))
    double = cbor2.dumps(cbor2.CBORTag(61, inner))
    for variant in (untagged, double):
        cose = codec.parse_cose_sign1(variant)
        assert codec.verify_signature(cose, KEY.public_key(), codec.ES256)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xd2",
        cbor2.dumps(cbor2.CBORTag(17, [b"", {}, b"", b""])),
        cbor2.dumps(cbor2.CBORTag(61, [b"", {}, b"", b""])),
        cbor2.dumps([b"", {}, b""]),
        cbor2.dumps(["not bytes", {}, b"", b""]),
        cbor2.dumps([cbor2.dumps([1]), {}, b"", b""]),
        cbor2.dumps([b"", {}, b"", b""]) + b"\x00",  # trailing garbage
    ],
)
def test_malformed_cose_is_bad_cose(data):
    with pytest.raises(codec.DecodeError) as caught:
        codec.parse_cose_sign1(data)
    assert caught.value.reason == "bad_cose"


def test_layers_report_their_own_reason():
    with pytest.raises(codec.DecodeError, match="bad_prefix"):
        codec.decode_text("HC1:ABC", codec.LC1)
    with pytest.raises(codec.DecodeError, match="bad_encoding"):
        codec.decode_text("LC1:::::", codec.LC1)
    broken = zlib.compress(b"x" * 100)[:-3]
    with pytest.raises(codec.DecodeError, match="bad_compression"):
        codec.decode_text("LC1:" + codec.b45_encode(broken), codec.LC1)


def test_decompression_bomb_is_refused():
    bomb = zlib.compress(b"\0" * (codec.MAX_INFLATED_BYTES + 1), 9)
    with pytest.raises(codec.DecodeError) as caught:
        codec.inflate(bomb, codec.LC1)
    assert caught.value.reason == "bad_compression"


def test_hc1_requires_compression_lc1_does_not():
    raw = codec.sign_es256(codec.encode_claims(claims()), KEY, KID)
    assert codec.inflate(raw, codec.LC1) == raw
    with pytest.raises(codec.DecodeError, match="bad_compression"):
        codec.inflate(raw, codec.HC1)


def test_unprotected_headers_count_only_for_dcc():
    cose = codec.CoseSign1(
        protected_bytes=b"",
        protected={},
        unprotected={codec.HEADER_ALG: codec.ES256, codec.HEADER_KID: KID},
        payload=b"",
        signature=b"",
    )
    assert cose.kid(codec.LC1) is None and cose.algorithm(codec.LC1) is None
    assert cose.kid(codec.HC1) == KID and cose.algorithm(codec.HC1) == codec.ES256


def test_signature_checks_reject_mismatched_algorithms_and_keys():
    cose = codec.decode_text(codec.encode_lc1(claims(), KEY, KID), codec.LC1)
    other = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert not codec.verify_signature(cose, other.public_key(), codec.ES256)
    assert not codec.verify_signature(cose, KEY.public_key(), codec.PS256)
    assert not codec.verify_signature(cose, rsa_key.public_key(), codec.ES256)
    assert not codec.verify_signature(cose, KEY.public_key(), -8)


@pytest.mark.parametrize(
    "payload",
    [
        cbor2.dumps([1, 2]),
        cbor2.dumps({1: "", 6: 1, 4: 2, 7: b"12345678", -70001: {}}),
        cbor2.dumps({1: "x", 6: "1", 4: 2, 7: b"12345678", -70001: {}}),
        cbor2.dumps({1: "x", 6: True, 4: 2, 7: b"12345678", -70001: {}}),
        cbor2.dumps({1: "x", 6: 1, 4: 2, 7: b"1234", -70001: {}}),
        cbor2.dumps({1: "x", 6: 1, 4: 2, 7: b"12345678", -70001: {1: "a"}}),
        cbor2.dumps({1: "x", 6: 1, 4: 2, 7: b"12345678"}),
    ],
)
def test_bad_claims(payload):
    with pytest.raises(codec.DecodeError) as caught:
        codec.decode_licence_claims(payload)
    assert caught.value.reason == "bad_claims"


def test_kid_is_first_eight_bytes_of_certificate_sha256():
    assert codec.kid_for_certificate(b"abc").hex() == "ba7816bf8f01cfea"


def test_fast_base45_decoder_agrees_with_the_reference_package():
    """codec.b45_decode is vectorised for speed; the base45 package (used to encode) is the
    reference: same bytes for every valid text, a bad_encoding error for every invalid one."""
    import os
    import random

    import base45

    rng = random.Random(45)
    for size in [*range(0, 40), 300, 301, 302]:
        data = os.urandom(size)
        assert codec.b45_decode(base45.b45encode(data).decode()) == data
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:ab\u00c4"
    texts = [
        "A",
        "GGW",
        "ZZZ",
        ":::",
        "GGX",
        "ab",
        "ÄBC",
        *("".join(rng.choices(alphabet, k=rng.randrange(1, 10))) for _ in range(3000)),
    ]
    for text in texts:
        try:
            expected = base45.b45decode(text)
        except ValueError:
            expected = None
        if expected is None:
            with pytest.raises(codec.DecodeError) as refused:
                codec.b45_decode(text)
            assert refused.value.reason == "bad_encoding"
        else:
            assert codec.b45_decode(text) == expected
