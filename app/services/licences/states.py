"""The licence status machine: every allowed change is a row of one table; anything else raises."""

from __future__ import annotations

from enum import StrEnum


class LicenceStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    EXPIRED = "expired"


S = LicenceStatus

# (from, action) -> to. Revoked and expired are final: a new licence (or version) is issued instead.
TRANSITIONS: dict[tuple[LicenceStatus, str], LicenceStatus] = {
    (S.ACTIVE, "suspend"): S.SUSPENDED,
    (S.SUSPENDED, "reinstate"): S.ACTIVE,
    (S.ACTIVE, "revoke"): S.REVOKED,
    (S.SUSPENDED, "revoke"): S.REVOKED,
    (S.ACTIVE, "expire"): S.EXPIRED,
    (S.SUSPENDED, "expire"): S.EXPIRED,
}

ACTIONS = frozenset(action for _, action in TRANSITIONS)


def next_status(current: str, action: str) -> LicenceStatus | None:
    return TRANSITIONS.get((LicenceStatus(current), action))
