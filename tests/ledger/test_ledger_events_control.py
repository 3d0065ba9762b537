"""The event feed, the kill switch and external orders."""

from __future__ import annotations

from ledger_helpers import make_order

from kisoms.domain.states import OrderEvent
from kisoms.ledger import Ledger


def test_events_are_monotonic_and_gap_free(ledger):
    for i in range(5):
        order, _ = ledger.create(make_order(strategy=f"s{i}"), source="t")
        ledger.transition(order.id, OrderEvent.CLAIM, source="t")
    ledger.publish("connection.up", {"detail": "ok"})
    ids = [e.id for e in ledger.events_since(0)]
    assert ids == list(range(1, 12)) and ledger.last_event_id() == 11
    assert [e.id for e in ledger.events_since(7)] == [8, 9, 10, 11]
    assert [e.id for e in ledger.events_since(2, limit=3)] == [3, 4, 5]
    assert ledger.events_since(11) == []
    ts = [e.ts for e in ledger.events_since(0)]
    assert ts == sorted(ts)


def test_event_as_dict_and_summary(ledger):
    order, _ = ledger.create(make_order(), source="t")
    event = ledger.events_since(0)[0]
    d = event.as_dict()
    assert (d["id"], d["kind"], d["order_id"]) == (1, "order.created", order.id)
    assert isinstance(d["ts"], str) and "NEW" in event.summary()
    eid = ledger.publish("reconcile.finished", {"checked": 3, "changes": []})
    assert ledger.events_since(eid - 1)[0].summary() == "checked=3"


def test_halt_persists_across_reopen(path, clock):
    with Ledger(path, now=clock) as ledger:
        assert ledger.halt_state() is None
        ledger.set_halt("unknown outcome of order 3", source="recovery")
    with Ledger(path, now=clock) as ledger:
        halt = ledger.halt_state()
        assert (halt.reason, halt.set_by) == ("unknown outcome of order 3", "recovery")
        assert halt.set_at.tzinfo is not None
        ledger.clear_halt(source="operator")
        ledger.clear_halt(source="operator")  # already off: nothing written
        kinds = [e.kind for e in ledger.events_since(0)]
    with Ledger(path, now=clock) as ledger:
        assert ledger.halt_state() is None
    assert kinds == ["halt.set", "halt.cleared"]


def test_external_orders_recorded_once(ledger):
    args = dict(order_date="20261125", broker_order_no="0000777", account="50000001-01", symbol="005930",
                side="sell", qty=3, price=71000, raw={"ODNO": "0000777"})
    assert ledger.record_external(**args) is True
    assert ledger.record_external(**args) is False
    [ext] = ledger.external_orders()
    assert (ext["broker_order_no"], ext["qty"], ext["raw"]) == ("0000777", 3, {"ODNO": "0000777"})
    assert [e.kind for e in ledger.events_since(0)] == ["external.recorded"]


def test_an_account_halt_stops_that_account_only(ledger):
    ledger.set_halt("order 3 unknown", source="recovery", account="50000001-01")
    assert ledger.halt_state("50000001-01").account == "50000001-01"
    assert ledger.halt_state("50000002-01") is None
    assert ledger.halt_state() is not None  # something is halted
    ledger.set_halt("by hand", source="operator")
    assert ledger.halt_state("50000002-01").account is None  # the global switch stops every account
    assert [h.scope for h in ledger.halts()] == ["all accounts", "account 50000001-01"]


def test_resume_of_one_account_leaves_the_others(ledger):
    for account in ("50000001-01", "50000002-01"):
        ledger.set_halt(f"doubt about {account}", source="recovery", account=account)
    ledger.clear_halt(source="operator", account="50000001-01")
    ledger.clear_halt(source="operator", account="50000001-01")  # already off: nothing written
    assert [h.account for h in ledger.halts()] == ["50000002-01"]
    ledger.set_halt("by hand", source="operator")
    ledger.clear_halt(source="operator")  # no account: the global switch only
    assert [h.account for h in ledger.halts()] == ["50000002-01"]
    ledger.clear_halt(source="operator", everything=True)
    assert ledger.halts() == []
    cleared = [e.payload for e in ledger.events_since(0) if e.kind == "halt.cleared"]
    assert [(c["account"], c["everything"]) for c in cleared] == [("50000001-01", False), (None, False),
                                                                   (None, True)]
    assert "doubt about 50000002-01" in cleared[2]["previous_reason"]
    assert ledger.verify_audit_chain() == 6
