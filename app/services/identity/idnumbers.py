"""Checksums of Chinese identity numbers: resident ID (GB 11643) and credit code (GB 32100)."""

from __future__ import annotations

import unicodedata
from datetime import date

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# GB/T 2260 province-level codes (first two digits of every region code).
PROVINCE_CODES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82".split()
)


class InvalidIdNumber(ValueError):
    """The reason is one of: format, checksum, birth_date, region."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def id_check_char(first17: str) -> str:
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def validate_id_number(value: str, *, today: date) -> tuple[str, date]:
    """Normalise and check an 18-digit resident ID number; returns (number, birth date)."""
    # NFKC turns full-width digits (a Chinese keyboard's) into ASCII ones; anything else that
    # str.isdigit() accepts (superscripts, other scripts' digits) is refused, so one number has
    # one spelling and one blind index.
    number = unicodedata.normalize("NFKC", value).strip().upper()
    if (
        len(number) != 18
        or not number.isascii()
        or not number[:17].isdigit()
        or not (number[17].isdigit() or number[17] == "X")
    ):
        raise InvalidIdNumber("format")
    if id_check_char(number[:17]) != number[17]:
        raise InvalidIdNumber("checksum")
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdNumber("birth_date") from None
    if birth > today or birth.year < today.year - 130:
        raise InvalidIdNumber("birth_date")
    region = number[:6]
    if region[:2] not in PROVINCE_CODES or region[2:] == "0000":
        raise InvalidIdNumber("region")
    return number, birth


_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check_char(first17: str) -> str:
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31]


def validate_credit_code(value: str) -> str:
    """Normalise and check an 18-character unified social credit code (GB 32100)."""
    code = unicodedata.normalize("NFKC", value).strip().upper()
    if len(code) != 18 or any(c not in _USCC_CHARS for c in code) or not code[2:8].isdigit():
        raise InvalidIdNumber("format")
    if uscc_check_char(code[:17]) != code[17]:
        raise InvalidIdNumber("checksum")
    if code[2:4] not in PROVINCE_CODES:
        raise InvalidIdNumber("region")
    return code
