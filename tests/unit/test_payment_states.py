"""The order state machine table and the pure money rules."""

from __future__ import annotations

from datetime import date

import pytest

from app.sandbox.tax import tax_late_fee
from app.sandbox.traffic import fine_late_fee
from app.services.payments.ledger import backoff, new_order_no, settlement_id_for
from app.services.payments.states import (
    LIVE_STATES,
    TRANSITIONS,
    InvalidTransition,
    OrderStatus,
    next_status,
    sources_of,
)


def test_happy_path_goes_created_paying_paid_settled() -> None:
    state = OrderStatus.CREATED
    for event, expected in (("channel_opened", "paying"), ("payment_confirmed", "paid"),
                            ("settlement_accepted", "settled")):
        state = next_status(state, event)
        assert state == expected


@pytest.mark.parametrize("state,event", [
    ("settled", "payment_confirmed"),  # a late duplicate notify never moves a settled order
    ("refunded", "payment_confirmed"),
    ("paid", "expired"),  # an order with money is never closed
    ("settled", "expired"),
    ("created", "settlement_accepted"),  # settling needs a payment first
    ("paying", "settlement_accepted"),
    ("closed", "settlement_accepted"),
    ("refunded", "refund_requested"),
    ("paying", "refund_requested"),
    ("settled", "refund_requested"),  # a settled payment is refunded only behind a reversal at the agency
    ("paid", "reversal_requested"),  # nothing at the agency to reverse
    ("settled", "settlement_reversed"),
    ("refunded", "reversal_refused"),
    ("paid", "channel_switched"),  # a payment found while switching channel is never closed
    ("settled", "channel_switched"),
])
def test_forbidden_transitions_raise(state: str, event: str) -> None:
    with pytest.raises(InvalidTransition):
        next_status(state, event)


def test_only_an_unpaid_order_is_closed_for_a_switch_of_channel() -> None:
    assert sources_of("channel_switched") == {OrderStatus.CREATED, OrderStatus.PAYING}
    assert next_status("paying", "channel_switched") == OrderStatus.CLOSED


def test_every_event_leads_to_one_state() -> None:
    for event in {ev for (_, ev) in TRANSITIONS}:
        targets = {TRANSITIONS[(src, event)] for src in sources_of(event)}
        assert len(targets) == 1, event


def test_a_settled_refund_goes_through_the_agency_first() -> None:
    assert next_status("settled", "reversal_requested") == OrderStatus.REFUNDING
    assert next_status("refunding", "settlement_reversed") == OrderStatus.REFUNDING
    assert next_status("refunding", "refund_completed") == OrderStatus.REFUNDED
    # the agency said no: nothing moved, still settled
    assert next_status("refunding", "reversal_refused") == OrderStatus.SETTLED
    # reversed, then the channel refused the refund: the money is ours alone again
    assert next_status("refunding", "refund_failed_paid") == OrderStatus.PAID


def test_reversal_ids_are_ours_and_stable() -> None:
    from app.services.payments.ledger import reversal_id_for

    assert reversal_id_for("P20261122000000ABCDEF0123") == "V20261122000000ABCDEF0123"


def test_only_a_reversal_can_be_refused_by_fault() -> None:
    from app.sandbox.tax import FaultKnobs

    knobs = FaultKnobs()
    knobs.configure({"reverse": {"mode": "refuse", "times": 1}})
    with pytest.raises(ValueError):
        knobs.configure({"settle": {"mode": "refuse"}})
    rule = knobs.draw("reverse")
    assert rule is not None and rule.mode == "refuse"
    assert knobs.draw("reverse") is None  # `times` used up


def test_late_payment_after_close_is_still_recorded() -> None:
    assert next_status("closed", "payment_confirmed") == OrderStatus.PAID


def test_live_states_hold_the_bill() -> None:
    assert OrderStatus.CLOSED not in LIVE_STATES and OrderStatus.REFUNDED not in LIVE_STATES
    assert OrderStatus.PAYING in LIVE_STATES and OrderStatus.SETTLED in LIVE_STATES


def test_fine_late_fee_is_three_percent_a_day_capped_at_the_fine() -> None:
    due = date(2026, 1, 10)
    assert fine_late_fee(20_000, due, date(2026, 1, 10)) == 0
    assert fine_late_fee(20_000, due, date(2026, 1, 11)) == 600
    assert fine_late_fee(20_000, due, date(2026, 1, 20)) == 6_000
    assert fine_late_fee(20_000, due, date(2026, 3, 1)) == 20_000  # 行政处罚法 art. 72 cap
    assert fine_late_fee(20_000, None, date(2026, 3, 1)) == 0


def test_tax_late_fee_is_half_a_permille_a_day() -> None:
    assert tax_late_fee(1_000_000, date(2026, 1, 1), date(2026, 1, 11)) == 5_000
    assert tax_late_fee(1_000_000, date(2026, 1, 1), date(2026, 1, 1)) == 0


def test_order_numbers_fit_both_channels() -> None:
    from datetime import UTC, datetime

    number = new_order_no(datetime(2026, 11, 21, 16, 0, tzinfo=UTC))
    assert len(number) == 25 and number.isalnum() and number.startswith("P20261122")
    assert settlement_id_for(number) == "S" + number[1:]


def test_backoff_repeats_the_last_delay() -> None:
    delays = (5, 15, 3600)
    assert [backoff(delays, n).total_seconds() for n in range(5)] == [5, 15, 3600, 3600, 3600]
    # the real schedule keeps retrying for well over 24 hours at an hour apart
    schedule = (5, 15, 30, 60, 120, 300, 600, 1800, 3600)
    assert sum(backoff(schedule, n).total_seconds() for n in range(40)) > 24 * 3600


def test_daily_reconciliation_waits_for_its_hour() -> None:
    from datetime import UTC, datetime

    from app.services.payments.reconcile import Reconciler

    # 10:29 and 10:31 in Shanghai are 02:29 and 02:31 UTC.
    assert Reconciler.day_due(datetime(2026, 11, 21, 2, 29, tzinfo=UTC), at="10:30") is None
    assert Reconciler.day_due(datetime(2026, 11, 21, 2, 31, tzinfo=UTC), at="10:30") == date(2026, 11, 20)
