"""Exactly-once delivery of one broker request: claim, send, classify, settle.

Every request (new order, amend, cancel) follows the same path:

1. *claim*: a write-ahead row (order state + broker_order_map row in state ``sending``) is committed
   before the request leaves; only one process can claim;
2. *send*, retrying only what certainly never reached the broker (connect refused, EGW00201, token
   refresh) with exponential backoff and jitter, within the configured attempts and deadline;
3. *classify* the end (``outcome.classify``) and *settle* it in one ledger transaction:
   accepted → the broker number is recorded; rejected → KIS's code and message are recorded;
   never sent → the request fails; maybe sent → the request becomes ``unknown`` and is resolved only by
   looking at the broker's books (``kisoms.engine.resolution``), never by a blind resend.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from kisoms.domain.order import Order
from kisoms.domain.states import OrderEvent
from kisoms.engine.clock import kst_ymd
from kisoms.engine.crashpoints import crash_point
from kisoms.engine.outcome import Outcome, classify
from kisoms.engine.retry import Backoff
from kisoms.engine.runtime import Runtime
from kisoms.errors import BrokerApiError, Halted, InvalidTransition, NumberTaken, OutcomeUnknown

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestEvents:
    """Which order events settle a request of one kind."""

    accepted: OrderEvent
    rejected: OrderEvent
    not_sent: OrderEvent


NEW_EVENTS = RequestEvents(OrderEvent.BROKER_ACCEPTED, OrderEvent.BROKER_REJECTED, OrderEvent.SEND_FAILED)
MODIFY_EVENTS = RequestEvents(OrderEvent.MODIFY_ACCEPTED, OrderEvent.MODIFY_REJECTED, OrderEvent.MODIFY_REJECTED)
CANCEL_EVENTS = RequestEvents(OrderEvent.CANCEL_ACCEPTED, OrderEvent.CANCEL_REJECTED, OrderEvent.CANCEL_REJECTED)
EVENTS_BY_KIND = {"new": NEW_EVENTS, "modify": MODIFY_EVENTS, "cancel": CANCEL_EVENTS}


@dataclass(frozen=True)
class Attempt:
    """How a send ended: an ack, or the last error and its outcome."""

    ack: object | None = None
    error: BaseException | None = None
    outcome: Outcome | None = None
    tries: int = 0


def ensure_not_halted(rt: Runtime, account: str) -> None:
    """Raise Halted when the global kill switch or ``account``'s is on."""
    halt = rt.ledger.halt_state(account)
    if halt is not None:
        raise Halted(halt.refusal())


def backoff_for(rt: Runtime) -> Backoff:
    r = rt.settings.retry
    return Backoff(base=r.base_delay, max_delay=r.max_delay, attempts=r.max_attempts, deadline=r.deadline)


def attempt_send(rt: Runtime, call: Callable[[], object], before_retry: Callable[[], None] = lambda: None) -> Attempt:
    """Call the broker, retrying only failures that certainly never reached it (``before_retry`` runs
    before each retry: the claim's heartbeat)."""
    backoff, start, tries = None, rt.clock.monotonic(), 0  # (the backoff built at the first failure only)
    while True:
        if tries:
            before_retry()
        tries += 1
        try:
            return Attempt(ack=call(), tries=tries)
        except Exception as exc:  # anything after the request may have left counts as ambiguous
            error, outcome = exc, classify(exc)
        backoff = backoff or backoff_for(rt)
        delay = backoff.delay(tries)
        if outcome is not Outcome.NOT_SENT or not backoff.allows(tries, rt.clock.monotonic() - start, delay):
            return Attempt(error=error, outcome=outcome, tries=tries)
        log.info("request not sent (%s); retry %d in %.2fs", error, tries, delay)
        rt.clock.sleep(delay)


def heartbeat(rt: Runtime, order: Order, map_id: int) -> Callable[[], None]:
    """Stamp the claim before a retry, so recovery counts its lease from the last attempt. If the claim
    is no longer ``sending`` (taken over by another process), nothing more leaves from here."""
    def stamp() -> None:
        if not rt.ledger.stamp_attempt(map_id):
            raise OutcomeUnknown(f"order {order.id}: request {map_id} was taken over by another process while "
                                 f"this one waited to retry; nothing more is sent from here. See `kisoms status "
                                 f"{order.id}`")
    return stamp


def error_payload(exc: BaseException, tries: int) -> dict:
    """What the history keeps of a failed request (never secrets: errors carry none)."""
    payload = {"error": type(exc).__name__, "message": str(exc), "tries": tries}
    if isinstance(exc, BrokerApiError):
        payload.update(msg_cd=exc.msg_cd, msg1=exc.message, http_status=exc.http_status)
    return payload


def settle_accepted(rt: Runtime, order: Order, map_id: int, kind: str, ack, source: str,
                    order_fields: dict) -> Order:
    """Record the broker's number for the request and move the order on, in one transaction."""
    number = {"broker_order_no": ack.odno, "krx_orgno": ack.krx_fwdg_ord_orgno,
              "order_date": kst_ymd(rt.clock.now())}
    if kind != "cancel":  # a cancel's number is not where the rest of the order lives
        order_fields = {**number, **order_fields}
    try:
        return settle(rt, map_id, state="accepted", map_fields=number, order_id=order.id,
                      event=EVENTS_BY_KIND[kind].accepted, source=source, raw_payload=ack.raw,
                      order_fields=order_fields)
    except NumberTaken as exc:
        return _number_taken(rt, order, map_id, kind, ack, source, exc)


ACCEPTED_AS = "accepted_as"  # on a request left unknown although the broker accepted it (its number was taken)


def accepted_as(request) -> str | None:
    """The number the broker accepted a request as, when the ledger could not record it (``_number_taken``):
    such a request is at the broker, so it is never resent nor settled as not found."""
    response = request.response if isinstance(request.response, dict) else {}
    return response.get(ACCEPTED_AS)


def _number_taken(rt: Runtime, order: Order, map_id: int, kind: str, ack, source: str, exc: NumberTaken) -> Order:
    """The broker's number for our request is already another order's: the ledger is wrong somewhere.
    The request stays unknown, sending for the account stops, and the message says what to check."""
    event = OrderEvent.SEND_AMBIGUOUS if kind == "new" else None
    rt.ledger.settle(map_id, state="unknown", order_id=order.id, event=event, source=source,
                     raw_payload={ACCEPTED_AS: ack.odno, "reply": ack.raw, "problem": str(exc)})
    reason = (f"order {order.id}: the broker accepted its {kind} request as number {ack.odno}, which the ledger "
              f"already maps to another request")
    rt.ledger.set_halt(f"{reason}. kisoms will not settle it by itself (it is never resent): check both orders "
                       f"in KIS (HTS/MTS) and cancel there whatever should not be working; then `kisoms resume "
                       f"--account {order.account} --force`.", source=source, account=order.account)
    raise OutcomeUnknown(reason)


def settle(rt: Runtime, map_id: int, *, event: OrderEvent | None, order_fields: dict, **kwargs) -> Order:
    """Settle a request; if a notice already moved the order past ``event``, close the request alone."""
    try:
        return rt.ledger.settle(map_id, event=event, order_fields=order_fields, **kwargs)
    except InvalidTransition as exc:
        log.info("request %s settled without a state change: %s", map_id, exc)
        return rt.ledger.settle(map_id, event=None, order_fields={}, **kwargs)


def settle_failure(rt: Runtime, order: Order, map_id: int, kind: str, attempt: Attempt, source: str) -> Order:
    """Record a rejected or never-sent request."""
    events = EVENTS_BY_KIND[kind]
    payload = error_payload(attempt.error, attempt.tries)
    if attempt.outcome is Outcome.REJECTED:
        fields = _reject_fields(attempt.error) if kind == "new" else {}
        return settle(rt, map_id, state="rejected", order_id=order.id, event=events.rejected, source=source,
                      raw_payload=payload, order_fields=fields)
    fields = {"reject_code": "NOT_SENT", "reject_reason": f"not sent: {attempt.error}"} if kind == "new" else {}
    return settle(rt, map_id, state="not_sent", order_id=order.id, event=events.not_sent, source=source,
                  raw_payload=payload, order_fields=fields)


def _reject_fields(exc: BaseException) -> dict:
    if isinstance(exc, BrokerApiError):
        return {"reject_code": exc.msg_cd, "reject_reason": exc.message}
    return {"reject_code": type(exc).__name__, "reject_reason": str(exc)}


def mark_unknown(rt: Runtime, order: Order, map_id: int, kind: str, attempt: Attempt, source: str) -> Order:
    """The request may have reached the broker: record that, and nothing else. The lookup window is
    counted from now (the stamp), not from when the attempt began."""
    rt.ledger.stamp_attempt(map_id)
    event = OrderEvent.SEND_AMBIGUOUS if kind == "new" else None
    order = rt.ledger.settle(map_id, state="unknown", order_id=order.id, event=event, source=source,
                             raw_payload=error_payload(attempt.error, attempt.tries))
    crash_point("after_ambiguous")
    return order


@contextmanager
def owning(rt: Runtime, map_id: int) -> Iterator[None]:
    """The block in which this process works on a claimed request (send, then look it up); a request still
    open when the block ends, however it ends, is released to recovery."""
    try:
        yield
    finally:
        rt.ledger.release_request(map_id)


def deliver(rt: Runtime, order: Order, map_id: int, kind: str, call: Callable[[], object], source: str,
            accepted_fields: dict | None = None) -> tuple[Order, Attempt]:
    """Send a claimed request once (retrying only the certainly-unsent) and settle its outcome."""
    attempt = attempt_send(rt, call, heartbeat(rt, order, map_id))
    crash_point("after_send")
    if attempt.ack is not None:
        return settle_accepted(rt, order, map_id, kind, attempt.ack, source, accepted_fields or {}), attempt
    if attempt.outcome is Outcome.AMBIGUOUS:
        return mark_unknown(rt, order, map_id, kind, attempt, source), attempt
    return settle_failure(rt, order, map_id, kind, attempt, source), attempt


