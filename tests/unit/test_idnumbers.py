from datetime import date

import pytest

from app.services.identity.idnumbers import InvalidIdNumber, validate_credit_code, validate_id_number

TODAY = date(2026, 11, 21)


def test_known_valid_id_number_with_x_check():
    number, birth = validate_id_number("11010519491231002x", today=TODAY)
    assert number == "11010519491231002X"
    assert birth == date(1949, 12, 31)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("110105194912310021", "checksum"),
        ("11010519491231002", "format"),
        ("1101051949123100AX", "format"),
        ("110105194913310020", "birth_date"),  # month 13; check digit recomputed below
        ("990105194912310020", "region"),
    ],
)
def test_invalid_id_numbers(value, reason):
    from app.services.identity.idnumbers import id_check_char

    if reason in ("birth_date", "region"):
        value = value[:17] + id_check_char(value[:17])
    with pytest.raises(InvalidIdNumber) as exc:
        validate_id_number(value, today=TODAY)
    assert exc.value.reason == reason


def test_future_birth_date_rejected():
    from app.services.identity.idnumbers import id_check_char

    first17 = "44010620300101001"
    with pytest.raises(InvalidIdNumber) as exc:
        validate_id_number(first17 + id_check_char(first17), today=TODAY)
    assert exc.value.reason == "birth_date"


def test_credit_code_checksum():
    # A published example code (GB 32100 check character "3").
    assert validate_credit_code("91350100M000100Y43") == "91350100M000100Y43"
    with pytest.raises(InvalidIdNumber) as exc:
        validate_credit_code("91350100M000100Y44")
    assert exc.value.reason == "checksum"
    with pytest.raises(InvalidIdNumber):
        validate_credit_code("91350100M000100Y4")
    with pytest.raises(InvalidIdNumber):
        validate_credit_code("9135010OM000100Y43")  # letter O is not in the alphabet


def test_full_width_digits_normalise_to_the_one_ascii_spelling():
    # A Chinese keyboard types full-width digits; the number (and so its blind index) must be
    # the same as typed in ASCII, or one ID number could be bound to two accounts.
    full_width = "１１０１０５１９４９１２３１００２Ｘ"
    assert validate_id_number(full_width, today=TODAY) == validate_id_number("11010519491231002X", today=TODAY)
    assert validate_id_number("110105" + full_width[6:], today=TODAY)[0] == "11010519491231002X"


@pytest.mark.parametrize("value", ["²1010519491231002X", "١١٠١٠٥١٩٤٩١٢٣١٠٠٢X", "११०१०५१९४९१२३१००२X"])
def test_other_unicode_digits_are_refused_not_crashing(value):
    with pytest.raises(InvalidIdNumber):
        validate_id_number(value, today=TODAY)
