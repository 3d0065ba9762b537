"""The change writer's shortcuts give what the plain way gives: ``revised`` is ``dataclasses.replace``, and
``changed_columns`` finds exactly the columns where the two orders' rows differ, with their stored values."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta, timezone

import pytest
from ledger_helpers import SIGNAL_TS, make_order

from kisoms.domain.codes import Exchange, OrderType, Side
from kisoms.domain.states import OrderStatus
from kisoms.ledger.records import ORDER_COLUMNS, changed_columns, order_to_row, revised

KST = timezone(timedelta(hours=9))
BASE = replace(make_order(), id=7, version=3, created_at=SIGNAL_TS, updated_at=SIGNAL_TS)

CHANGES = [
    {}, {"version": 4}, {"status": OrderStatus.SENDING, "version": 4, "updated_at": SIGNAL_TS + timedelta(seconds=1)},
    {"filled_qty": 3, "filled_amount": 210000}, {"cancelled_qty": 7}, {"price": 70100}, {"price": None},
    {"price": 70000.0}, {"tags": {"desk": "t"}}, {"tags": {"desk": "u"}}, {"tags": {}}, {"tags": {"desk": "t", "n": 1}},
    {"tags": {"desk": "t", "x": 1}}, {"tags": {"desk": "t", "x": 1.0}},
    {"updated_at": SIGNAL_TS.astimezone(KST)}, {"created_at": SIGNAL_TS + timedelta(microseconds=1)},
    {"signal_ts": SIGNAL_TS.astimezone(KST)}, {"side": Side.SELL}, {"order_type": OrderType.MARKET},
    {"exchange": Exchange.NXT} if hasattr(Exchange, "NXT") else {"exchange": Exchange.KRX},
    {"broker_order_no": "0000000001", "krx_orgno": "06010", "order_date": "20261125"},
    {"reject_code": "APBK0919", "reject_reason": "x", "price_note": ""}, {"idempotency_key": "other"},
]


@pytest.mark.parametrize("change", CHANGES)
def test_changed_columns_are_the_row_diff(change):
    base = revised(BASE, tags={"desk": "t", "x": 1}) if "x" in change.get("tags", {}) else BASE
    after = replace(base, **change)
    old, new = order_to_row(base), order_to_row(after)
    expected = {c: (old[c], new[c]) for c in ORDER_COLUMNS if old[c] != new[c]}
    assert changed_columns(base, after) == expected
    assert list(changed_columns(base, after)) == [c for c in ORDER_COLUMNS if c in expected]  # column order


@pytest.mark.parametrize("change", CHANGES)
def test_revised_is_replace(change):
    assert revised(BASE, **change) == replace(BASE, **change)
    assert revised(BASE, **change).__dict__ == replace(BASE, **change).__dict__


def test_revised_refuses_an_unknown_field_and_leaves_the_original_alone():
    with pytest.raises(TypeError, match="colour"):
        revised(BASE, colour="red")
    copy = revised(BASE, version=9)
    assert BASE.version == 3 and copy.version == 9 and copy is not BASE
    with pytest.raises(AttributeError):
        copy.version = 10  # still frozen
    assert BASE.updated_at.tzinfo is timezone.utc


def test_revised_keeps_a_subclass_through_replace():
    from dataclasses import dataclass

    from kisoms.domain.order import Order

    @dataclass(frozen=True)
    class Noted(Order):
        note: str = ""

    noted = Noted(**BASE.__dict__, note="n")
    copy = revised(noted, version=4)
    assert type(copy) is Noted and copy.note == "n" and copy.version == 4
