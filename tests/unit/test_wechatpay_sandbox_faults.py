"""The channel sandboxes' fault book: knobs are validated, counted down, and filtered by order."""

from __future__ import annotations

import random

import pytest

from app.sandbox._paychannel import FaultBook, FaultSpecError
from app.sandbox.wechatpay import FORGE_VARIANTS, OPERATIONS


def _book(seed: int = 7) -> FaultBook:
    return FaultBook(operations=OPERATIONS, forge_variants=FORGE_VARIANTS, rng=random.Random(seed))


def test_a_counted_call_fault_fires_that_many_times_for_its_operation_only():
    book = _book()
    book.configure({"calls": [{"operation": "refund", "fault": "server_error", "count": 2}]})
    assert book.take_call_fault("query") is None
    assert [book.take_call_fault("refund") is not None for _ in range(3)] == [True, True, False]


def test_an_unlimited_wildcard_fault_stays_until_cleared():
    book = _book()
    book.configure({"calls": [{"operation": "*", "fault": "timeout", "count": None}]})
    assert all(book.take_call_fault(op) is not None for op in OPERATIONS * 3)
    book.clear()
    assert book.take_call_fault("create") is None


def test_a_probability_fires_about_that_often():
    book = _book()
    book.configure({"calls": [{"fault": "server_error", "count": None, "probability": 0.25}]})
    fired = sum(book.take_call_fault("query") is not None for _ in range(2000))
    assert 400 < fired < 600


def test_notify_faults_can_target_one_order_and_combine():
    book = _book()
    book.configure({"notifies": [
        {"kind": "forge", "variant": "stale_timestamp", "order_no": "P1"},
        {"kind": "drop", "order_no": "P1"},
        {"kind": "duplicate", "copies": 3},
    ]})
    assert [f.kind for f in book.take_notify_faults("P2")] == ["duplicate"]
    taken = book.take_notify_faults("P1")
    assert [f.kind for f in taken] == ["forge", "drop"] and taken[0].variant == "stale_timestamp"
    assert book.take_notify_faults("P1") == []


@pytest.mark.parametrize(
    "spec",
    [
        [],
        {"calls": [{"operation": "nope", "fault": "timeout"}]},
        {"calls": [{"fault": "explode"}]},
        {"calls": [{"fault": "timeout", "count": 0}]},
        {"calls": [{"fault": "timeout", "probability": 1.5}]},
        {"notifies": [{"kind": "duplicate", "copies": 99}]},
        {"notifies": [{"kind": "forge", "variant": "nonsense"}]},
        {"bill": {"amount_diff": {"P1": 0}}},
        {"bill": {"missing": [1]}},
        {"bill": {"oops": True}},
        {"weather": "rain"},
    ],
)
def test_bad_specs_are_refused_and_change_nothing(spec):
    book = _book()
    book.configure({"calls": [{"fault": "server_error"}]})
    before = book.describe()
    with pytest.raises(FaultSpecError):
        book.configure(spec)
    assert book.describe() == before


def test_bill_faults_replace_the_previous_ones():
    book = _book()
    book.configure({"bill": {"missing": ["P1"], "extra": 2}})
    book.configure({"bill": {"duplicate": ["P2"]}})
    assert book.describe()["bill"] == {
        "missing": [], "amount_diff": {}, "duplicate": ["P2"], "extra": 0, "corrupt_hash": False,
    }
