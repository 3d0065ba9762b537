"""The venue's bookkeeping (reserved cash and shares, open orders, cached inquiry rows) always equals a
recount from every order, whatever sequence of orders, amends, cancels, fills and expiries came before."""

from __future__ import annotations

import random

from kisoms.domain.codes import Side
from kisoms.sim.scenario import default_scenario
from kisoms.sim.server import Simulator
from kisoms.sim.venue import PRICED, Reject
from kisoms.sim.views import daily_row, daily_summary

ACCOUNT = "50000001-01"
WHEN = ("20261125", "090000")


def recount(venue) -> tuple[int, dict, list[str]]:
    live = [o for o in venue.orders.values() if o.kind != "cancel" and o.remaining > 0]
    cash = sum(o.remaining * (o.price if o.ord_dvsn in PRICED else venue.limits(o.symbol)[1])
               for o in live if o.account == ACCOUNT and o.side is Side.BUY)
    shares: dict = {}
    for o in live:
        if o.side is Side.SELL:
            shares[(o.account, o.symbol)] = shares.get((o.account, o.symbol), 0) + o.remaining
    return cash, shares, [o.odno for o in live]


def random_step(venue, rng: random.Random) -> None:
    r, orders = rng.random(), list(venue.orders.values())
    try:
        if r < 0.4 or not orders:
            code = rng.choice(["005930", "000660"])
            tick = 100 if code == "005930" else 500
            venue.place(ACCOUNT, code, rng.choice(list(Side)), rng.choice(["00", "01"]), rng.randint(1, 5),
                        venue.prices[code] + rng.randint(-2, 2) * tick, WHEN)
        elif r < 0.6:
            o = rng.choice(orders)
            venue.change(ACCOUNT, o.odno, rng.choice(["amend", "cancel"]), rng.randint(0, 3),
                         o.price or venue.prices[o.symbol], rng.random() < 0.5, "", WHEN)
        elif r < 0.85:
            o = rng.choice(orders)
            venue.fill(o, rng.randint(1, 3), venue.prices[o.symbol], WHEN)
        else:
            venue.expire_unfillable(rng.choice(orders), WHEN)
    except Reject:
        pass


def test_bookkeeping_equals_a_recount_after_any_sequence():
    sim = Simulator(default_scenario().model_copy(update={"auto_fill": False}))
    venue, rng = sim.venue, random.Random(20261125)
    for step in range(600):
        random_step(venue, rng)
        cash, shares, live = recount(venue)
        assert venue._reserved_cash(ACCOUNT) == cash, step
        assert all(venue._reserved_shares(*key) == n for key, n in shares.items()), step
        assert [o.odno for o in venue.open_orders()] == live, step
        if step % 7 == 0:  # the cached rows of an inquiry are never stale
            fresh = [daily_row(venue, o) for o in venue.orders.values() if o.account == ACCOUNT]
            assert sim.books(ACCOUNT, "", "", "", "", "00", "00") == fresh, step
            assert sim.books(ACCOUNT, "", "", "", "", "00", "00") == fresh, step
            mine = [o for o in venue.orders.values() if o.account == ACCOUNT]
            assert sim.daily_summary(ACCOUNT, "", "", "", "", "00", "00") == daily_summary(mine), step


def test_a_replaced_order_book_is_reindexed():
    sim = Simulator(default_scenario().model_copy(update={"auto_fill": False}))
    venue = sim.venue
    venue.place(ACCOUNT, "005930", Side.BUY, "00", 3, 70000, WHEN)
    assert venue._reserved_cash(ACCOUNT) == 210000
    venue.orders = {}  # what loading a state file does
    assert venue._reserved_cash(ACCOUNT) == 0 and venue.open_orders() == []
