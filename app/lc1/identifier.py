"""GB/T 36904 electronic-licence identifiers (证照标识).

Shape: `1.2.156.3005.2.<type code>.<issuer code>.<serial>.<version>.<check>`, where the type code is
the 18-character credit code of the defining authority plus a 3-character sequence, the issuer
code is the issuing authority's 18-character unified social credit code, the version is three
digits, and the check character is ISO 7064 MOD 37,36 over type code, issuer code, serial and
version concatenated without dots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ROOT = "1.2.156.3005.2"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

_TYPE_CODE = re.compile(r"[0-9A-Z]{21}")
_CREDIT_CODE = re.compile(r"[0-9A-Z]{18}")
_SERIAL = re.compile(r"[0-9A-Z]{1,64}")
_VERSION = re.compile(r"[0-9]{3}")


class InvalidIdentifier(ValueError):
    pass


def mod_37_36_check_character(text: str) -> str:
    """ISO 7064 MOD 37,36 (hybrid system) check character for upper-case alphanumerics."""
    modulus = len(ALPHABET)
    carry = modulus // 2
    for char in text:
        index = ALPHABET.find(char)
        if index < 0:
            raise InvalidIdentifier(f"character {char!r} is outside 0-9A-Z")
        carry = (((carry or modulus) * 2) % (modulus + 1) + index) % modulus
    return ALPHABET[(1 - ((carry or modulus) * 2) % (modulus + 1)) % modulus]


@dataclass(frozen=True)
class LicenceIdentifier:
    type_code: str
    issuer_code: str
    serial: str
    version: str

    def __post_init__(self) -> None:
        for name, value, pattern in (
            ("type code", self.type_code, _TYPE_CODE),
            ("issuer code", self.issuer_code, _CREDIT_CODE),
            ("serial", self.serial, _SERIAL),
            ("version", self.version, _VERSION),
        ):
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise InvalidIdentifier(f"malformed {name}")

    @property
    def check_character(self) -> str:
        return mod_37_36_check_character(
            self.type_code + self.issuer_code + self.serial + self.version
        )

    def __str__(self) -> str:
        return ".".join(
            (ROOT, self.type_code, self.issuer_code, self.serial, self.version, self.check_character)
        )

    @classmethod
    def parse(cls, text: str) -> LicenceIdentifier:
        if not isinstance(text, str) or not text.startswith(ROOT + "."):
            raise InvalidIdentifier("identifier must start with the licence root 1.2.156.3005.2")
        parts = text[len(ROOT) + 1 :].split(".")
        if len(parts) != 5:
            raise InvalidIdentifier("identifier must have five fields after the root")
        type_code, issuer_code, serial, version, check = parts
        identifier = cls(type_code, issuer_code, serial, version)
        if check != identifier.check_character:
            raise InvalidIdentifier("check character does not match")
        return identifier


# GB 32100-2015 unified social credit code: 31 characters (no I, O, S, V, Z), weighted mod 31.
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_check_character(first17: str) -> str:
    total = 0
    for char, weight in zip(first17, CREDIT_CODE_WEIGHTS, strict=True):
        index = CREDIT_CODE_ALPHABET.find(char)
        if index < 0:
            raise InvalidIdentifier(f"character {char!r} is not allowed in a credit code")
        total += index * weight
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def is_valid_credit_code(code: str) -> bool:
    if not isinstance(code, str) or len(code) != 18:
        return False
    try:
        return credit_code_check_character(code[:17]) == code[17]
    except InvalidIdentifier:
        return False


def is_valid_identifier(text: str) -> bool:
    try:
        LicenceIdentifier.parse(text)
    except InvalidIdentifier:
        return False
    return True
