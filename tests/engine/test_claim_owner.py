"""Who may take over a claim: a live owner's never, a dead owner's at once, and where the owner cannot be
checked, only once its lease has run out since its *last* attempt (not since the claim)."""

from __future__ import annotations

import clocks

import subprocess
import sys
from datetime import timedelta

import pytest

from engine_helpers import broker_orders, inject, intent
from kisoms.domain.states import OrderStatus
from kisoms.engine.reconcile import reconcile
from kisoms.engine.recovery import is_abandoned, lease_seconds, recover
from kisoms.engine.sending import deliver
from kisoms.engine.submit import create_order, order_cash_request, submit
from kisoms.errors import BrokerTransportError, OutcomeUnknown
from kisoms.ledger import Ledger


def _claim_as(rt, owner: str, now=None):
    order, _ = create_order(rt, intent())
    with Ledger(rt.ledger.path, owner=owner, now=now or clocks.now) as other:
        return other.claim(order.id, request=order_cash_request(order), tr_id="TTTC0012U", source="other")


def _tag(pid: int) -> str:
    from kisoms.ledger.control import tag_for

    return tag_for(pid)


def _later(rt, seconds: float) -> None:
    base = clocks.now()
    rt.clock.now = lambda: base + timedelta(seconds=seconds)


def test_a_live_owners_claim_is_left_alone_however_old_then_recovered_once_it_dies(rt, sim):
    owner = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        order, _ = _claim_as(rt, _tag(owner.pid))
        _later(rt, 3600)  # an hour: any time-based lease would have run out
        report = recover(rt, "test")
        assert report.skipped_live == [order.id] and rt.ledger.get(order.id).status is OrderStatus.SENDING
        assert any(f"order {order.id}" in line and f"process {owner.pid}" in line for line in reconcile(rt).in_flight)
    finally:
        owner.communicate(b"")
    report = recover(rt, "test")  # the owner is gone: looked up now, not found, the documented halt
    assert rt.ledger.get(order.id).status is OrderStatus.UNKNOWN and report.unresolved
    assert rt.ledger.halt_state() is not None and broker_orders(sim) == []


def test_without_an_owner_to_check_the_lease_runs_from_the_last_attempt(rt):
    t = [clocks.now()]
    order, map_id = _claim_as(rt, f"elsewhere|{1}|1", now=lambda: t[0])  # another host: time decides
    lease = lease_seconds(rt)
    rt.clock.now = lambda: t[0]
    t[0] += timedelta(seconds=lease - 1)
    with Ledger(rt.ledger.path, now=lambda: t[0]) as owner:
        assert owner.stamp_attempt(map_id)  # the owner retried just before its lease ran out
    t[0] += timedelta(seconds=lease - 1)
    [request] = rt.ledger.open_requests()
    assert not is_abandoned(rt, request)  # long after the claim, but not after the last attempt
    t[0] += timedelta(seconds=2)
    assert is_abandoned(rt, request)


def test_a_claim_taken_over_while_waiting_to_retry_is_not_sent_again(rt):
    order, map_id = _claim_as(rt, rt.ledger.owner)
    calls = []

    def call():
        calls.append(1)
        # meanwhile another process judged the claim and moved it on
        rt.ledger.settle(map_id, state="unknown", order_id=order.id, source="other",
                         event=None)
        raise BrokerTransportError("connection refused", maybe_sent=False)

    with pytest.raises(OutcomeUnknown, match="taken over"):
        deliver(rt, order, map_id, "new", call, "test")
    assert len(calls) == 1


def test_retries_stamp_the_claim(rt, sim):
    inject(sim, "rate_limit", count=2)
    order = submit(rt, intent()).order
    [request] = rt.ledger.broker_numbers(order.id)
    assert request.last_attempt_at is not None and request.last_attempt_at > request.sent_at
    assert len(broker_orders(sim)) == 1


def test_an_owner_that_gives_up_on_a_request_releases_it_to_recovery(sim, tmp_path):
    from engine_helpers import make_settings
    from kisoms.engine.runtime import open_runtime

    inject(sim, "reset_before_accept")  # maybe sent, in fact never booked
    with open_runtime(make_settings(sim, tmp_path, ambiguity={"lookup_window": 0.2})) as rt:
        with pytest.raises(OutcomeUnknown):
            submit(rt, intent())  # not in the books within the window: the documented halt
        [request] = rt.ledger.open_requests()
        assert request.state == "unknown" and request.owner is None  # this (living) process let go of it
        claim_event = next(e for e in rt.ledger.events_since(0) if e.payload.get("event") == "claim")
        assert claim_event.payload["owner"] == rt.ledger.owner  # who sent it stays traceable
        _later(rt, rt.settings.ambiguity.lookup_window + 6)
        assert is_abandoned(rt, request)  # cron's reconcile may now finish it


def test_a_policy_resend_waits_for_a_twin_in_flight_instead_of_halting(sim, tmp_path):
    from engine_helpers import make_settings
    from kisoms.domain.states import OrderEvent
    from kisoms.engine.runtime import open_runtime

    with open_runtime(make_settings(sim, tmp_path, ambiguity={"policy": "resend", "lookup_window": 0.2})) as rt:
        lost, map_id = _claim_as(rt, "another-host|1|1")  # maybe sent; in fact never reached the broker
        rt.ledger.settle(map_id, state="unknown", order_id=lost.id, event=OrderEvent.SEND_AMBIGUOUS,
                         source="test")
        twin, _ = create_order(rt, intent(strategy_version="twin"))
        with rt.ledger.db.conn:  # both ambiguous at once: only a ledger from before the claim guard has that
            rt.ledger.db.conn.execute("UPDATE orders SET status = 'SENDING' WHERE id = ?", (twin.id,))
        _later(rt, 60)
        report = recover(rt, "test")
        assert report.skipped_live == [lost.id] and report.unresolved == []
        assert "waits" in report.waiting[0] and rt.ledger.halt_state() is None
        assert rt.ledger.get(lost.id).status is OrderStatus.UNKNOWN and broker_orders(sim) == []


def test_an_operator_cannot_settle_a_request_its_live_owner_is_still_sending(rt, sim):
    from kisoms.engine.control import resolve_unknown
    from kisoms.errors import UsageError

    owner = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        order, _ = _claim_as(rt, _tag(owner.pid))
        for resend in (True, False):
            with pytest.raises(UsageError, match=f"process {owner.pid}"):
                resolve_unknown(rt, order.id, resend=resend)
        assert rt.ledger.get(order.id).status is OrderStatus.SENDING and broker_orders(sim) == []
    finally:
        owner.communicate(b"")
    _later(rt, 60)  # the owner died without a word: now the operator's verdict counts
    assert resolve_unknown(rt, order.id, resend=True).status in (OrderStatus.SENT, OrderStatus.ACCEPTED)
    assert len(broker_orders(sim)) == 1


def test_the_lookup_window_runs_from_when_the_send_became_ambiguous(sim, tmp_path):
    """A slow attempt (token, hashkey, then a read timeout) must not eat the window: the books may lag
    our POST by a moment, and under the resend policy a lookup cut short would send the order twice."""
    import time

    from engine_helpers import make_settings
    from kisoms.engine.runtime import open_runtime
    from kisoms.errors import BrokerTimeout

    settings = make_settings(sim, tmp_path, ambiguity={"policy": "resend", "lookup_window": 0.6,
                                                       "lookup_interval": 0.05})
    with open_runtime(settings) as rt:
        real_send, real_books, booked = rt.client.order_cash, rt.client.inquire_daily_ccld, {}

        def slow_then_lost(*args, **kwargs):
            time.sleep(0.5)  # slow token and hashkey: the POST leaves late in the attempt (simulated delay)
            ack = real_send(*args, **kwargs)
            booked.setdefault(ack.odno, time.monotonic())
            time.sleep(0.2)  # ... and its reply never comes
            raise BrokerTimeout("read timeout", maybe_sent=True)

        def lagging_books(*args, **kwargs):  # the books list an order 0.3 s after it was booked
            return [r for r in real_books(*args, **kwargs) if time.monotonic() - booked.get(r.odno, 0) > 0.3]

        rt.client.order_cash, rt.client.inquire_daily_ccld = slow_then_lost, lagging_books
        result = submit(rt, intent())
        assert result.order.broker_order_no in booked
    assert len(broker_orders(sim)) == 1


def test_an_owner_that_tries_again_during_the_lookup_keeps_its_claim_and_recovery_says_so(rt, sim):
    """A claim from another host (time decides) is past its lease: recovery looks it up. While it looks, the
    owner stamps a new attempt (it was alive after all). Recovery's halt must not take the claim over (the
    owner's last attempt is not the one recovery judged): nothing is written, no halt, and the report lists
    the order as left to its owner, with why."""
    t = [clocks.now()]
    order, map_id = _claim_as(rt, f"elsewhere|{1}|1", now=lambda: t[0])
    rt.clock.now = lambda: t[0]
    t[0] += timedelta(seconds=lease_seconds(rt) + 1)
    real_books = rt.client.inquire_daily_ccld

    def books_while_the_owner_retries(*args, **kwargs):
        with Ledger(rt.ledger.path, now=lambda: t[0]) as owner:
            assert owner.stamp_attempt(map_id)
        return real_books(*args, **kwargs)

    rt.client.inquire_daily_ccld = books_while_the_owner_retries
    report = recover(rt, "test")
    assert report.resolved == [] and report.unresolved == []
    assert report.skipped_live == [order.id]
    assert report.waiting == [f"order {order.id}: new request {map_id} was settled by another process just now"]
    assert rt.ledger.get(order.id).status is OrderStatus.SENDING
    assert [r.id for r in rt.ledger.open_requests(order.id)] == [map_id]
    assert rt.ledger.halt_state() is None and rt.ledger.halt_state(order.account) is None
    assert broker_orders(sim) == []


def test_a_twin_whose_owner_died_mid_send_is_resolved_and_the_new_order_then_sent(rt, sim):
    """A look-alike claimed by a process that died after its request reached the broker: the new order's
    claim is refused while the twin is unresolved; the twin is looked up (found, adopted) and the new
    order, kept NEW, is then claimed and sent. Each order is at the broker once, with the usual history."""
    from kisoms.domain.codes import ord_unpr

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    twin, _ = _claim_as(rt, _tag(dead.pid))
    rt.client.order_cash(twin.account, twin.symbol, twin.side, twin.order_type.ord_dvsn, twin.qty,
                         ord_unpr(twin.order_type, twin.price))  # what the dead owner sent before dying
    result = submit(rt, intent(strategy_version="other"))
    assert result.created and result.sent and result.order.id != twin.id
    adopted = rt.ledger.get(twin.id)
    assert adopted.broker_order_no is not None and adopted.status is not OrderStatus.SENDING
    assert sorted(o["odno"] for o in broker_orders(sim)) == sorted([adopted.broker_order_no,
                                                                  result.order.broker_order_no])
    kinds = [e.payload.get("event") for e in rt.ledger.events_since(0) if e.order_id == result.order.id]
    assert kinds == ["created", "claim", "broker_accepted"]
