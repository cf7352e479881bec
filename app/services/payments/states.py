"""The payment order state machine: every allowed transition is a row of one table.

``paying`` means the channel holds an open order the payer may still pay; ``paid`` means the money
arrived and the agency has not yet confirmed it; ``settled`` means the agency has. A transition
not in the table raises, so a late, duplicated or reordered event can never move an order back.

A settled order is refunded only in full and only after the agency has reversed (冲正) its
settlement: ``reversal_requested`` takes it to ``refunding`` while the agency is asked,
``settlement_reversed`` records the agency's yes (the channel refund goes out next) and
``reversal_refused`` takes it back to ``settled`` with no money moved. Once reversed, the agency
no longer holds the payment: a channel refund that then fails leaves the order ``paid``.
"""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    CREATED = "created"
    PAYING = "paying"
    PAID = "paid"
    SETTLED = "settled"
    CLOSED = "closed"
    REFUNDING = "refunding"
    REFUNDED = "refunded"
    FAILED = "failed"


S = OrderStatus

# (from, event) -> to
TRANSITIONS: dict[tuple[OrderStatus, str], OrderStatus] = {
    (S.CREATED, "channel_opened"): S.PAYING,
    (S.CREATED, "channel_refused"): S.FAILED,
    (S.CREATED, "expired"): S.CLOSED,
    # Our create call timed out after the channel took the order: the payer may still pay it.
    (S.CREATED, "payment_confirmed"): S.PAID,
    (S.PAYING, "payment_confirmed"): S.PAID,
    (S.PAYING, "payment_failed"): S.FAILED,
    (S.PAYING, "expired"): S.CLOSED,
    # The payer picked the other channel: closed here only after the channel closed it.
    (S.CREATED, "channel_switched"): S.CLOSED,
    (S.PAYING, "channel_switched"): S.CLOSED,
    # The channel is the truth about money: a payment it confirms after we closed still counts.
    (S.CLOSED, "payment_confirmed"): S.PAID,
    (S.FAILED, "payment_confirmed"): S.PAID,
    (S.PAID, "settlement_accepted"): S.SETTLED,
    (S.PAID, "refund_requested"): S.REFUNDING,
    (S.SETTLED, "reversal_requested"): S.REFUNDING,
    (S.REFUNDING, "settlement_reversed"): S.REFUNDING,
    (S.REFUNDING, "reversal_refused"): S.SETTLED,
    # An operator stops asking an agency that never answers: as if refused, no money moved.
    (S.REFUNDING, "reversal_abandoned"): S.SETTLED,
    (S.REFUNDING, "refund_completed"): S.REFUNDED,
    (S.REFUNDING, "partial_refund_completed_paid"): S.PAID,
    (S.REFUNDING, "refund_failed_paid"): S.PAID,
    # Refunds of settled orders opened before reversals existed (no reversal asked) end here.
    (S.REFUNDING, "partial_refund_completed_settled"): S.SETTLED,
    (S.REFUNDING, "refund_failed_settled"): S.SETTLED,
}

# A bill is taken while one of its orders is in one of these states.
LIVE_STATES = frozenset({S.CREATED, S.PAYING, S.PAID, S.SETTLED, S.REFUNDING})
# States in which the payer's money sits with us or the agency.
MONEY_HELD_STATES = frozenset({S.PAID, S.SETTLED, S.REFUNDING})
TERMINAL_STATES = frozenset({S.REFUNDED})


class InvalidTransition(Exception):
    def __init__(self, current: OrderStatus, event: str):
        super().__init__(f"event {event!r} is not allowed in state {current.value!r}")
        self.current = current
        self.event = event


def next_status(current: OrderStatus | str, event: str) -> OrderStatus:
    """The state `event` leads to from `current`; raises InvalidTransition when not allowed."""
    state = OrderStatus(current)
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition(state, event) from None


def sources_of(event: str) -> frozenset[OrderStatus]:
    """Every state from which `event` is allowed (for conditional UPDATE ... WHERE status IN ...)."""
    return frozenset(src for (src, ev) in TRANSITIONS if ev == event)
