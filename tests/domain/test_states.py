"""The order state machine: the (state, event) table, the documented races, quantities and broker truth."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kisoms.domain.states import (
    AMBIGUOUS,
    NON_TERMINAL,
    TERMINAL,
    TRANSITIONS,
    BrokerView,
    OrderEvent,
    OrderStatus,
    Quantities,
    broker_status,
    correction_problem,
    next_status,
    working_status,
)
from kisoms.errors import InvalidTransition, KisomsError

S, E = OrderStatus, OrderEvent
W, WS, SAME = "working", "working_or_same", "same"  # how the expected table spells derived targets

# The table as the module docstring describes it, written out independently of the code.
EXPECTED: dict[tuple[OrderStatus, OrderEvent], OrderStatus | str] = {
    (S.NEW, E.CLAIM): S.SENDING, (S.NEW, E.VALIDATION_FAILED): S.REJECTED, (S.NEW, E.FAILED): S.ERROR,
    (S.SENDING, E.SEND_FAILED): S.ERROR, (S.SENDING, E.SEND_AMBIGUOUS): S.UNKNOWN,
    (S.SENDING, E.BROKER_ACCEPTED): S.SENT, (S.SENDING, E.BROKER_REJECTED): S.REJECTED,
    (S.SENDING, E.BROKER_NOT_FOUND): S.ERROR, (S.SENDING, E.FILL): W, (S.SENDING, E.FAILED): S.ERROR,
    (S.UNKNOWN, E.BROKER_ACCEPTED): S.SENT, (S.UNKNOWN, E.BROKER_REJECTED): S.REJECTED,
    (S.UNKNOWN, E.BROKER_NOT_FOUND): S.ERROR, (S.UNKNOWN, E.RESEND): S.SENDING, (S.UNKNOWN, E.FILL): W,
    (S.UNKNOWN, E.SEND_AMBIGUOUS): S.UNKNOWN,
    (S.SENT, E.ACKNOWLEDGED): W, (S.SENT, E.BROKER_REJECTED): S.REJECTED, (S.SENT, E.FILL): W,
    (S.SENT, E.MODIFY_REQUESTED): S.PENDING_MODIFY, (S.SENT, E.CANCEL_REQUESTED): S.PENDING_CANCEL,
    (S.SENT, E.EXPIRED): W, (S.SENT, E.FAILED): S.ERROR,
    (S.ACCEPTED, E.ACKNOWLEDGED): SAME, (S.ACCEPTED, E.BROKER_REJECTED): S.REJECTED, (S.ACCEPTED, E.FILL): W,
    (S.ACCEPTED, E.MODIFY_REQUESTED): S.PENDING_MODIFY, (S.ACCEPTED, E.CANCEL_REQUESTED): S.PENDING_CANCEL,
    (S.ACCEPTED, E.EXPIRED): W, (S.ACCEPTED, E.FAILED): S.ERROR,
    (S.PART_FILLED, E.ACKNOWLEDGED): SAME, (S.PART_FILLED, E.FILL): W,
    (S.PART_FILLED, E.MODIFY_REQUESTED): S.PENDING_MODIFY, (S.PART_FILLED, E.CANCEL_REQUESTED): S.PENDING_CANCEL,
    (S.PART_FILLED, E.EXPIRED): W, (S.PART_FILLED, E.FAILED): S.ERROR,
    (S.PENDING_MODIFY, E.ACKNOWLEDGED): SAME, (S.PENDING_MODIFY, E.FILL): WS,
    (S.PENDING_MODIFY, E.MODIFY_ACCEPTED): W, (S.PENDING_MODIFY, E.MODIFY_REJECTED): W,
    (S.PENDING_MODIFY, E.EXPIRED): W, (S.PENDING_MODIFY, E.FAILED): S.ERROR,
    (S.PENDING_CANCEL, E.ACKNOWLEDGED): SAME, (S.PENDING_CANCEL, E.FILL): WS,
    (S.PENDING_CANCEL, E.CANCEL_ACCEPTED): W, (S.PENDING_CANCEL, E.CANCEL_REJECTED): W,
    (S.PENDING_CANCEL, E.EXPIRED): W, (S.PENDING_CANCEL, E.FAILED): S.ERROR,
    (S.FILLED, E.ACKNOWLEDGED): SAME, (S.FILLED, E.MODIFY_REJECTED): SAME, (S.FILLED, E.CANCEL_REJECTED): SAME,
    (S.CANCELLED, E.FILL): W, (S.CANCELLED, E.ACKNOWLEDGED): SAME, (S.CANCELLED, E.CANCEL_ACCEPTED): SAME,
}

ALL_PAIRS = list(itertools.product(OrderStatus, OrderEvent))
ILLEGAL = [pair for pair in ALL_PAIRS if pair not in EXPECTED]
FIXED = [(pair, target) for pair, target in EXPECTED.items() if isinstance(target, OrderStatus)]
Q0 = Quantities(10)


# --- The table ----------------------------------------------------------------------------------------------

def test_the_table_is_exactly_the_documented_one():
    actual = {pair: (t if isinstance(t, OrderStatus) else t.value) for pair, t in TRANSITIONS.items()}
    assert actual == EXPECTED


def test_state_groups():
    assert TERMINAL == {S.FILLED, S.CANCELLED, S.REJECTED, S.ERROR}
    assert AMBIGUOUS == {S.SENDING, S.UNKNOWN}
    assert NON_TERMINAL == set(OrderStatus) - TERMINAL
    assert [s for s in OrderStatus if s.is_terminal] == [S.FILLED, S.CANCELLED, S.REJECTED, S.ERROR]
    assert [s for s in OrderStatus if s.is_ambiguous] == [S.SENDING, S.UNKNOWN]


@pytest.mark.parametrize("state, event", ILLEGAL, ids=lambda v: v.value)
def test_every_pair_outside_the_table_raises_invalid_transition(state, event):
    for q in (Quantities(10), Quantities(10, 4), Quantities(10, 10), Quantities(10, 4, 6)):
        with pytest.raises(InvalidTransition) as err:
            next_status(state, event, q)
        assert (err.value.state, err.value.event) == (state.value, event.value)
        assert isinstance(err.value, KisomsError)
        assert str(err.value) == f"illegal transition: {event.value} in state {state.value}"


def test_the_illegal_pairs_are_most_pairs():
    """A guard on the parametrisation above: 12 states × 18 events, 54 legal."""
    assert (len(ALL_PAIRS), len(EXPECTED), len(ILLEGAL)) == (216, 54, 162)


@pytest.mark.parametrize("pair, target", FIXED, ids=lambda v: v.value if hasattr(v, "value") else None)
def test_fixed_targets_ignore_quantities(pair, target):
    for q in (Quantities(10), Quantities(10, 4), Quantities(10, 10)):
        assert next_status(*pair, q) is target


@pytest.mark.parametrize("state", [S.REJECTED, S.ERROR])
def test_rejected_and_error_accept_no_event_at_all(state):
    for event in OrderEvent:
        with pytest.raises(InvalidTransition):
            next_status(state, event, Q0)


@pytest.mark.parametrize("event", [E.ACKNOWLEDGED, E.MODIFY_REJECTED, E.CANCEL_REJECTED])
def test_filled_absorbs_late_notices_and_refusals(event):
    assert next_status(S.FILLED, event, Quantities(10, 10)) is S.FILLED


@pytest.mark.parametrize("event", [E.FILL, E.CLAIM, E.BROKER_ACCEPTED, E.CANCEL_ACCEPTED, E.MODIFY_ACCEPTED,
                                   E.EXPIRED, E.FAILED, E.BROKER_REJECTED])
def test_filled_cannot_be_left_by_events(event):
    with pytest.raises(InvalidTransition):
        next_status(S.FILLED, event, Quantities(10, 10))


@pytest.mark.parametrize("event", [E.ACKNOWLEDGED, E.CANCEL_ACCEPTED])
def test_cancelled_absorbs_late_notices(event):
    assert next_status(S.CANCELLED, event, Quantities(10, 4, 6)) is S.CANCELLED


# --- Races ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("state", [S.SENDING, S.UNKNOWN, S.SENT])
def test_a_fill_may_beat_the_send_reply(state):
    assert next_status(state, E.FILL, Quantities(10).with_fill(3)) is S.PART_FILLED
    assert next_status(state, E.FILL, Quantities(10).with_fill(10)) is S.FILLED


def test_a_fill_that_beats_the_whole_cancel_moves_cancelled_to_filled():
    cancelled = Quantities(10, 4, 6)
    after = cancelled.with_fill(6)
    assert after == Quantities(10, 10, 0)
    assert next_status(S.CANCELLED, E.FILL, after) is S.FILLED


def test_a_fill_that_beats_part_of_the_cancel_stays_cancelled():
    after = Quantities(10, 4, 6).with_fill(2)
    assert after == Quantities(10, 6, 4) and after.remaining == 0
    assert next_status(S.CANCELLED, E.FILL, after) is S.CANCELLED


@pytest.mark.parametrize("pending", [S.PENDING_CANCEL, S.PENDING_MODIFY])
def test_fills_while_a_change_is_pending(pending):
    assert next_status(pending, E.FILL, Quantities(10, 3)) is pending
    assert next_status(pending, E.FILL, Quantities(10, 10)) is S.FILLED


def test_cancel_accepted_cancels_the_rest_or_part_of_it():
    assert next_status(S.PENDING_CANCEL, E.CANCEL_ACCEPTED, Quantities(10, 3, 7)) is S.CANCELLED
    assert next_status(S.PENDING_CANCEL, E.CANCEL_ACCEPTED, Quantities(10, 3, 2)) is S.PART_FILLED
    assert next_status(S.PENDING_CANCEL, E.CANCEL_ACCEPTED, Quantities(10, 0, 2)) is S.ACCEPTED


@pytest.mark.parametrize("pending, refused", [(S.PENDING_CANCEL, E.CANCEL_REJECTED),
                                              (S.PENDING_MODIFY, E.MODIFY_REJECTED),
                                              (S.PENDING_MODIFY, E.MODIFY_ACCEPTED)])
def test_settled_change_returns_to_the_working_state(pending, refused):
    assert next_status(pending, refused, Quantities(10)) is S.ACCEPTED
    assert next_status(pending, refused, Quantities(10, 4)) is S.PART_FILLED


def test_acknowledged_after_fills_changes_nothing():
    assert next_status(S.PART_FILLED, E.ACKNOWLEDGED, Quantities(10, 4)) is S.PART_FILLED
    assert next_status(S.SENT, E.ACKNOWLEDGED, Quantities(10)) is S.ACCEPTED
    assert next_status(S.SENT, E.ACKNOWLEDGED, Quantities(10, 4)) is S.PART_FILLED


@pytest.mark.parametrize("state", [S.SENT, S.ACCEPTED, S.PART_FILLED, S.PENDING_CANCEL, S.PENDING_MODIFY])
def test_expiry_cancels_what_remains(state):
    assert next_status(state, E.EXPIRED, Quantities(10, 0, 10)) is S.CANCELLED
    assert next_status(state, E.EXPIRED, Quantities(10, 4, 6)) is S.CANCELLED


# --- Quantities ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("qty, filled, cancelled", [(0, 0, 0), (-1, 0, 0), (10, -1, 0), (10, 0, -1), (10, 11, 0),
                                                    (10, 0, 11), (10, 6, 5)])
def test_impossible_quantities_are_refused(qty, filled, cancelled):
    with pytest.raises(ValueError):
        Quantities(qty, filled, cancelled)


def test_remaining():
    assert Quantities(10).remaining == 10
    assert Quantities(10, 3, 2).remaining == 5
    assert Quantities(10, 3, 7).remaining == 0


def test_with_fill_and_with_cancel():
    assert Quantities(10).with_fill(4) == Quantities(10, 4, 0)
    assert Quantities(10, 4, 2).with_fill(3) == Quantities(10, 7, 2)  # fits in what remains: cancel untouched
    assert Quantities(10, 4, 2).with_fill(6) == Quantities(10, 10, 0)  # ate the whole cancel
    assert Quantities(10, 4).with_cancel(6) == Quantities(10, 4, 6)
    assert Quantities(10, 4).with_cancel(1) == Quantities(10, 4, 1)


@pytest.mark.parametrize("fill", [0, -1, 11])
def test_bad_fills_are_refused(fill):
    with pytest.raises(ValueError):
        Quantities(10).with_fill(fill)


def test_overfill_is_refused_even_through_cancelled_quantity():
    with pytest.raises(ValueError, match="overfill"):
        Quantities(10, 8, 2).with_fill(3)


@pytest.mark.parametrize("cancel", [0, -1, 7])
def test_bad_cancels_are_refused(cancel):
    with pytest.raises(ValueError, match="6 remain"):
        Quantities(10, 4).with_cancel(cancel)


@pytest.mark.parametrize("q, status", [(Quantities(10), S.ACCEPTED), (Quantities(10, 1), S.PART_FILLED),
                                       (Quantities(10, 10), S.FILLED), (Quantities(10, 0, 10), S.CANCELLED),
                                       (Quantities(10, 4, 6), S.CANCELLED), (Quantities(10, 0, 3), S.ACCEPTED),
                                       (Quantities(10, 4, 3), S.PART_FILLED)])
def test_working_status(q, status):
    assert working_status(q) is status


# --- Broker truth --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("view, status", [
    (BrokerView(10, 0, 0), S.ACCEPTED),
    (BrokerView(10, 4, 0), S.PART_FILLED),
    (BrokerView(10, 10, 0), S.FILLED),
    (BrokerView(10, 4, 6), S.CANCELLED),
    (BrokerView(10, 0, 10), S.CANCELLED),
    (BrokerView(10, 0, 0, rejected=True), S.REJECTED),
    (BrokerView(10, 0, 10, rejected=True), S.REJECTED),
    (BrokerView(10, 4, 0, rejected=True), S.PART_FILLED),  # a fill means it was not rejected after all
    (BrokerView(10, 10, 0, rejected=True), S.FILLED),
])
def test_broker_status(view, status):
    assert broker_status(view) is status


def test_broker_view_quantities_must_be_possible():
    assert BrokerView(10, 3, 2).quantities == Quantities(10, 3, 2)
    with pytest.raises(ValueError):
        broker_status(BrokerView(10, 8, 5))


@pytest.mark.parametrize("ledger, view", [
    (Quantities(10), BrokerView(10, 10, 0)),  # e.g. ERROR -> FILLED
    (Quantities(10, 4), BrokerView(10, 4, 6)),  # cancelled at the broker
    (Quantities(10, 4, 6), BrokerView(10, 10, 0)),  # CANCELLED -> FILLED: fill beat the cancel
    (Quantities(10, 4, 6), BrokerView(10, 4, 6)),  # nothing to change
    (Quantities(10, 4, 6), BrokerView(10, 6, 2)),  # less cancelled, more filled: allowed
])
def test_forward_corrections_are_allowed(ledger, view):
    assert correction_problem(ledger, view) is None


def test_a_smaller_broker_fill_is_a_discrepancy():
    assert correction_problem(Quantities(10, 5), BrokerView(10, 4, 0)) == (
        "broker filled 4 is less than ledger filled 5")


def test_a_different_order_quantity_is_a_discrepancy():
    assert correction_problem(Quantities(10), BrokerView(12, 0, 0)) == (
        "broker order quantity 12 differs from ledger 10")
    assert correction_problem(Quantities(10, 5), BrokerView(8, 8, 0)) == (
        "broker order quantity 8 differs from ledger 10")


@pytest.mark.parametrize("state", list(OrderStatus))
def test_correction_may_leave_any_state(state):
    """The correction rule is not the table: broker truth applies to every state, terminal ones included."""
    ledger, view = Quantities(10, 4), BrokerView(10, 10, 0)
    assert correction_problem(ledger, view) is None
    assert broker_status(view) is S.FILLED


# --- Random event sequences ----------------------------------------------------------------------------------

def apply_event(state: OrderStatus, q: Quantities, event: OrderEvent, n: int) -> tuple[OrderStatus, Quantities]:
    """Drive the machine the way the ledger does: quantities first, then the state; an overfill is not applied
    and an illegal transition leaves everything as it was."""
    after = q
    if event is E.FILL:
        if q.filled + n > q.qty:
            return state, q
        after = q.with_fill(n)
    elif event is E.CANCEL_ACCEPTED and min(n, q.remaining) > 0:
        after = q.with_cancel(min(n, q.remaining))
    elif event is E.EXPIRED and q.remaining > 0:
        after = q.with_cancel(q.remaining)
    try:
        return next_status(state, event, after), after
    except InvalidTransition:
        return state, q


ALLOWED_EXITS = {S.FILLED: {S.FILLED}, S.CANCELLED: {S.CANCELLED, S.FILLED}, S.REJECTED: {S.REJECTED},
                 S.ERROR: {S.ERROR}}


def consistent(state: OrderStatus, q: Quantities) -> bool:
    """States that speak about quantities agree with them."""
    if state is S.FILLED:
        return q.filled == q.qty
    if state is S.CANCELLED:
        return q.remaining == 0 and q.filled < q.qty
    if state is S.PART_FILLED:
        return 0 < q.filled and q.remaining > 0
    if state is S.ACCEPTED:
        return q.filled == 0 and q.remaining > 0
    return q.remaining > 0 or state in (S.REJECTED, S.ERROR)


# Weighted so sequences get deep into the working states before a failure ends them.
LIVELY = [E.FILL] * 6 + [E.CANCEL_ACCEPTED, E.ACKNOWLEDGED, E.BROKER_ACCEPTED, E.CLAIM] * 3 + [
    E.CANCEL_REQUESTED, E.CANCEL_REJECTED, E.MODIFY_REQUESTED, E.MODIFY_ACCEPTED, E.MODIFY_REJECTED] * 2 + [
    E.SEND_AMBIGUOUS, E.RESEND, E.EXPIRED]
EVENTS = st.one_of(st.sampled_from(LIVELY), st.sampled_from(OrderEvent))
STEP = st.tuples(EVENTS, st.one_of(st.integers(1, 4), st.integers(1, 25)))


@settings(max_examples=400, deadline=None)
@given(qty=st.integers(1, 20), steps=st.lists(STEP, max_size=40),
       start=st.sampled_from([S.NEW, S.SENDING, S.SENT]))
def test_random_event_sequences_keep_the_invariants(qty, steps, start):
    state, q = start, Quantities(qty)
    for event, n in steps:
        new_state, new_q = apply_event(state, q, event, n)
        assert new_q.qty == qty
        assert q.filled <= new_q.filled <= qty
        assert new_q.remaining == qty - new_q.filled - new_q.cancelled >= 0
        if state.is_terminal:
            assert new_state in ALLOWED_EXITS[state], f"{state} -> {new_state} on {event}"
        assert consistent(new_state, new_q), f"{new_state} with {new_q} after {event}"
        state, q = new_state, new_q


@settings(max_examples=200, deadline=None)
@given(state=st.sampled_from(OrderStatus), event=st.sampled_from(OrderEvent),
       qty=st.integers(1, 20), filled=st.integers(0, 20), cancelled=st.integers(0, 20))
def test_next_status_is_the_table_or_an_error(state, event, qty, filled, cancelled):
    filled, cancelled = min(filled, qty), min(cancelled, qty - min(filled, qty))
    q = Quantities(qty, filled, cancelled)
    if (state, event) not in EXPECTED:
        with pytest.raises(InvalidTransition):
            next_status(state, event, q)
        return
    expected = EXPECTED[state, event]
    result = next_status(state, event, q)
    if expected == SAME:
        assert result is state
    elif expected == W:
        assert result is working_status(q)
    elif expected == WS:
        assert result is (working_status(q) if working_status(q).is_terminal else state)
    else:
        assert result is expected


@settings(max_examples=100, deadline=None)
@given(qty=st.integers(1, 30), data=st.data())
def test_a_fill_after_a_cancel_ends_cancelled_or_filled(qty, data):
    filled = data.draw(st.integers(0, qty - 1), label="filled")
    cancelled = qty - filled
    fill = data.draw(st.integers(1, cancelled), label="fill")
    after = Quantities(qty, filled, cancelled).with_fill(fill)
    assert after == Quantities(qty, filled + fill, cancelled - fill)
    expected = S.FILLED if fill == cancelled else S.CANCELLED
    assert next_status(S.CANCELLED, E.FILL, after) is expected
