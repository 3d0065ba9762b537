"""Resolving requests whose outcome is unknown: by looking at the broker's books, never by a blind resend.

A request is *open* while its broker_order_map row is ``sending`` or ``unknown``. It is resolved by
finding it in inquire-daily-ccld: a new order by its terms (``book_matching.find_sent_order``), an amend or
cancel by the ORGN_ODNO that points at the number it changed. Not found when the lookup window closes:

- a new order follows the configured policy: ``halt`` (it stays UNKNOWN, the kill switch goes on, the
  message says what to check) or ``resend`` (UNKNOWN → SENDING, sent again);
- an amend or cancel that the broker never booked simply did not happen (the order goes back to working).

An acceptance notice (recorded as an external order until its number is ours) with the order's terms is
evidence too: while one exists, a new order is never resent nor halted on; it stays UNKNOWN, awaiting the
books (``AwaitingBooks``), and the next lookup adopts it.

Every claim records its owner process (``kisoms.ledger.owner``), is stamped before each retry, and is
released when its owner stops working on it while it is still open (``sending.owning``). A request whose
owner is alive on this host is left alone (reported as in flight, not as a discrepancy): it may still be
sending or searching the books. One whose owner is dead is recovered at once. Where no owner can be
checked (released, another host, a row from before schema v3), time decides: a ``sending`` row waits
until its lease has run out since the last attempt, an ``unknown`` row until the lookup window (plus
slack) has closed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kisoms.domain.codes import ord_unpr
from kisoms.domain.order import Order
from kisoms.domain.states import OrderEvent, OrderStatus
from kisoms.engine.clock import kst_ymd
from kisoms.engine.book_matching import EARLY_TOLERANCE_SECONDS, Match, find_sent_order
from kisoms.engine.runtime import Runtime
from kisoms.engine.sending import EVENTS_BY_KIND, accepted_as, settle
from kisoms.errors import AwaitingBooks, Halted, OutcomeUnknown, RequestNotOpen, TwinPending
from kisoms.ledger.owner import OwnerState, owner_state, pid_at_host

log = logging.getLogger(__name__)
LEASE_SLACK_SECONDS = 5.0
CALLS_PER_ATTEMPT = 6  # token + hashkey + request, and all three again after a refused token


@dataclass
class RecoveryReport:
    """What a recovery pass did."""

    resolved: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    skipped_live: list[int] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # why each skipped order was left alone


def lease_seconds(rt: Runtime) -> float:
    """How long one attempt may take (token, hashkey and the request, each possibly twice after a
    refused token): a ``sending`` claim is its owner's for this long after its last attempt."""
    r = rt.settings.retry
    return CALLS_PER_ATTEMPT * (r.connect_timeout + 2 * r.read_timeout) + LEASE_SLACK_SECONDS


def is_abandoned(rt: Runtime, request) -> bool:
    """True when the request's owner is gone: dead on this host, or (where that cannot be checked) out
    of time: the lease for a ``sending`` claim, the lookup window for an ``unknown`` one."""
    state = owner_state(request.owner)
    if state is not OwnerState.UNKNOWN:  # an owner (this process too) works on its claim until it releases it
        return state is OwnerState.DEAD
    window = timedelta(seconds=lease_seconds(rt)) if request.state == "sending" else lookup_grace(rt)
    return rt.clock.now() - request.last_activity > window


def lookup_grace(rt: Runtime) -> timedelta:
    """How long after a send became ambiguous (or a number was accepted) the books get the benefit of the
    doubt: the lookup window plus slack."""
    return timedelta(seconds=rt.settings.ambiguity.lookup_window + LEASE_SLACK_SECONDS)


def lookup_deadline(rt: Runtime, request) -> datetime:
    """When a request that is not in the books counts as not found: the lookup window after its last attempt."""
    return request.last_activity + timedelta(seconds=rt.settings.ambiguity.lookup_window)


def books_for(rt: Runtime, order: Order, ymd: str) -> list:
    """The broker's rows for the order's symbol on ``ymd``."""
    day = _ymd_to_date(ymd)
    return rt.client.inquire_daily_ccld(order.account, day, day, symbol=order.symbol)


def _ymd_to_date(ymd: str):
    from datetime import date

    return date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:]))


def lookup(rt: Runtime, order: Order, request) -> Match:
    """Look for the request in the broker's books."""
    ymd = kst_ymd(request.sent_at)
    rows = books_for(rt, order, ymd)
    if request.kind == "new":
        mapped = rt.ledger.known_broker_numbers(ymd)
        retried_for = int((request.last_activity - request.sent_at).total_seconds())
        return find_sent_order(order, request.sent_at, rows, mapped, rt.settings.ambiguity.match_seconds + retried_for)
    return _find_change(rt, rows, request, ymd)


def _find_change(rt: Runtime, rows: list, request, ymd: str) -> Match:
    """An amend/cancel row pointing at the number it changed, not yet mapped."""
    mapped = rt.ledger.known_broker_numbers(ymd)
    origin = request.request.get("orgn_odno", "")
    wants_cancel = request.kind == "cancel"
    found = tuple(r for r in rows if r.odno not in mapped and r.orgn_odno == origin
                  and r.is_cancel == wants_cancel)
    return Match(found)


def adopt(rt: Runtime, order: Order, request, row, source: str) -> Order:
    """Take the broker's row as the answer to our request."""
    map_fields = {"broker_order_no": row.odno, "krx_orgno": row.ord_gno_brno, "order_date": row.ord_dt}
    order_fields = dict(request_order_fields(order, request))
    if request.kind != "cancel":
        order_fields.update(map_fields)
    return settle(rt, request.id, state="accepted", map_fields=map_fields, order_id=order.id,
                  event=EVENTS_BY_KIND[request.kind].accepted, source=source, raw_payload=row.raw,
                  order_fields=order_fields)


def request_order_fields(order: Order, request) -> dict:
    """Order fields an accepted amend or cancel changes."""
    if request.kind == "modify" and request.request.get("price") is not None:
        return {"price": int(request.request["price"])}
    if request.kind == "cancel":
        return {"cancel_qty": int(request.request.get("qty") or order.remaining_qty)}
    return {}


def resolve_request(rt: Runtime, order: Order, request, source: str, *, wait: bool = True) -> Order:
    """Resolve one open request; waits (bounded by the lookup window) when ``wait``."""
    if accepted_as(request):  # at the broker under a number the ledger gives another request
        raise OutcomeUnknown(f"order {order.id}: the broker accepted its {request.kind} request as number "
                             f"{accepted_as(request)}, which the ledger maps to another request; never resent nor "
                             "matched again. Check both orders in KIS (HTS/MTS)")
    deadline = lookup_deadline(rt, request)
    while True:
        match = lookup(rt, order, request)
        if match.found is not None:
            return adopt(rt, order, request, match.found, source)
        if match.ambiguous:
            return _halt(rt, order, f"{len(match.candidates)} broker orders match order {order.id}; "
                                    "cannot tell which is ours", source)
        current = rt.ledger.get(order.id)
        if current.version != order.version and not _still_open(rt, request):
            return current  # settled by another process meanwhile
        if not wait or rt.clock.now() >= deadline:
            return _not_found(rt, current, request, source)
        rt.clock.sleep(min(rt.settings.ambiguity.lookup_interval,
                           max(0.0, (deadline - rt.clock.now()).total_seconds())))


def _still_open(rt: Runtime, request) -> bool:
    return any(r.id == request.id for r in rt.ledger.open_requests(request.order_id))


def notice_evidence(rt: Runtime, order: Order, request) -> str | None:
    """The broker number of an unclaimed acceptance notice with the order's terms, seen since the claim."""
    ymd, price = kst_ymd(request.sent_at), int(ord_unpr(order.order_type, order.price))
    since = request.sent_at - timedelta(seconds=EARLY_TOLERANCE_SECONDS)
    for ext in rt.ledger.external_orders():
        if (ext["order_date"], ext["symbol"], ext["side"], ext["qty"]) == (
                ymd, order.symbol, order.side.value, order.qty) and ext["first_seen"] >= since \
                and (ext["price"] == price or not order.order_type.has_price) \
                and ext["account"].replace("-", "")[:8] == order.account[:8]:
            return ext["broker_order_no"]
    return None


def _not_found(rt: Runtime, order: Order, request, source: str) -> Order:
    if rt.clock.now() < lookup_deadline(rt, request):
        raise AwaitingBooks(f"order {order.id}: {request.kind} request not yet in the broker's books; "
                            "run `kisoms reconcile` shortly")
    number = notice_evidence(rt, order, request) if request.kind == "new" else None
    if number:
        raise AwaitingBooks(f"order {order.id}: an acceptance notice for broker number {number} matches it, "
                            "but the books do not list it yet; not resending. Run `kisoms reconcile` shortly")
    if request.kind != "new":
        return settle(rt, request.id, state="not_found", order_id=order.id,
                      event=EVENTS_BY_KIND[request.kind].rejected, source=source,
                      raw_payload={"reason": "the broker never booked this request"}, order_fields={},
                      expected_activity=request.last_activity)
    if rt.settings.ambiguity.policy == "resend" and _resends(rt, order) < rt.settings.ambiguity.max_resends:
        return resend(rt, order, request, source)
    order = _unknown_if_sending(rt, order, request, source)
    return _halt(rt, order, f"order {order.id} ({order.side.value} {order.qty} {order.symbol}) may or may not "
                            "be at the broker: not found in its books within the lookup window", source)


def _resends(rt: Runtime, order: Order) -> int:
    """How many times this order has been sent again after a send that was never found."""
    return sum(1 for r in rt.ledger.broker_numbers(order.id) if r.kind == "new" and r.state == "not_found")


def _unknown_if_sending(rt: Runtime, order: Order, request, source: str) -> Order:
    """A crash left the claim and the books do not show it: its outcome is now officially unknown."""
    if order.status is not OrderStatus.SENDING:
        return order
    return rt.ledger.settle_request(request.id, state="unknown", order_id=order.id, event=OrderEvent.SEND_AMBIGUOUS,
                                    source=source, raw_payload={"reason": "claimed, not found at the broker"},
                                    expected_activity=request.last_activity)


def _halt(rt: Runtime, order: Order, reason: str, source: str) -> Order:
    """Stop sending for the order's account (others go on) and say what to check."""
    rt.ledger.set_halt(f"{reason}. Check the order in KIS (HTS/MTS), then `kisoms resolve {order.id}` and "
                       f"`kisoms resume --account {order.account}`.", source=source, account=order.account)
    raise OutcomeUnknown(reason)


def resend(rt: Runtime, order: Order, request, source: str, *, by_operator: bool = False) -> Order:
    """Close the lookup as not found and send the order again (policy or operator decided). The policy's
    resend respects the kill switch; an operator's explicit ``kisoms resolve --resend`` is the exception."""
    from kisoms.engine.submit import send_claimed_new

    order = _unknown_if_sending(rt, order, request, source)
    try:
        claimed = rt.ledger.reclaim_for_resend(request.id, order.id, request=request.request, tr_id=request.tr_id,
                                               source=source, raw_payload={"reason": "not found; policy resend"},
                                               expected_activity=request.last_activity, check_halt=not by_operator)
    except Halted as exc:  # the order stays UNKNOWN
        raise OutcomeUnknown(f"order {order.id}: not found at the broker; not resent: {exc}") from None
    return send_claimed_new(rt, *claimed, source=source)


def holder(request) -> str:
    """Who is working on an open request, for a human."""
    state = owner_state(request.owner)
    if state in (OwnerState.ALIVE, OwnerState.THIS):
        return f"process {pid_at_host(request.owner).replace('@', ' on ')} is still {'sending' if request.state == 'sending' else 'resolving'} it"
    return f"its {request.state} request is within its lease/lookup window (its owner may still be at it)"


def recover(rt: Runtime, source: str, *, wait: bool = False) -> RecoveryReport:
    """Resolve every open request left by a crash or an ambiguous send. Never raises for one order."""
    report = RecoveryReport()
    for request in rt.ledger.open_requests():
        if not is_abandoned(rt, request):
            _skip(report, request.order_id, f"{request.kind} request {request.id}: {holder(request)}")
            continue
        order = rt.ledger.get(request.order_id)
        try:
            resolved = resolve_request(rt, order, request, source, wait=wait)
            report.resolved.append(f"order {order.id}: {request.kind} → {resolved.status.value}")
        except (AwaitingBooks, TwinPending) as exc:  # not yet in the books; a resend waits for its twin
            _skip(report, order.id, str(exc).removeprefix(f"order {order.id}: "))
        except RequestNotOpen:  # settled by another process meanwhile
            _skip(report, order.id, f"{request.kind} request {request.id} was settled by another process just now")
        except OutcomeUnknown as exc:
            report.unresolved.append(str(exc))
    return report


def _skip(report: RecoveryReport, order_id: int, why: str) -> None:
    report.skipped_live.append(order_id)
    report.waiting.append(f"order {order_id}: {why}")
