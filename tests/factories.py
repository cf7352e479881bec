"""Valid (checksummed) identity numbers and other test data."""

from __future__ import annotations

import itertools
import random

from app.services.identity.idnumbers import id_check_char, uscc_check_char

_counter = itertools.count(random.randrange(1, 500))


def make_id_number(region: str = "440106", birth: str = "19900101") -> str:
    seq = f"{next(_counter) % 1000:03d}"
    first17 = region + birth + seq
    return first17 + id_check_char(first17)


def make_credit_code(region: str = "440106") -> str:
    body = "91" + region + "".join(random.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(9))
    return body + uscc_check_char(body)


def random_ip() -> str:
    return f"203.0.113.{random.randrange(1, 255)}"
