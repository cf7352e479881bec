import pytest

from app.lc1.identifier import (
    InvalidIdentifier,
    LicenceIdentifier,
    credit_code_check_character,
    is_valid_credit_code,
    is_valid_identifier,
    mod_37_36_check_character,
)

# A real Zhejiang identifier (licence-qr.md §3.2); its check character is "0".
REAL = "1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0"


def test_real_identifier_validates_and_round_trips():
    identifier = LicenceIdentifier.parse(REAL)
    assert identifier.type_code == "11100000000013338W009"
    assert identifier.issuer_code == "11330105002500287C"
    assert identifier.serial == "2025052201"
    assert identifier.version == "002"
    assert identifier.check_character == "0"
    assert str(identifier) == REAL


def test_made_up_swagger_example_is_rejected():
    fake = (
        "1.2.156.3005.2.11100000000013661B006.113700000045046442."
        "209FA4E88F9E4C878F3E9BED2CE7EA49.001.M"
    )
    assert not is_valid_identifier(fake)
    assert str(LicenceIdentifier.parse(fake[:-1] + "D")).endswith(".D")


@pytest.mark.parametrize("position", range(len(REAL)))
def test_any_single_character_change_is_caught(position):
    char = REAL[position]
    if char == ".":
        return
    replacement = "1" if char != "1" else "2"
    assert not is_valid_identifier(REAL[:position] + replacement + REAL[position + 1 :])


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1.2.156.3005.1.11100000000013338W009.11330105002500287C.2025052201.002.0",
        "1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002",
        "1.2.156.3005.2.11100000000013338w009.11330105002500287C.2025052201.002.0",
        "1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.2.0",
        "1.2.156.3005.2.11100000000013338W009.11330105002500287C..002.0",
    ],
)
def test_malformed_identifiers(text):
    with pytest.raises(InvalidIdentifier):
        LicenceIdentifier.parse(text)


def test_check_character_swaps_of_adjacent_characters_are_detected():
    body = "11100000000013338W00911330105002500287C2025052201002"
    check = mod_37_36_check_character(body)
    for i in range(len(body) - 1):
        if body[i] != body[i + 1]:
            swapped = body[:i] + body[i + 1] + body[i] + body[i + 2 :]
            assert mod_37_36_check_character(swapped) != check


def test_credit_codes():
    assert is_valid_credit_code("91350100M000100Y43")
    assert not is_valid_credit_code("91350100M000100Y44")
    assert not is_valid_credit_code("91350100M000100Y4")
    assert credit_code_check_character("11440000MB2C90160") == "9"
