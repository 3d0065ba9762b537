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

Every claim records its owner process (``kisoms.ledger.control``), is stamped before each retry, and is
released when its owner stops working on it while it is still open (``sending.owning``). A request whose
owner is alive on this host is left alone (reported as in flight, not as a discrepancy): it may still be
sending or searching the books. One whose owner is dead is recovered at once. Where no owner can be
checked (released, another host, a row from before schema v3), time decides: a ``sending`` row waits
until its lease has run out since the last attempt, an ``unknown`` row until the lookup window (plus
slack) has closed.

Resolving one request (the lookup, adopt, resend or halt) is ``kisoms.engine.resolution``; this module
finds the requests left open and decides which are abandoned.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from kisoms.engine.resolution import resolve
from kisoms.engine.runtime import Runtime
from kisoms.errors import AwaitingBooks, OutcomeUnknown, RequestNotOpen, TwinPending
from kisoms.ledger.control import OwnerState, owner_state, pid_at_host

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
            resolved = resolve(rt, order, request, source, wait=wait)
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
