"""Submit: intent → order (create-or-return by idempotency key) → validation → exactly-once send."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from kisoms.domain.idempotency import intent_key
from kisoms.domain.intent import ApprovedOrderIntent
from kisoms.domain.order import Order
from kisoms.domain.policy import MarketReference
from kisoms.domain.states import OrderEvent, OrderStatus
from kisoms.domain.validation import validate
from kisoms.engine.bands import band_cache
from kisoms.engine.clock import kst_ymd
from kisoms.engine.crashpoints import armed, crash_point
from kisoms.engine.recovery import is_abandoned
from kisoms.engine.resolution import order_cash_request, order_cash_tr_id, resolve, send_claimed_new
from kisoms.engine.runtime import Runtime
from kisoms.engine.sending import ensure_not_halted
from kisoms.errors import Problem, TwinPending, ValidationError
from kisoms.kis.errors_map import PRICE_LIMIT_CODES

log = logging.getLogger(__name__)
SOURCE = "submit"


@dataclass
class SubmitResult:
    """The order an intent maps to, and whether this call created or sent it."""

    order: Order
    created: bool
    sent: bool
    notes: list[str] = field(default_factory=list)


def needs_reference(rt: Runtime, intent: ApprovedOrderIntent) -> bool:
    """Whether validation can use a quote: not for an order type without a price on an account without
    a notional limit (no rule would read it)."""
    if intent.order_type.has_price or intent.price not in (None, 0):
        return True
    policy = account_policy(rt, intent.account)
    return policy is not None and policy.max_notional is not None


def _bands(rt: Runtime):
    return rt.remembered("bands", lambda: band_cache(rt.settings.state_path,
                                                     f"{rt.connection.env}|{rt.connection.rest_url}"))


def account_policy(rt: Runtime, account: str):
    """The account's permission policy (``Settings.account_policy``), built once per runtime."""
    return rt.remembered(("policy", account), lambda: rt.settings.account_policy(account))


def guard_limits(rt: Runtime, account: str):
    """The account's guards (``Settings.guard_limits``), built once per runtime."""
    return rt.remembered(("guards", account), lambda: rt.settings.guard_limits(account))


def market_reference(rt: Runtime, intent: ApprovedOrderIntent) -> MarketReference | None:
    """Today's price band for the symbol: cached per KST day (``engine/bands.py``), else from
    inquire-price (with the last price, which only matters when the band is incomplete). None when
    validation would not use it."""
    if not needs_reference(rt, intent):
        return None
    day, bands = kst_ymd(rt.clock.now()), _bands(rt)
    cached = bands.get(intent.symbol, day)
    if cached is not None:
        return cached
    quote = rt.client.inquire_price(intent.symbol)
    reference = MarketReference(base_price=quote.base_price, upper_limit=quote.upper_limit,
                                lower_limit=quote.lower_limit, current_price=quote.current_price,
                                kind=quote.kind)
    bands.put(intent.symbol, day, reference)
    return reference


def forget_band_if_refused(rt: Runtime, order: Order) -> None:
    """A refusal for a price-limit reason means our band may be stale: the next order fetches it again."""
    if order.status is OrderStatus.REJECTED and order.reject_code in PRICE_LIMIT_CODES:
        _bands(rt).drop(order.symbol)


def new_order(rt: Runtime, intent: ApprovedOrderIntent, key: str, price: int | None, note: str | None) -> Order:
    """The order row for an intent (id assigned by the ledger)."""
    return Order(
        id=0, idempotency_key=key, account=intent.account, strategy_version=intent.strategy_version,
        symbol=intent.symbol, side=intent.side, order_type=intent.order_type, qty=intent.qty, price=price,
        exchange=intent.exchange or rt.settings.default_exchange, signal_ts=intent.signal_ts,
        price_note=note, tags=dict(intent.tags))


VALIDATION_PREFIX = "VALIDATION:"


def _record_invalid(rt: Runtime, intent: ApprovedOrderIntent, key: str, exc: ValidationError) -> Order | None:
    """Record a refused intent as a REJECTED order, when it is one the ledger can hold: an order of no
    shares (qty 0 or less) cannot exist there, so that refusal is only reported (nothing was sent)."""
    if intent.qty <= 0:
        return None
    order, _ = rt.ledger.create(new_order(rt, intent, key, intent.price, None), source=SOURCE,
                                raw_payload={"intent": intent.model_dump(mode="json")})
    if order.status is OrderStatus.NEW:
        order = rt.ledger.transition(
            order.id, OrderEvent.VALIDATION_FAILED, source=SOURCE,
            raw_payload={"problems": [{"code": p.code, "message": p.message} for p in exc.problems]},
            reject_code=VALIDATION_PREFIX + ",".join(exc.codes), reject_reason=str(exc))
    return order


def replayed_reject(order: Order) -> ValidationError | None:
    """The validation error a replayed intent gets again, when its order was refused by validation (the same
    exit as the first try), or None."""
    if order.status is not OrderStatus.REJECTED or not (order.reject_code or "").startswith(VALIDATION_PREFIX):
        return None
    codes = order.reject_code.removeprefix(VALIDATION_PREFIX).split(",")
    parts = [part.partition(": ") for part in (order.reject_reason or "").split("; ")]
    if len(parts) == len(codes) and all(code == part[0] for code, part in zip(codes, parts)):
        problems = [Problem(code, part[2]) for code, part in zip(codes, parts)]
    else:
        problems = [Problem(",".join(codes), order.reject_reason or "refused by validation")]
    error = ValidationError(problems)
    error.order_id = order.id
    return error


Claimed = tuple[Order, int]  # an order claimed for its first send, and its request's map id


def _known_or_new(rt: Runtime, intent: ApprovedOrderIntent) -> tuple[Order | None, Order | None, dict]:
    """(the known order, None, {}) for a replayed intent, else (None, the validated new order, the create's
    raw payload); a refused intent raises ValidationError (and is recorded REJECTED where it can be)."""
    key = intent_key(intent)
    existing = rt.ledger.get_by_key(key)
    if existing is not None:
        rejected = replayed_reject(existing)
        if rejected is not None:
            raise rejected
        return existing, None, {}
    if intent.qty <= 0:  # refused by the rules alone, before the broker is asked anything (and never recorded)
        validate(intent, account=account_policy(rt, intent.account),
                 price_policy=rt.settings.price_policy, reference=None)
    reference = market_reference(rt, intent)
    try:
        checked = validate(intent, account=account_policy(rt, intent.account),
                           price_policy=rt.settings.price_policy, reference=reference)
    except ValidationError as exc:
        _record_invalid(rt, intent, key, exc)
        raise
    payload = {"intent": intent.model_dump(mode="json"), "reference": reference and reference.__dict__}
    return None, new_order(rt, intent, key, checked.price, checked.price_note), payload


def create_order(rt: Runtime, intent: ApprovedOrderIntent) -> tuple[Order, bool]:
    """Create-or-return the order for ``intent``; a new one is validated first (a reject is recorded).
    Nothing is claimed (``kisoms create``, and orders sent later)."""
    existing, order, payload = _known_or_new(rt, intent)
    if existing is not None:
        return existing, False
    order, created = rt.ledger.create(order, source=SOURCE, raw_payload=payload)
    crash_point("after_create")
    return order, created


def create_and_claim(rt: Runtime, intent: ApprovedOrderIntent) -> tuple[Order, bool, Claimed | None]:
    """``create_order``, and for a new order its write-ahead claim in the same durable commit
    (``Ledger.create_and_claim``): (order, created, the claim or None when nothing was claimed). The claim
    itself refuses, atomically, while a look-alike is unresolved (``TwinPending``; the order is kept NEW):
    only then are look-alikes whose owner is gone resolved, and the order returned unclaimed for
    ``send_order`` to claim (a refusal that resolved none is raised as it is)."""
    if armed("after_create"):  # the crash tests' point between a create and its claim needs them apart
        return (*create_order(rt, intent), None)
    existing, order, payload = _known_or_new(rt, intent)
    if existing is not None:
        return existing, False, None
    try:
        order, created, map_id = rt.ledger.create_and_claim(
            order, source=SOURCE, raw_payload=payload, request=order_cash_request(order),
            tr_id=order_cash_tr_id(rt, order), guards=guard_limits(rt, order.account))
    except TwinPending as pending:
        waiting = rt.ledger.get(pending.order_id)
        if not resolve_abandoned_twins(rt, waiting):
            raise
        return rt.ledger.get(waiting.id), True, None
    return order, created, None if map_id is None else (order, map_id)


def resolve_abandoned_twins(rt: Runtime, order: Order) -> bool:
    """Resolve orders with identical terms whose owner is gone, so this one need not wait for them; whether
    there was one. (The claim itself refuses, atomically, while a twin is still unresolved: ``TwinPending``.)"""
    resolved = False
    for twin in rt.ledger.unresolved_twins(order):
        for request in rt.ledger.open_requests(twin.id):
            if request.kind == "new" and is_abandoned(rt, request):
                resolve(rt, twin, request, SOURCE, wait=True)
                resolved = True
    return resolved


def send_order(rt: Runtime, order: Order) -> tuple[Order, bool]:
    """Claim and send a NEW order. Returns (order, whether this process sent it)."""
    if order.status is not OrderStatus.NEW:
        return order, False
    ensure_not_halted(rt, order.account)
    resolve_abandoned_twins(rt, order)
    claimed = rt.ledger.claim(order.id, event=OrderEvent.CLAIM, kind="new",
                              request=order_cash_request(order), tr_id=order_cash_tr_id(rt, order),
                              source=SOURCE, guards=guard_limits(rt, order.account))
    if claimed is None:
        return rt.ledger.get(order.id), False
    return send_claimed_new(rt, *claimed), True


def submit(rt: Runtime, intent: ApprovedOrderIntent) -> SubmitResult:
    """The whole submit flow for one intent. The same intent twice returns the same order, sent once.
    Under a kill switch nothing is created: an order nothing would send never sits open unexplained (the
    claim checks the switch again, atomically; an order that loses that race stays NEW, and the same intent
    submitted after `kisoms resume` sends it)."""
    ensure_not_halted(rt, intent.account)
    order, created, claimed = create_and_claim(rt, intent)
    if claimed is not None:
        order, sent = send_claimed_new(rt, *claimed), True
    else:
        order, sent = send_order(rt, order)
    forget_band_if_refused(rt, order)
    return SubmitResult(order=order, created=created, sent=sent)

