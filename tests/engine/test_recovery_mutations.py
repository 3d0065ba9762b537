"""Recovery's time rules and reports, asserted at their boundaries with an injected clock (no real waiting):
the lease of a released claim, the lookup grace of a released unknown request, a dead owner's request
before its lookup deadline, the resend policy under a kill switch, crash points, and what the report says."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from engine_helpers import ACCOUNT, broker_orders, inject, intent, make_settings
from kisoms.domain.states import OrderStatus
from kisoms.engine import sending
from kisoms.engine.recovery import recover
from kisoms.engine.runtime import open_runtime
from kisoms.engine.submit import create_order, order_cash_request, submit
from kisoms.ledger import Ledger
from kisoms.ledger.control import tag_for
from mutation_helpers import StepClock, events, request_rows, step_runtime

TR = "TTTC0012U"


@pytest.fixture
def clock():
    return StepClock()


@pytest.fixture
def srt(sim, tmp_path, clock):
    """A runtime on the step clock: lease = 6 * (1 + 2 * 2) + 5 = 35s; lookup grace = 1 + 5 = 6s."""
    with step_runtime(sim, tmp_path, clock, retry={"connect_timeout": 1.0, "read_timeout": 2.0}) as rt:
        yield rt


def released_claim(rt):
    """A claim whose owner let go of it (as after an error): only time decides when it is abandoned."""
    order, _ = create_order(rt, intent())
    order, map_id = rt.ledger.claim(order.id, request=order_cash_request(order), tr_id=TR, source="test")
    assert rt.ledger.release_request(map_id)
    return order, map_id


def dead_owners_claim(rt):
    owner = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        tag = tag_for(owner.pid)
    finally:
        owner.communicate(b"")
    order, _ = create_order(rt, intent())
    with Ledger(rt.ledger.path, owner=tag, now=rt.clock.now) as other:
        return other.claim(order.id, request=order_cash_request(order), tr_id=TR, source="other")


def test_a_released_sending_claim_waits_out_its_lease_then_is_recovered(srt, sim, clock):
    order, map_id = released_claim(srt)
    clock.offset = 34.0
    report = recover(srt, "test")
    assert report.skipped_live == [order.id] and report.resolved == [] and report.unresolved == []
    assert report.waiting == [f"order {order.id}: new request {map_id}: its sending request is within its "
                              "lease/lookup window (its owner may still be at it)"]
    assert srt.ledger.get(order.id).status is OrderStatus.SENDING
    clock.offset = 36.0
    report = recover(srt, "test")
    assert report.skipped_live == [] and len(report.unresolved) == 1 and "may or may not be at the broker" in \
        report.unresolved[0]
    after = srt.ledger.get(order.id)
    assert after.status is OrderStatus.UNKNOWN and events(srt, order.id) == ["created", "claim", "send_ambiguous"]
    assert request_rows(srt, order.id) == [("new", "unknown", None)]
    assert srt.ledger.halt_state(ACCOUNT) is not None and broker_orders(sim) == []


def test_a_released_unknown_request_waits_out_the_lookup_grace(srt, sim, clock):
    order, map_id = released_claim(srt)
    srt.ledger.settle(map_id, state="unknown", order_id=order.id, event=sending.OrderEvent.SEND_AMBIGUOUS,
                      source="test")
    clock.offset = 5.5
    report = recover(srt, "test")
    assert report.skipped_live == [order.id]
    assert "its unknown request is within its lease/lookup window" in report.waiting[0]
    clock.offset = 6.5
    report = recover(srt, "test")
    assert report.skipped_live == [] and len(report.unresolved) == 1
    assert srt.ledger.halt_state(ACCOUNT) is not None and broker_orders(sim) == []


def test_a_dead_owners_claim_is_not_judged_before_its_lookup_deadline(sim, tmp_path, clock):
    settings = make_settings(sim, tmp_path, ambiguity={"lookup_window": 30.0, "policy": "resend"})
    with open_runtime(settings, clock=clock) as rt:
        order, map_id = dead_owners_claim(rt)
        report = recover(rt, "startup")  # the default: no waiting
        assert report.skipped_live == [order.id] and report.unresolved == [] and report.resolved == []
        assert report.waiting == [f"order {order.id}: new request not yet in the broker's books; run "
                                  "`kisoms reconcile` shortly"]
        assert clock.slept == [] and rt.ledger.get(order.id).status is OrderStatus.SENDING
        assert rt.ledger.halt_state(ACCOUNT) is None
        clock.offset = 31.0
        report = recover(rt, "startup")  # past the deadline, not in the books: the policy resends once
        assert report.resolved == [f"order {order.id}: new → SENT"]
        [row] = broker_orders(sim)
        assert rt.ledger.get(order.id).broker_order_no == row["odno"]


def test_a_live_owner_is_named_in_the_report(srt, sim):
    order, _ = create_order(srt, intent())
    order, map_id = srt.ledger.claim(order.id, request=order_cash_request(order), tr_id=TR, source="test")
    report = recover(srt, "test")
    host = os.uname().nodename
    assert report.waiting == [f"order {order.id}: new request {map_id}: process {os.getpid()} on {host} is still "
                              "sending it"]
    srt.ledger.settle(map_id, state="unknown", order_id=order.id, event=sending.OrderEvent.SEND_AMBIGUOUS,
                      source="test")
    report = recover(srt, "test")
    assert report.waiting[0].endswith("is still resolving it")
    assert broker_orders(sim) == []


def test_the_resend_policy_does_not_resend_while_the_kill_switch_is_on(sim, tmp_path, clock):
    settings = make_settings(sim, tmp_path, ambiguity={"policy": "resend"})
    with open_runtime(settings, clock=clock) as rt:
        order, map_id = released_claim(rt)
        rt.ledger.set_halt("checking in HTS", source="operator")
        clock.offset = 60.0
        report = recover(rt, "test")
        assert len(report.unresolved) == 1 and "not resent" in report.unresolved[0]
        assert rt.ledger.get(order.id).status is OrderStatus.UNKNOWN
    assert broker_orders(sim) == []


def test_a_found_order_is_reported_resolved(srt, sim, clock):
    order, map_id = released_claim(srt)
    placed = srt.client.order_cash(order.account, order.symbol, order.side, order.order_type.ord_dvsn, order.qty,
                                   str(order.price))  # the claim's request did reach the broker
    clock.offset = 36.0
    report = recover(srt, "test")
    assert report.resolved == [f"order {order.id}: new → SENT"] and report.unresolved == []
    assert request_rows(srt, order.id) == [("new", "accepted", placed.odno)]


class Crash(BaseException):
    pass


@pytest.mark.parametrize("point, fault, state", [("after_send", None, "sending"),
                                                 ("after_ambiguous", "drop_response", "unknown")])
def test_the_crash_points_of_a_send_leave_an_open_request_for_recovery(srt, sim, clock, monkeypatch, point, fault,
                                                                      state):
    def crash_at(name):
        if name == point:
            raise Crash(name)
    monkeypatch.setattr(sending, "crash_point", crash_at)
    if fault:
        inject(sim, fault)
    with pytest.raises(Crash):
        submit(srt, intent())
    [order] = srt.ledger.list_orders()
    assert [(r.kind, r.state, r.owner) for r in srt.ledger.open_requests(order.id)] == [("new", state, None)]
    [row] = broker_orders(sim)
    clock.offset = 40.0
    monkeypatch.undo()
    report = recover(srt, "test")
    assert report.resolved == [f"order {order.id}: new → SENT"]
    assert srt.ledger.get(order.id).broker_order_no == row["odno"] and len(broker_orders(sim)) == 1


def test_an_ambiguous_send_after_retries_is_matched_within_the_time_spent_retrying(sim, tmp_path, monkeypatch):
    """The books' time of a send that went out after retries is later than the claim by the time spent
    retrying; the match window grows by that much."""
    from kisoms.engine.retry import Backoff

    class Max:
        def uniform(self, low, high):
            return high

    clock = StepClock()
    clock.offset = -40.0  # our clock starts 40s behind; the two 20s waits bring it level with the broker's
    real = sending.backoff_for
    monkeypatch.setattr(sending, "backoff_for", lambda rt: Backoff(**{**vars(real(rt)), "rng": Max()}))
    settings = make_settings(sim, tmp_path, retry={"base_delay": 20.0, "max_delay": 20.0, "deadline": 100.0},
                             ambiguity={"match_seconds": 10})
    with open_runtime(settings, clock=clock) as rt:
        inject(sim, "rate_limit", count=2)
        inject(sim, "drop_response")  # the third call (the first two are refused before it is counted)
        order = submit(rt, intent()).order
        assert clock.slept[:2] == [20.0, 20.0]
        [row] = broker_orders(sim)
        assert order.broker_order_no == row["odno"] and order.status is OrderStatus.SENT
        assert events(rt, order.id) == ["created", "claim", "send_ambiguous", "broker_accepted"]
        assert rt.ledger.history(order.id)[2].raw_payload["tries"] == 3


def test_an_order_accepted_under_a_number_the_ledger_already_maps_is_never_resent_nor_matched(srt, sim, clock):
    from kisoms.engine.clock import kst_ymd
    from kisoms.errors import OutcomeUnknown

    first = submit(srt, intent(1, strategy_version="first", price=69000)).order
    taken = f"{int(first.broker_order_no) + 1:010d}"  # the simulator numbers orders one after another
    stale, _ = create_order(srt, intent(2, strategy_version="stale", price=68000))
    stale, map_id = srt.ledger.claim(stale.id, request=order_cash_request(stale), tr_id=TR, source="test")
    number = {"broker_order_no": taken, "krx_orgno": "91252", "order_date": kst_ymd(clock.now())}
    srt.ledger.settle(map_id, state="accepted", order_id=stale.id, event=sending.OrderEvent.BROKER_ACCEPTED,
                      source="test", map_fields=number, order_fields=number)
    with pytest.raises(OutcomeUnknown, match=f"as number {taken}, which the ledger already maps"):
        submit(srt, intent())
    order = srt.ledger.get_by_key(srt.ledger.list_orders()[-1].idempotency_key)
    assert order.status is OrderStatus.UNKNOWN and order.broker_order_no is None
    [request] = srt.ledger.open_requests(order.id)
    assert request.state == "unknown" and sending.accepted_as(request) == taken
    assert srt.ledger.halt_state(ACCOUNT) is not None and "kisoms resume" in srt.ledger.halt_state(ACCOUNT).reason
    assert [r["odno"] for r in broker_orders(sim)] == [first.broker_order_no, taken]
    clock.offset = 60.0
    report = recover(srt, "test", wait=True)
    assert len(report.unresolved) == 1 and "never resent nor matched again" in report.unresolved[0]
    assert srt.ledger.get(order.id).status is OrderStatus.UNKNOWN and len(broker_orders(sim)) == 2


def test_the_lookup_window_counts_from_when_the_send_became_ambiguous(srt, sim, clock):
    """A send that hung for 5s before failing: the books get their full lookup window after that."""
    from kisoms.errors import BrokerTimeout, OutcomeUnknown

    def hangs(*args, **kwargs):
        clock.offset += 5.0
        raise BrokerTimeout("no answer in time", maybe_sent=True)
    srt.client.order_cash = hangs
    with pytest.raises(OutcomeUnknown):
        submit(srt, intent())
    [order] = srt.ledger.list_orders()
    [request] = srt.ledger.broker_numbers(order.id)
    assert (request.last_activity - request.sent_at).total_seconds() >= 5.0
    assert 0.0 < sum(clock.slept) <= 1.0  # it still looked for the full window (1s) after the hang
    assert order.status is OrderStatus.UNKNOWN and broker_orders(sim) == []


def test_a_halted_account_sends_nothing_and_leaves_abandoned_look_alikes_alone(srt, sim, clock):
    from kisoms.errors import Halted

    twin, map_id = released_claim(srt)
    srt.ledger.set_halt("checking an order in HTS", source="operator", account=ACCOUNT)
    clock.offset = 36.0  # the look-alike's claim is abandoned by now
    with pytest.raises(Halted, match="checking an order in HTS"):
        submit(srt, intent(strategy_version="other"))
    assert srt.ledger.get(twin.id).status is OrderStatus.SENDING
    assert [(r.id, r.state) for r in srt.ledger.open_requests(twin.id)] == [(map_id, "sending")]
    assert srt.ledger.halt_state(ACCOUNT).reason == "checking an order in HTS"
    assert broker_orders(sim) == []


def test_a_reply_that_arrives_after_a_notice_moved_the_order_still_settles_its_request(srt, sim):
    """The fill notice beat the REST reply: the order is already FILLED, so BROKER_ACCEPTED no longer
    applies; the request is closed with the broker's number and the order stays FILLED."""
    from kisoms.domain.states import OrderEvent, Quantities

    real = srt.client.order_cash

    def reply_after_the_fill(*args, **kwargs):
        ack = real(*args, **kwargs)
        [order] = srt.ledger.list_orders()
        srt.ledger.transition(order.id, OrderEvent.FILL, source="notice", quantities=Quantities(10, 10),
                              filled_amount=700000)
        return ack
    srt.client.order_cash = reply_after_the_fill
    result = submit(srt, intent())
    [row] = broker_orders(sim)
    assert result.order.status is OrderStatus.FILLED
    assert request_rows(srt, result.order.id) == [("new", "accepted", row["odno"])]
    assert srt.ledger.open_requests(result.order.id) == []
