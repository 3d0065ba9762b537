"""The order state machine's behaviour, through the ledger: every (state, event) pair is tried on a real
order in a real SQLite file. Expectations are written from the documented lifecycle (kisoms/domain/states.py
module docstring, README "Order states"), not read from the table: allowed pairs move the order to the
documented state; every other pair is refused with InvalidTransition and leaves no trace."""

from __future__ import annotations

import pytest
from ledger_helpers import make_order

from kisoms.domain.states import OrderEvent as E
from kisoms.domain.states import OrderStatus as S
from kisoms.domain.states import Quantities
from kisoms.errors import InvalidTransition

NUMBER = {"broker_order_no": "0000000123", "krx_orgno": "91252", "order_date": "20261125"}

# How to reach each state from NEW through the ledger: (event, quantities, fields) steps.
PATHS = {
    S.NEW: [],
    S.SENDING: [(E.CLAIM, None, {})],
    S.UNKNOWN: [(E.CLAIM, None, {}), (E.SEND_AMBIGUOUS, None, {})],
    S.SENT: [(E.CLAIM, None, {}), (E.BROKER_ACCEPTED, None, NUMBER)],
    S.ACCEPTED: [(E.CLAIM, None, {}), (E.BROKER_ACCEPTED, None, NUMBER), (E.ACKNOWLEDGED, None, {})],
    S.PART_FILLED: [(E.CLAIM, None, {}), (E.BROKER_ACCEPTED, None, NUMBER), (E.FILL, Quantities(10, 4), {})],
    S.PENDING_MODIFY: [(E.CLAIM, None, {}), (E.BROKER_ACCEPTED, None, NUMBER), (E.MODIFY_REQUESTED, None, {})],
    S.PENDING_CANCEL: [(E.CLAIM, None, {}), (E.BROKER_ACCEPTED, None, NUMBER), (E.CANCEL_REQUESTED, None, {})],
    S.FILLED: [(E.CLAIM, None, {}), (E.BROKER_ACCEPTED, None, NUMBER), (E.FILL, Quantities(10, 10), {})],
    S.CANCELLED: [(E.CLAIM, None, {}), (E.BROKER_ACCEPTED, None, NUMBER), (E.CANCEL_REQUESTED, None, {}),
                  (E.CANCEL_ACCEPTED, None, {"cancel_qty": 10})],
    S.REJECTED: [(E.VALIDATION_FAILED, None, {})],
    S.ERROR: [(E.FAILED, None, {})],
}

# The documented lifecycle: in each state, the events allowed and the state each leads to. For a FILL the
# test adds one more filled share (see ``_fill``); other events leave the quantities alone, so a
# quantity-derived target is ACCEPTED (nothing filled), PART_FILLED (4 of 10), FILLED or CANCELLED.
ALLOWED = {
    S.NEW: {E.CLAIM: S.SENDING, E.VALIDATION_FAILED: S.REJECTED, E.FAILED: S.ERROR},
    S.SENDING: {E.SEND_FAILED: S.ERROR, E.SEND_AMBIGUOUS: S.UNKNOWN, E.BROKER_ACCEPTED: S.SENT,
                E.BROKER_REJECTED: S.REJECTED, E.BROKER_NOT_FOUND: S.ERROR, E.FILL: S.PART_FILLED,
                E.FAILED: S.ERROR},
    S.UNKNOWN: {E.BROKER_ACCEPTED: S.SENT, E.BROKER_REJECTED: S.REJECTED, E.BROKER_NOT_FOUND: S.ERROR,
                E.RESEND: S.SENDING, E.FILL: S.PART_FILLED, E.SEND_AMBIGUOUS: S.UNKNOWN},
    S.SENT: {E.ACKNOWLEDGED: S.ACCEPTED, E.BROKER_REJECTED: S.REJECTED, E.FILL: S.PART_FILLED,
             E.MODIFY_REQUESTED: S.PENDING_MODIFY, E.CANCEL_REQUESTED: S.PENDING_CANCEL, E.EXPIRED: S.ACCEPTED,
             E.FAILED: S.ERROR},
    S.ACCEPTED: {E.ACKNOWLEDGED: S.ACCEPTED, E.BROKER_REJECTED: S.REJECTED, E.FILL: S.PART_FILLED,
                 E.MODIFY_REQUESTED: S.PENDING_MODIFY, E.CANCEL_REQUESTED: S.PENDING_CANCEL,
                 E.EXPIRED: S.ACCEPTED, E.FAILED: S.ERROR},
    S.PART_FILLED: {E.ACKNOWLEDGED: S.PART_FILLED, E.FILL: S.PART_FILLED, E.MODIFY_REQUESTED: S.PENDING_MODIFY,
                    E.CANCEL_REQUESTED: S.PENDING_CANCEL, E.EXPIRED: S.PART_FILLED, E.FAILED: S.ERROR},
    S.PENDING_MODIFY: {E.ACKNOWLEDGED: S.PENDING_MODIFY, E.FILL: S.PENDING_MODIFY, E.MODIFY_ACCEPTED: S.ACCEPTED,
                       E.MODIFY_REJECTED: S.ACCEPTED, E.EXPIRED: S.ACCEPTED, E.FAILED: S.ERROR},
    S.PENDING_CANCEL: {E.ACKNOWLEDGED: S.PENDING_CANCEL, E.FILL: S.PENDING_CANCEL, E.CANCEL_ACCEPTED: S.ACCEPTED,
                       E.CANCEL_REJECTED: S.ACCEPTED, E.EXPIRED: S.ACCEPTED, E.FAILED: S.ERROR},
    S.FILLED: {E.ACKNOWLEDGED: S.FILLED, E.MODIFY_REJECTED: S.FILLED, E.CANCEL_REJECTED: S.FILLED},
    S.CANCELLED: {E.FILL: S.CANCELLED, E.ACKNOWLEDGED: S.CANCELLED, E.CANCEL_ACCEPTED: S.CANCELLED},
    S.REJECTED: {},
    S.ERROR: {},
}

PAIRS = [(state, event) for state in S for event in E]


def order_in(ledger, state: S):
    order, _ = ledger.create(make_order(), source="t")
    for event, quantities, fields in PATHS[state]:
        order = ledger.transition(order.id, event, source="t", quantities=quantities, **fields)
    assert order.status is state
    return order


def _fill(order) -> Quantities:
    q = Quantities(order.qty, order.filled_qty, order.cancelled_qty)
    return q.with_fill(1)


@pytest.mark.parametrize("state, event", PAIRS, ids=[f"{s.value}-{e.value}" for s, e in PAIRS])
def test_every_state_event_pair_through_the_ledger(ledger, state, event):
    order = order_in(ledger, state)
    history = ledger.history(order.id)
    quantities = _fill(order) if event is E.FILL and order.filled_qty < order.qty else None
    expected = ALLOWED[state].get(event)
    if expected is None:
        with pytest.raises(InvalidTransition) as refused:
            ledger.transition(order.id, event, source="t", quantities=quantities)
        assert (refused.value.state, refused.value.event) == (state.value, event.value)
        after = ledger.get(order.id)
        assert (after.status, after.version) == (state, order.version)
        assert ledger.history(order.id) == history  # no trace
        return
    after = ledger.transition(order.id, event, source="t", quantities=quantities)
    assert after.status is expected and after.version == order.version + 1
    assert ledger.history(order.id)[-1].event == event.value
    assert ledger.history(order.id)[-1].status == expected.value


@pytest.mark.parametrize("state", [S.SENDING, S.UNKNOWN, S.SENT, S.ACCEPTED, S.PART_FILLED, S.PENDING_MODIFY,
                                   S.PENDING_CANCEL])
def test_a_fill_of_everything_that_remains_fills_the_order_in_any_live_state(ledger, state):
    order = order_in(ledger, state)
    after = ledger.transition(order.id, E.FILL, source="t", quantities=Quantities(10, 10))
    assert after.status is S.FILLED and after.filled_qty == 10


def test_a_fill_after_a_cancel_that_covered_less_reopens_nothing_and_fills(ledger):
    order = order_in(ledger, S.CANCELLED)
    after = ledger.transition(order.id, E.FILL, source="t", quantities=Quantities(10, 10))
    assert after.status is S.FILLED and (after.filled_qty, after.cancelled_qty) == (10, 0)


def test_a_partial_cancel_keeps_the_order_working(ledger):
    order = order_in(ledger, S.PENDING_CANCEL)
    after = ledger.transition(order.id, E.CANCEL_ACCEPTED, source="t", cancel_qty=4)
    assert after.status is S.ACCEPTED and (after.cancelled_qty, after.remaining_qty) == (4, 6)


def test_a_cancel_of_the_rest_of_a_part_filled_order_cancels_it(ledger):
    order = order_in(ledger, S.PART_FILLED)
    order = ledger.transition(order.id, E.CANCEL_REQUESTED, source="t")
    after = ledger.transition(order.id, E.CANCEL_ACCEPTED, source="t", cancel_qty=6)
    assert after.status is S.CANCELLED and (after.filled_qty, after.cancelled_qty) == (4, 6)


def test_an_expired_day_order_with_nothing_left_working_is_cancelled(ledger):
    order = order_in(ledger, S.PART_FILLED)
    after = ledger.transition(order.id, E.EXPIRED, source="t", cancel_qty=6)
    assert after.status is S.CANCELLED and after.remaining_qty == 0


# The write-ahead claim: only a state that documents the request event may claim it.
CLAIMS = [(E.CLAIM, "new"), (E.MODIFY_REQUESTED, "modify"), (E.CANCEL_REQUESTED, "cancel")]


@pytest.mark.parametrize("state", list(S), ids=[s.value for s in S])
@pytest.mark.parametrize("event, kind", CLAIMS, ids=[k for _, k in CLAIMS])
def test_claims_are_allowed_exactly_where_the_lifecycle_allows_the_request(ledger, state, event, kind):
    order = order_in(ledger, state)
    claimed = ledger.claim(order.id, event=event, kind=kind, request={"qty": 10}, tr_id="x", source="t")
    expected = ALLOWED[state].get(event)
    if expected is None:
        assert claimed is None
        assert ledger.get(order.id).version == order.version and ledger.open_requests(order.id) == []
        return
    after, map_id = claimed
    assert after.status is expected
    assert [(r.id, r.kind, r.state) for r in ledger.open_requests(order.id)] == [(map_id, kind, "sending")]
    assert ledger.claim(order.id, event=event, kind=kind, request={}, tr_id="x", source="t") is None


@pytest.mark.parametrize("kind, pending", [("modify", S.PENDING_MODIFY), ("cancel", S.PENDING_CANCEL)])
def test_a_claim_by_kind_uses_that_kinds_request_event(ledger, kind, pending):
    order = order_in(ledger, S.SENT)
    after, map_id = ledger.claim(order.id, kind=kind, request={"qty": 10}, tr_id="x", source="t")
    assert after.status is pending and ledger.history(order.id)[-1].event == f"{kind}_requested"
    assert [(r.id, r.kind) for r in ledger.open_requests(order.id)] == [(map_id, kind)]


def test_no_second_request_while_one_is_open_even_where_the_state_allows_it(ledger):
    order, _ = ledger.create(make_order(), source="t")
    order, map_id = ledger.claim(order.id, request={"qty": 10}, tr_id="x", source="t")
    order = ledger.transition(order.id, E.FILL, source="notice", quantities=Quantities(10, 4))  # beat the reply
    assert order.status is S.PART_FILLED  # a state that takes an amend, but the send is still open
    assert ledger.claim(order.id, event=E.MODIFY_REQUESTED, kind="modify", request={}, tr_id="x",
                        source="t") is None
    assert [r.id for r in ledger.open_requests(order.id)] == [map_id]


def test_a_claim_is_refused_while_the_accounts_kill_switch_is_on_unless_told_otherwise(ledger):
    from kisoms.errors import Halted

    order = order_in(ledger, S.SENT)
    ledger.set_halt("checking", source="operator", account=order.account)
    with pytest.raises(Halted, match="checking"):
        ledger.claim(order.id, event=E.MODIFY_REQUESTED, kind="modify", request={}, tr_id="x", source="t")
    assert ledger.get(order.id).status is S.SENT and ledger.open_requests(order.id) == []
    after, _ = ledger.claim(order.id, event=E.CANCEL_REQUESTED, kind="cancel", request={}, tr_id="x",
                            source="t", check_halt=False)
    assert after.status is S.PENDING_CANCEL


def test_settling_a_request_that_does_not_exist_is_refused_by_name(ledger):
    from kisoms.ledger import RequestNotOpen

    with pytest.raises(RequestNotOpen, match="request 999 is missing"):
        ledger.settle(999, state="accepted", source="t")
    order, _ = ledger.create(make_order(), source="t")
    order, map_id = ledger.claim(order.id, request={}, tr_id="x", source="t")
    ledger.settle(map_id, state="not_sent", event=E.SEND_FAILED, source="t")
    with pytest.raises(RequestNotOpen, match=f"request {map_id} is already not_sent"):
        ledger.settle(map_id, state="accepted", source="t")


@pytest.mark.parametrize("state", ["sending", "bogus", ""])
def test_a_request_cannot_be_settled_as_sending_or_as_an_unknown_state(ledger, state):
    from kisoms.errors import LedgerError

    order, _ = ledger.create(make_order(), source="t")
    order, map_id = ledger.claim(order.id, request={}, tr_id="x", source="t")
    with pytest.raises(LedgerError, match="cannot settle a request as"):
        ledger.settle(map_id, state=state, event=E.SEND_FAILED, source="t")
    assert [r.state for r in ledger.open_requests(order.id)] == ["sending"]
    assert ledger.get(order.id).status is S.SENDING


def test_a_takeover_with_the_owners_last_attempt_goes_through(ledger):
    order, _ = ledger.create(make_order(), source="t")
    order, map_id = ledger.claim(order.id, request={}, tr_id="x", source="t")
    [request] = ledger.open_requests(order.id)
    after = ledger.settle(map_id, state="unknown", event=E.SEND_AMBIGUOUS, source="recovery",
                          expected_activity=request.last_activity)
    assert after.status is S.UNKNOWN
