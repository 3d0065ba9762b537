"""The order state machine: one explicit ``(state, event)`` table.

States beyond the spec's eight exist for exactly-once sending:

- ``SENDING``: write-ahead state committed *before* a request leaves. Whoever commits NEW → SENDING owns
  the send; a crash here leaves an order that only a broker lookup may resolve, never a blind resend.
- ``UNKNOWN``: the request may have reached the broker but no answer says so (read timeout, reset after
  write, 5xx). Resolved only by finding (or, after a closed window, not finding) the order at the broker.
- ``PENDING_MODIFY`` / ``PENDING_CANCEL``: an amend or cancel request is in flight for a working order.

Some targets depend on quantities (``WORKING``): the order is ACCEPTED with no fills, PART_FILLED with
some, FILLED when nothing remains, CANCELLED when the unfilled rest was cancelled.

Real-world races written into the table:

- a fill notice can beat the REST reply of the send: FILL is legal in SENDING, UNKNOWN and SENT;
- a fill can beat a cancel: FILL is legal in PENDING_CANCEL and in CANCELLED (the cancel then covered
  less than we thought; see ``Quantities.with_fill``), CANCELLED → FILLED when nothing was cancelled after all;
- a fill can complete an order while an amend or cancel is pending: → FILLED, and the broker later refuses
  the request (MODIFY_REJECTED / CANCEL_REJECTED are legal in FILLED and change nothing);
- acceptance notices may arrive after fills (ACKNOWLEDGED in PART_FILLED/FILLED changes nothing).

Correction rule (broker truth): reconcile may move an order in ANY state, terminal ones included, to the
state the broker's books imply (``broker_status``), e.g. ERROR → FILLED, UNKNOWN → PART_FILLED,
CANCELLED → FILLED. The one thing broker truth may not do silently is make quantities go backwards: a
broker filled quantity lower than the ledger's, or a different order quantity, is a discrepancy to halt
on (``correction_problem``), never an automatic correction.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from kisoms.errors import InvalidTransition


class OrderStatus(str, Enum):
    NEW = "NEW"
    SENDING = "SENDING"
    UNKNOWN = "UNKNOWN"
    SENT = "SENT"
    ACCEPTED = "ACCEPTED"
    PART_FILLED = "PART_FILLED"
    PENDING_MODIFY = "PENDING_MODIFY"
    PENDING_CANCEL = "PENDING_CANCEL"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    ERROR = "ERROR"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL

    @property
    def is_ambiguous(self) -> bool:
        return self in AMBIGUOUS


TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.ERROR})
AMBIGUOUS = frozenset({OrderStatus.SENDING, OrderStatus.UNKNOWN})
PENDING = frozenset({OrderStatus.PENDING_MODIFY, OrderStatus.PENDING_CANCEL})
WORKING_STATES = frozenset({OrderStatus.SENT, OrderStatus.ACCEPTED, OrderStatus.PART_FILLED})
AMENDABLE = WORKING_STATES
NON_TERMINAL = frozenset(OrderStatus) - TERMINAL


class OrderEvent(str, Enum):
    CLAIM = "claim"  # NEW -> SENDING, committed before the request leaves
    VALIDATION_FAILED = "validation_failed"  # NEW -> REJECTED without sending
    SEND_FAILED = "send_failed"  # certainly not sent and retries exhausted
    SEND_AMBIGUOUS = "send_ambiguous"  # may have reached the broker
    BROKER_ACCEPTED = "broker_accepted"  # the broker gave the order a number
    BROKER_REJECTED = "broker_rejected"  # business reject, from the REST reply or a notice
    BROKER_NOT_FOUND = "broker_not_found"  # lookup window closed, the broker has no such order
    RESEND = "resend"  # policy "resend": UNKNOWN -> SENDING after the lookup found nothing
    ACKNOWLEDGED = "acknowledged"  # acceptance notice / inquiry shows the order live
    FILL = "fill"
    MODIFY_REQUESTED = "modify_requested"
    MODIFY_ACCEPTED = "modify_accepted"
    MODIFY_REJECTED = "modify_rejected"
    CANCEL_REQUESTED = "cancel_requested"
    CANCEL_ACCEPTED = "cancel_accepted"
    CANCEL_REJECTED = "cancel_rejected"
    EXPIRED = "expired"  # day ended with quantity unfilled
    FAILED = "failed"  # internal error; correctable by broker truth


class _Derived(Enum):
    """Targets computed from quantities rather than fixed in the table."""

    WORKING = "working"  # ACCEPTED / PART_FILLED / FILLED / CANCELLED by quantities
    WORKING_OR_SAME = "working_or_same"  # stay in the current (pending) state unless FILLED
    SAME = "same"  # no state change


WORKING = _Derived.WORKING
WORKING_OR_SAME = _Derived.WORKING_OR_SAME
SAME = _Derived.SAME

S = OrderStatus
E = OrderEvent

TRANSITIONS: dict[tuple[OrderStatus, OrderEvent], OrderStatus | _Derived] = {
    (S.NEW, E.CLAIM): S.SENDING,
    (S.NEW, E.VALIDATION_FAILED): S.REJECTED,
    (S.NEW, E.FAILED): S.ERROR,
    (S.SENDING, E.SEND_FAILED): S.ERROR,
    (S.SENDING, E.SEND_AMBIGUOUS): S.UNKNOWN,
    (S.SENDING, E.BROKER_ACCEPTED): S.SENT,
    (S.SENDING, E.BROKER_REJECTED): S.REJECTED,
    (S.SENDING, E.BROKER_NOT_FOUND): S.ERROR,
    (S.SENDING, E.FILL): WORKING,
    (S.SENDING, E.FAILED): S.ERROR,
    (S.UNKNOWN, E.BROKER_ACCEPTED): S.SENT,
    (S.UNKNOWN, E.BROKER_REJECTED): S.REJECTED,
    (S.UNKNOWN, E.BROKER_NOT_FOUND): S.ERROR,
    (S.UNKNOWN, E.RESEND): S.SENDING,
    (S.UNKNOWN, E.FILL): WORKING,
    (S.UNKNOWN, E.SEND_AMBIGUOUS): S.UNKNOWN,
    (S.SENT, E.ACKNOWLEDGED): WORKING,
    (S.SENT, E.BROKER_REJECTED): S.REJECTED,
    (S.SENT, E.FILL): WORKING,
    (S.SENT, E.MODIFY_REQUESTED): S.PENDING_MODIFY,
    (S.SENT, E.CANCEL_REQUESTED): S.PENDING_CANCEL,
    (S.SENT, E.EXPIRED): WORKING,
    (S.SENT, E.FAILED): S.ERROR,
    (S.ACCEPTED, E.ACKNOWLEDGED): SAME,
    (S.ACCEPTED, E.BROKER_REJECTED): S.REJECTED,
    (S.ACCEPTED, E.FILL): WORKING,
    (S.ACCEPTED, E.MODIFY_REQUESTED): S.PENDING_MODIFY,
    (S.ACCEPTED, E.CANCEL_REQUESTED): S.PENDING_CANCEL,
    (S.ACCEPTED, E.EXPIRED): WORKING,
    (S.ACCEPTED, E.FAILED): S.ERROR,
    (S.PART_FILLED, E.ACKNOWLEDGED): SAME,
    (S.PART_FILLED, E.FILL): WORKING,
    (S.PART_FILLED, E.MODIFY_REQUESTED): S.PENDING_MODIFY,
    (S.PART_FILLED, E.CANCEL_REQUESTED): S.PENDING_CANCEL,
    (S.PART_FILLED, E.EXPIRED): WORKING,
    (S.PART_FILLED, E.FAILED): S.ERROR,
    (S.PENDING_MODIFY, E.ACKNOWLEDGED): SAME,
    (S.PENDING_MODIFY, E.FILL): WORKING_OR_SAME,
    (S.PENDING_MODIFY, E.MODIFY_ACCEPTED): WORKING,
    (S.PENDING_MODIFY, E.MODIFY_REJECTED): WORKING,
    (S.PENDING_MODIFY, E.EXPIRED): WORKING,
    (S.PENDING_MODIFY, E.FAILED): S.ERROR,
    (S.PENDING_CANCEL, E.ACKNOWLEDGED): SAME,
    (S.PENDING_CANCEL, E.FILL): WORKING_OR_SAME,
    (S.PENDING_CANCEL, E.CANCEL_ACCEPTED): WORKING,
    (S.PENDING_CANCEL, E.CANCEL_REJECTED): WORKING,
    (S.PENDING_CANCEL, E.EXPIRED): WORKING,
    (S.PENDING_CANCEL, E.FAILED): S.ERROR,
    # Races after a terminal state, written down rather than refused:
    (S.FILLED, E.ACKNOWLEDGED): SAME,
    (S.FILLED, E.MODIFY_REJECTED): SAME,
    (S.FILLED, E.CANCEL_REJECTED): SAME,
    (S.CANCELLED, E.FILL): WORKING,  # the fill beat the cancel
    (S.CANCELLED, E.ACKNOWLEDGED): SAME,
    (S.CANCELLED, E.CANCEL_ACCEPTED): SAME,
}


@dataclass(frozen=True)
class Quantities:
    """An order's quantities. ``remaining = qty - filled - cancelled`` is never negative."""

    qty: int
    filled: int = 0
    cancelled: int = 0

    def __post_init__(self) -> None:
        if self.qty <= 0 or self.filled < 0 or self.cancelled < 0:
            raise ValueError(f"bad quantities {self}")
        if self.filled + self.cancelled > self.qty:
            raise ValueError(f"filled {self.filled} + cancelled {self.cancelled} exceed qty {self.qty}")

    @property
    def remaining(self) -> int:
        return self.qty - self.filled - self.cancelled

    def with_fill(self, fill_qty: int) -> "Quantities":
        """Add a fill. A fill larger than what remains eats into ``cancelled`` (fill beat cancel)."""
        if fill_qty <= 0:
            raise ValueError("fill quantity must be positive")
        filled = self.filled + fill_qty
        if filled > self.qty:
            raise ValueError(f"fill of {fill_qty} would overfill ({self.filled}/{self.qty} filled)")
        return Quantities(self.qty, filled, min(self.cancelled, self.qty - filled))

    def with_cancel(self, cancel_qty: int) -> "Quantities":
        """Cancel part or all of what remains."""
        if cancel_qty <= 0 or cancel_qty > self.remaining:
            raise ValueError(f"cannot cancel {cancel_qty}; {self.remaining} remain")
        return Quantities(self.qty, self.filled, self.cancelled + cancel_qty)


def working_status(q: Quantities) -> OrderStatus:
    """The status quantities imply for an order live at the broker."""
    if q.filled == q.qty:
        return OrderStatus.FILLED
    if q.remaining == 0:
        return OrderStatus.CANCELLED
    return OrderStatus.PART_FILLED if q.filled else OrderStatus.ACCEPTED


def next_status(state: OrderStatus, event: OrderEvent, q: Quantities) -> OrderStatus:
    """The state after ``event``, given the quantities *after* the event. Raises InvalidTransition."""
    target = TRANSITIONS.get((state, event))
    if target is None:
        raise InvalidTransition(state.value, event.value)
    if target is SAME:
        return state
    if target is WORKING:
        return working_status(q)
    if target is WORKING_OR_SAME:
        status = working_status(q)
        return status if status.is_terminal else state
    return target


@dataclass(frozen=True)
class BrokerView:
    """What the broker's books say about one order (summed over its amend/cancel numbers)."""

    qty: int
    filled: int
    cancelled: int
    rejected: bool = False

    @property
    def quantities(self) -> Quantities:
        return Quantities(self.qty, self.filled, self.cancelled)


def broker_status(view: BrokerView) -> OrderStatus:
    """The status the broker's books imply."""
    if view.rejected and view.filled == 0:
        return OrderStatus.REJECTED
    return working_status(view.quantities)


def correction_problem(current: Quantities, view: BrokerView) -> str | None:
    """Why broker truth may NOT be applied automatically (a discrepancy to halt on), or None."""
    if view.qty != current.qty:
        return f"broker order quantity {view.qty} differs from ledger {current.qty}"
    if view.filled < current.filled:
        return f"broker filled {view.filled} is less than ledger filled {current.filled}"
    return None
