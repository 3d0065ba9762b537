"""Decoys wherever a broker row is matched to an order: look-alike orders (same symbol, side and quantity),
their own amends and cancels, orders placed outside kisoms (another desk, HTS) and the same terms in another
account. Each test asserts WHICH broker number was adopted, not only that one was."""

from __future__ import annotations

import pytest

from engine_helpers import ACCOUNT, RVSECNCL, inject, intent, make_settings
from kisoms.domain.codes import Side
from kisoms.domain.states import OrderStatus
from kisoms.engine.amend import cancel, modify
from kisoms.engine.reconcile import reconcile
from kisoms.engine.runtime import open_runtime
from kisoms.engine.submit import submit
from mutation_helpers import events, other_desk, request_rows

OTHER = "50000002-01"


def rows(sim, account: str = ACCOUNT) -> list[dict]:
    return sim.admin.orders(account)


def changes_of(sim, odno: str) -> list[dict]:
    return [r for r in rows(sim) if r["orgn_odno"] == odno]


def hts_change(desk, order, kind: str, qty: int, price: int = 0, all_qty: bool = False):
    """An amend or cancel of ``order`` sent by hand, outside our ledger (as from HTS)."""
    return desk.client.order_rvsecncl(order.account, order.krx_orgno, order.broker_order_no,
                                      order.order_type.ord_dvsn, kind, qty, str(price), all_qty)


@pytest.fixture
def two_accounts(tmp_path):
    from kisoms.sim.scenario import SimAccount, default_scenario
    from kisoms.sim.testing import running_simulator

    accounts = default_scenario().accounts + [SimAccount(cano="50000002", hts_id="simuser")]
    with running_simulator(accounts=accounts) as sim:
        yield sim


def _look_alikes(rt, desk, desk_price: int = 70000):
    """Our own same-terms order (amended, then partly cancelled: all mapped) and another desk's order
    with the same symbol, side and quantity with its own amend and cancel (none of them ours)."""
    ours = submit(rt, intent(strategy_version="look-alike")).order
    ours = modify(rt, ours.id, price=69500)
    ours = cancel(rt, ours.id, qty=3)
    theirs = submit(desk, intent(strategy_version="desk", price=desk_price)).order
    theirs = modify(desk, theirs.id, price=69500)
    theirs = cancel(desk, theirs.id, qty=3)
    return ours, theirs


def test_an_ambiguous_new_order_is_told_from_look_alikes_and_other_accounts(two_accounts, tmp_path):
    sim = two_accounts
    settings = make_settings(sim, tmp_path, accounts={ACCOUNT: {}, OTHER: {}})
    with open_runtime(settings) as rt, other_desk(sim, tmp_path, accounts={ACCOUNT: {}, OTHER: {}}) as desk:
        ours, theirs = _look_alikes(rt, desk, desk_price=69900)
        submit(desk, intent(9, account=OTHER, strategy_version="desk")).order  # same terms, other account
        before = {r["odno"] for r in rows(sim)}
        inject(sim, "drop_response")
        order = submit(rt, intent()).order
        [new] = [r for r in rows(sim) if r["odno"] not in before]
        assert order.broker_order_no == new["odno"] and order.status is OrderStatus.SENT
        assert events(rt, order.id) == ["created", "claim", "send_ambiguous", "broker_accepted"]
        assert rt.ledger.get(ours.id).broker_order_no != new["odno"]
        assert rt.ledger.halt_state(ACCOUNT) is None


def test_an_unmapped_same_terms_order_in_the_window_halts_instead_of_guessing(rt, sim, tmp_path):
    from kisoms.errors import OutcomeUnknown

    with other_desk(sim, tmp_path) as desk:
        theirs = submit(desk, intent(strategy_version="desk")).order
        inject(sim, "drop_response")
        with pytest.raises(OutcomeUnknown, match="2 broker orders match"):
            submit(rt, intent())
        [order] = rt.ledger.list_orders()
        assert order.status is OrderStatus.UNKNOWN and order.broker_order_no is None
        assert rt.ledger.halt_state(ACCOUNT) is not None
        assert len([r for r in rows(sim) if not r["orgn_odno"]]) == 2  # theirs and ours; nothing resent
        assert theirs.broker_order_no in {r["odno"] for r in rows(sim)}


def test_an_ambiguous_cancel_adopts_its_own_row_not_a_look_alikes(rt, sim, tmp_path):
    with other_desk(sim, tmp_path) as desk:
        ours, theirs = _look_alikes(rt, desk)
        order = submit(rt, intent()).order
        order = cancel(rt, order.id, qty=2)  # an earlier partial cancel of the same order: mapped
        [first] = changes_of(sim, order.broker_order_no)
        inject(sim, "drop_response", path=RVSECNCL, seconds=3)
        after = cancel(rt, order.id, qty=5)
        [second] = [r for r in changes_of(sim, order.broker_order_no) if r["odno"] != first["odno"]]
        assert request_rows(rt, order.id)[-2:] == [("cancel", "accepted", first["odno"]),
                                                    ("cancel", "accepted", second["odno"])]
        assert (after.cancelled_qty, after.remaining_qty, after.status) == (7, 3, OrderStatus.ACCEPTED)
        assert rt.ledger.halt_state(ACCOUNT) is None
        assert [(k, s) for k, s, _ in request_rows(rt, ours.id)] == [
            ("new", "accepted"), ("modify", "accepted"), ("cancel", "accepted")]


def test_an_ambiguous_amend_adopts_its_own_row_not_a_cancel_of_the_same_order(rt, sim, tmp_path):
    with other_desk(sim, tmp_path) as desk:
        ours, theirs = _look_alikes(rt, desk)
        order = submit(rt, intent()).order
        hts_change(desk, order, "cancel", 2)  # a cancel of our order typed into HTS: not in our ledger
        inject(sim, "drop_response", path=RVSECNCL, seconds=3)
        after = modify(rt, order.id, price=69000)
        [amend] = [r for r in changes_of(sim, order.broker_order_no) if r["sll_buy_dvsn_cd"] and
                   int(r["ord_unpr"]) == 69000]
        assert after.broker_order_no == amend["odno"] and after.price == 69000
        assert request_rows(rt, order.id)[-1] == ("modify", "accepted", amend["odno"])
        assert rt.ledger.halt_state(ACCOUNT) is None


def test_an_ambiguous_cancel_adopts_its_own_row_not_an_amend_of_the_same_order(rt, sim, tmp_path):
    with other_desk(sim, tmp_path) as desk:
        ours, theirs = _look_alikes(rt, desk)
        order = submit(rt, intent()).order
        inject(sim, "drop_response", path=RVSECNCL, seconds=3)
        after = cancel(rt, order.id, qty=4)
        [row] = changes_of(sim, order.broker_order_no)
        assert request_rows(rt, order.id)[-1] == ("cancel", "accepted", row["odno"])
        assert after.cancelled_qty == 4 and after.broker_order_no == order.broker_order_no


def test_reconcile_maps_a_hand_cancel_of_our_order_and_nothing_of_the_look_alikes(rt, sim, tmp_path):
    with other_desk(sim, tmp_path) as desk:
        ours, theirs = _look_alikes(rt, desk)
        order = submit(rt, intent()).order
        hts = hts_change(desk, order, "cancel", 2)
        report = reconcile(rt)
        assert not report.unresolved and rt.ledger.halt_state(ACCOUNT) is None
        assert request_rows(rt, order.id) == [("new", "accepted", order.broker_order_no),
                                              ("cancel", "accepted", hts.odno)]
        after = rt.ledger.get(order.id)
        assert (after.cancelled_qty, after.remaining_qty) == (2, 8)
        mine = {n for o in (ours, order) for _, _, n in request_rows(rt, o.id)}
        desk_numbers = {n for _, _, n in request_rows(desk, theirs.id)}
        assert not mine & desk_numbers
        assert {e["odno"] for e in report.external} == {theirs_original(desk, theirs)}
        assert rt.ledger.get(ours.id).cancelled_qty == 3 and rt.ledger.get(ours.id).price == 69500


def theirs_original(desk, theirs) -> str:
    return [n for k, _, n in request_rows(desk, theirs.id) if k == "new"][0]
