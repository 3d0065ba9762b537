"""The Python API: kisoms.connect() and a Trade, against the real simulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import kisoms
from engine_helpers import ACCOUNT, broker_orders, intent, write_config
from kisoms.domain.states import OrderStatus
from kisoms.errors import Halted, OrderNotFound, UsageError, ValidationError

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def oms(sim, tmp_path):
    with kisoms.connect(write_config(sim, tmp_path)) as handle:
        yield handle


def test_import_kisoms_loads_neither_the_engine_nor_the_client():
    code = "import sys, kisoms; print(sorted(m for m in sys.modules if m.startswith(('kisoms.', 'httpx'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr
    assert kisoms.connect is kisoms.api.connect


def test_submit_returns_a_trade_that_follows_fills_and_cancel(oms, sim):
    trade = oms.submit(intent(1, qty=10).model_dump(mode="json"))
    assert trade.status is OrderStatus.SENT and trade.remaining == 10 and not trade.is_done
    sim.admin.fill(trade.order.broker_order_no, 4)
    from kisoms.engine.reconcile import reconcile

    reconcile(oms.runtime)
    trade = oms.refresh(trade)
    assert (trade.filled, trade.remaining, trade.status) == (4, 6, OrderStatus.PART_FILLED)
    assert sum(f.qty for f in trade.fills) == 4
    done = oms.cancel(trade)
    assert done.is_done and done.status is OrderStatus.CANCELLED and done.remaining == 0
    assert [h.status for h in done.history][0] == "NEW" and done.history[-1].status == "CANCELLED"
    assert oms.trades(open=True) == [] and [t.id for t in oms.trades(open=False)] == [trade.id]


def test_the_same_intent_twice_is_one_order(oms, sim):
    first, again = oms.submit(intent(2)), oms.submit(intent(2))
    assert first.id == again.id and len(broker_orders(sim)) == 1


def test_modify_amends_the_price(oms):
    trade = oms.modify(oms.submit(intent(3)), price=69900)
    assert trade.order.price == 69900 and not trade.is_done and trade.remaining == 10


def test_errors_are_the_kisoms_error_tree(oms, sim):
    with pytest.raises(ValidationError) as err:
        oms.submit(intent(4, price=70001))
    assert "PRICE_OFF_TICK" in err.value.codes
    with pytest.raises(UsageError):
        oms.submit({"symbol": "005930"})
    with pytest.raises(OrderNotFound):
        oms.trade(999)
    oms.halt("api test", account=ACCOUNT)
    with pytest.raises(Halted):
        oms.submit(intent(5))
    assert oms.resume(account=ACCOUNT) == []
    assert oms.submit(intent(5)).status is OrderStatus.SENT
    assert len(broker_orders(sim)) == 1


def test_events_lists_and_follows(oms):
    oms.submit(intent(6))
    seen = list(oms.events())
    assert seen and [e.id for e in seen] == sorted(e.id for e in seen)
    assert list(oms.events(since=seen[-1].id)) == []
    oms.halt("for the follower")
    polls = []
    followed = list(oms.events(since=seen[-1].id, follow=True, poll=0, stop=lambda: polls.append(1) or len(polls) > 2))
    assert followed and all(e.id > seen[-1].id for e in followed) and len(polls) == 3


def test_positions_come_from_the_broker(oms, sim):
    trade = oms.submit(intent(7, qty=3))
    sim.admin.fill(trade.order.broker_order_no, 3)
    balance = oms.positions()
    held = {h.symbol: h for h in balance.holdings}
    assert held["005930"].qty >= 3 and balance.cash is not None and balance.buying_power is not None


def _readme_example() -> str:
    match = re.search(r"<!-- api-example -->\s*```python\n(.*?)```", README.read_text(), re.S)
    assert match, "README has no api-example block"
    return match.group(1)


def test_the_readme_strategy_example_runs(sim, tmp_path):
    code = _readme_example()
    assert len(code.strip().splitlines()) <= 15
    env = {**os.environ, "KISOMS_CONFIG": str(write_config(sim, tmp_path)),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "SENT" in out.stdout and len(broker_orders(sim)) == 1
