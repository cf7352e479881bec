import pytest

from app.config import Secret
from app.services.identity.protection import BlindIndex, FieldCipher, mask_id_number, mask_phone

KEY = Secret("c2FuZGJveC1maWVsZC1lbmNyeXB0aW9uLWtleS0wMDE=")


def test_round_trip_and_randomised():
    cipher = FieldCipher(KEY)
    first = cipher.encrypt("440106199001010018", field="users.id_number")
    second = cipher.encrypt("440106199001010018", field="users.id_number")
    assert first != second  # fresh nonce each time
    assert "440106" not in first
    assert cipher.decrypt(first, field="users.id_number") == "440106199001010018"


def test_ciphertext_bound_to_its_field():
    cipher = FieldCipher(KEY)
    token = cipher.encrypt("13800138000", field="users.phone")
    with pytest.raises(ValueError):
        cipher.decrypt(token, field="users.id_number")


def test_tampered_ciphertext_rejected():
    import base64

    cipher = FieldCipher(KEY)
    raw = bytearray(base64.b64decode(cipher.encrypt("x", field="f")))
    raw[-1] ^= 1
    with pytest.raises(ValueError):
        cipher.decrypt(base64.b64encode(bytes(raw)).decode(), field="f")


def test_blind_index_is_stable_keyed_and_normalised():
    index = BlindIndex(KEY)
    other = BlindIndex(Secret("b3RoZXItYmxpbmQtaW5kZXgta2V5LTMyLWJ5dGVzLWxvbmc="))
    assert index.of("11010519491231002x", field="id") == index.of("11010519491231002X ", field="id")
    assert index.of("11010519491231002X", field="id") != other.of("11010519491231002X", field="id")


def test_masks():
    assert mask_id_number("11010519491231002X") == "1****************X"
    assert mask_phone("13800138000") == "138****8000"
