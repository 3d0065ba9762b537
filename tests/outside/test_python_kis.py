"""python-kis 2.1.6 (PyPI ``python-kis``) against the simulator, unchanged but for its host constants.

A third-party client passing here is the evidence that the simulator speaks KIS, not just kisoms. Its
execution notices parse only KIS's older 23-field layout, so the simulator is switched to it at run time
(``/_sim/config``), as a python-kis user would.
"""

from __future__ import annotations

import gc
from datetime import date
from decimal import Decimal

import pytest

from outside_helpers import Waiter, account_of, point_python_kis_at, simulator, until_subscribed

pykis = pytest.importorskip("pykis")

SYMBOL, RESTING = "005930", 60_000  # 005930 trades at 71,000: a buy at 60,000 rests on the book


def connect(sim, virtual: bool):
    """PyKis as its README has it: the real key (quotes), plus the paper key in virtual mode."""
    real, paper = sim.app_key("real"), sim.app_key("paper")
    hts_id = sim.scenario.accounts[0].hts_id
    extra = dict(virtual_id=hts_id, virtual_appkey=paper.app_key, virtual_secretkey=paper.app_secret) if virtual \
        else {}
    return pykis.PyKis(id=hts_id, account=account_of(sim), appkey=real.app_key, secretkey=real.app_secret,
                       keep_token=False, **extra)


def subscribe_executions(kis) -> tuple[Waiter, object]:
    waiter = Waiter()
    ticket = kis.account().on("execution", lambda sender, e: waiter.add(e.response))
    return waiter, ticket


def quote_and_search_info(kis) -> None:
    quote = kis.stock(SYMBOL).quote()
    assert (quote.price, quote.name, quote.market) == (Decimal(71_000), "삼성전자", "KRX")
    assert (quote.high_limit, quote.low_limit, quote.tick) == (Decimal(92_300), Decimal(49_700), Decimal(100))


def fill_notice_arrives(sim, kis, waiter: Waiter) -> None:
    order = kis.stock(SYMBOL).buy(qty=1, price=RESTING)
    sim.admin.fill(order.number, 1, 59_900)
    fill = waiter.wait(lambda e: e.order_number.number == order.number and e.executed_qty == 1)
    assert (fill.symbol, fill.price, fill.type) == (SYMBOL, Decimal(59_900), "buy")


@pytest.mark.filterwarnings("ignore:Event ticket:UserWarning")  # python-kis's own internal tickets, on exit
@pytest.mark.parametrize("virtual", [False, True], ids=["real", "virtual"])
def test_python_kis_trades_against_the_simulator(monkeypatch, virtual):
    with simulator(notice_layout="legacy") as sim:
        point_python_kis_at(sim, monkeypatch)
        kis = connect(sim, virtual)
        kis.websocket.reconnect = False  # stop with the simulator, never look for KIS's real hosts
        try:
            run_python_kis(sim, kis, virtual)
            gc.collect()  # python-kis's tickets unsubscribe when collected: while still connected
        finally:
            kis.websocket.disconnect()


def run_python_kis(sim, kis, virtual: bool) -> None:
    waiter, ticket = subscribe_executions(kis)
    until_subscribed(sim)
    quote_and_search_info(kis)
    trade_and_inquire(kis, waiter, virtual)
    fill_notice_arrives(sim, kis, waiter)
    ticket.unsubscribe()


def trade_and_inquire(kis, waiter: Waiter, virtual: bool) -> None:
    account = kis.account()
    order = kis.stock(SYMBOL).buy(qty=2, price=RESTING)
    assert order.number and order.branch == "91252"
    waiter.wait(lambda e: e.order_number.number == order.number)  # the acceptance notice
    if not virtual:  # python-kis itself refuses pending orders and amends in virtual mode (as KIS has none)
        assert [(p.number, p.qty) for p in account.pending_orders(country="KR")] == [(order.number, 2)]
        order = order.modify(price=RESTING + 1_000)
    order.cancel()
    daily = {o.number: o for o in account.daily_orders(start=date.today(), country="KR")}
    assert daily[order.number].qty == 2
    assert daily[order.number].unit_price == Decimal(RESTING + (0 if virtual else 1_000))
    balance = account.balance(country="KR")
    assert {s.symbol: s.qty for s in balance.stocks}[SYMBOL] == Decimal(1_000)
    assert balance.deposits["KRW"].amount == Decimal(100_000_000)
    orderable = kis.stock(SYMBOL).orderable_amount(price=71_000)
    assert orderable.qty == 100_000_000 // 71_000 and orderable.unit_price == Decimal(71_000)
