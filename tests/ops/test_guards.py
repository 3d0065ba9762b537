"""Account guards refuse inside the claim: nothing sent, the refusal recorded, exit 3 from the CLI."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from engine_helpers import ACCOUNT, broker_orders, make_settings, write_config
from engine_helpers import intent as make_intent
from kisoms.engine.clock import Clock
from kisoms.engine.runtime import open_runtime
from kisoms.engine.submit import submit
from kisoms.errors import GuardTripped, ValidationError
from test_processes import kisoms as run

START = datetime(2026, 11, 25, 0, 30, tzinfo=timezone.utc)  # 09:30 KST


class StepClock(Clock):
    """Time that moves only when the test says."""

    def __init__(self, at: datetime):
        self.at = at

    def now(self) -> datetime:
        return self.at


def _runtime(sim, tmp_path, clock=None, **guards):
    settings = make_settings(sim, tmp_path, guards={ACCOUNT: guards})
    return open_runtime(settings, clock=clock or StepClock(START))


def _refused(rt, n, **overrides) -> GuardTripped:
    with pytest.raises(GuardTripped) as err:
        submit(rt, make_intent(n, **overrides))
    order = rt.ledger.list_orders()[-1]
    assert order.status.value == "REJECTED" and order.reject_code.startswith("GUARD:")
    return err.value


def test_guards_are_off_by_default(sim, tmp_path):
    with open_runtime(make_settings(sim, tmp_path)) as rt:
        for n in range(4):
            submit(rt, make_intent(n, qty=10))
    assert len(broker_orders(sim)) == 4


def test_orders_per_minute_counts_the_last_sixty_seconds(sim, tmp_path):
    clock = StepClock(START)
    with _runtime(sim, tmp_path, clock, max_orders_per_minute=2) as rt:
        submit(rt, make_intent(1))
        clock.at += timedelta(seconds=30)
        submit(rt, make_intent(2))
        assert _refused(rt, 3).codes == ["GUARD_ORDERS_PER_MINUTE"]
        clock.at += timedelta(seconds=31)  # the first is now older than a minute
        assert submit(rt, make_intent(4)).sent
    assert len(broker_orders(sim)) == 3


def test_open_orders_and_daily_notional(sim, tmp_path):
    with _runtime(sim, tmp_path, max_open_orders=2, max_notional_per_day=2_000_000) as rt:
        submit(rt, make_intent(1, qty=10))  # 700,000
        submit(rt, make_intent(2, qty=10))  # 1,400,000
        assert set(_refused(rt, 3, qty=10).codes) == {"GUARD_OPEN_ORDERS", "GUARD_NOTIONAL_PER_DAY"}
        assert _refused(rt, 4, order_type="market", price=None).codes[-1] == "GUARD_NOTIONAL_UNKNOWN"
    assert len(broker_orders(sim)) == 2


def test_position_per_symbol_counts_fills_and_open_buys_and_lets_sells_through(sim, tmp_path):
    with _runtime(sim, tmp_path, max_position_per_symbol=15) as rt:
        submit(rt, make_intent(1, qty=10))
        assert _refused(rt, 2, qty=6).codes == ["GUARD_POSITION"]
        assert submit(rt, make_intent(3, qty=5)).sent
        assert submit(rt, make_intent(4, side="sell", qty=5, price=71000)).sent


def test_a_refusal_is_a_validation_error_recorded_in_the_ledger(sim, tmp_path):
    with _runtime(sim, tmp_path, max_open_orders=1) as rt:
        submit(rt, make_intent(1))
        error = _refused(rt, 2)
        assert isinstance(error, ValidationError)
        order = rt.ledger.list_orders()[-1]
        assert "GUARD_OPEN_ORDERS" in order.reject_reason and order.broker_order_no is None
        kinds = [(e.kind, e.payload.get("status")) for e in rt.ledger.events_since(0)]
        assert ("order.transition", "REJECTED") in kinds
        again = _refused_again(rt)
        assert again.id == order.id  # the same intent returns the refused order; nothing sent
    assert len(broker_orders(sim)) == 1


def _refused_again(rt):
    return submit(rt, make_intent(2)).order


def test_the_cli_exits_3_and_says_which_guard(sim, tmp_path):
    config = write_config(sim, tmp_path, guards={ACCOUNT: {"max_open_orders": 1}})
    line = json.dumps(make_intent(1).model_dump(mode="json"))
    assert run(config, "submit", "--intent", "-", stdin=line).returncode == 0
    second = run(config, "submit", "--intent", "-", stdin=json.dumps(make_intent(2).model_dump(mode="json")))
    assert second.returncode == 3 and "GUARD_OPEN_ORDERS" in second.stderr and "Traceback" not in second.stderr
    assert len(broker_orders(sim)) == 1


def test_a_bad_guard_value_is_a_config_error(sim, tmp_path):
    config = write_config(sim, tmp_path, guards={ACCOUNT: {"max_open_orders": 0}})
    out = run(config, "status")
    assert out.returncode == 2 and "guards" in out.stderr and "max_open_orders" in out.stderr
