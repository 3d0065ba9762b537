"""The kill switch and the manual settling of orders whose outcome stayed unknown."""

from __future__ import annotations

import re

from kisoms.domain.codes import ACCOUNT_PATTERN
from kisoms.domain.order import Order
from kisoms.domain.states import AMBIGUOUS, OrderEvent
from kisoms.engine.recovery import holder, is_abandoned
from kisoms.engine.resolution import adopt, lookup
from kisoms.engine.resolution import resend as recovery_resend
from kisoms.engine.runtime import Runtime
from kisoms.engine.sending import accepted_as
from kisoms.errors import OutcomeUnknown, UsageError

SOURCE = "operator"


def _checked(account: str | None) -> str | None:
    """An account as orders spell it (CANO-ACNT_PRDT_CD): a switch under any other spelling would stop nothing."""
    if account is not None and not re.fullmatch(ACCOUNT_PATTERN, account):
        raise UsageError(f"account {account!r} is not CANO-ACNT_PRDT_CD (8 digits, '-', 2 digits), e.g. 50000001-01")
    return account


def set_halt(ledger, reason: str, account: str | None = None) -> None:
    """Turn a kill switch on: ``account``'s, or the global one."""
    ledger.set_halt(reason, source=SOURCE, account=_checked(account))


def resume(ledger, *, force: bool = False, account: str | None = None, everything: bool = False) -> list:
    """Turn a kill switch off: ``account``'s, the global one (no account), or ``everything``. Refused while
    orders of unknown outcome remain (of that account), unless forced. Returns the switches still on."""
    on = ledger.halt_state()
    if _checked(account) is not None and on is not None and on.account is None:
        raise UsageError(f"the global kill switch is on ({on.reason}); `kisoms resume` (no --account) turns it "
                         "off, `kisoms resume --all` every switch")
    stuck = ledger.list_orders(statuses=list(AMBIGUOUS), account=account)
    if stuck and not force:
        ids = ", ".join(str(o.id) for o in stuck)
        raise UsageError(f"orders {ids} still have an unknown outcome: `kisoms reconcile`, or check KIS and "
                         "`kisoms resolve ID --not-at-broker|--resend`; or `kisoms resume --force`")
    ledger.clear_halt(source=SOURCE, account=account, everything=everything)
    return ledger.halts()


def _resolvable(rt: Runtime, order_id: int):
    """The order and its open new-order request, if an operator's verdict may settle it; else UsageError."""
    order = rt.ledger.get(order_id)
    requests = [r for r in rt.ledger.open_requests(order_id) if r.kind == "new"]
    if order.status not in AMBIGUOUS or not requests:
        raise UsageError(f"order {order_id} is {order.status.value}, not of unknown outcome")
    if accepted_as(requests[0]):
        raise UsageError(f"order {order_id}: the broker accepted it as number {accepted_as(requests[0])}, which "
                         "the ledger maps to another order: neither --resend nor --not-at-broker is true of it")
    if not is_abandoned(rt, requests[0]):
        raise UsageError(f"order {order_id}: {holder(requests[0])}; let it finish (or stop that process), then "
                         "`kisoms reconcile`, and resolve only what is still unknown")
    return order, requests[0]


def resolve_unknown(rt: Runtime, order_id: int, *, resend: bool) -> Order:
    """Look once more; if the broker has the order, adopt it. Otherwise apply the operator's verdict."""
    order, request = _resolvable(rt, order_id)
    match = lookup(rt, order, request)
    if match.found is not None:
        return adopt(rt, order, request, match.found, SOURCE)
    if match.ambiguous:
        raise OutcomeUnknown(f"{len(match.candidates)} broker orders match order {order_id}; settle it by hand")
    if resend:
        return recovery_resend(rt, order, request, SOURCE, by_operator=True)
    return rt.ledger.settle(
        request.id, state="not_found", order_id=order.id, event=OrderEvent.BROKER_NOT_FOUND, source=SOURCE,
        raw_payload={"verdict": "not at broker"},
        order_fields={"reject_code": "NOT_AT_BROKER", "reject_reason": "operator: not at the broker"})
