"""What the ledger hands back besides domain orders and fills (plain frozen records), and rows ↔ records:
the only place that knows how each object is laid out in SQLite."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from operator import attrgetter, itemgetter
from typing import Any, Iterable

from kisoms.domain.codes import Exchange, OrderType, Side
from kisoms.domain.order import Fill, Order
from kisoms.domain.states import OrderStatus
from kisoms.ledger.db import dumps, from_iso, loads, to_iso

OPEN_REQUEST_STATES = ("sending", "unknown")
REQUEST_STATES = ("sending", "unknown", "accepted", "rejected", "not_sent", "not_found")
REQUEST_KINDS = ("new", "modify", "cancel")


@dataclass(frozen=True)
class BrokerNumber:
    """One broker request (a broker_order_map row): a new order, an amend or a cancel.

    ``broker_order_no`` is None until the broker gives the number. ``state`` is one of
    ``REQUEST_STATES``; ``sending`` and ``unknown`` are open (outcome not yet known). ``owner`` is the
    claiming process (``kisoms.ledger.control``); ``last_attempt_at`` is stamped before each retry.
    """

    id: int
    order_id: int
    kind: str
    state: str
    tr_id: str
    request: dict[str, Any]
    sent_at: datetime
    broker_order_no: str | None = None
    krx_orgno: str | None = None
    order_date: str | None = None
    resolved_at: datetime | None = None
    response: Any = None
    owner: str | None = None
    last_attempt_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_REQUEST_STATES

    @property
    def last_activity(self) -> datetime:
        """When the owner last tried to send it (the claim time until a retry)."""
        return self.last_attempt_at or self.sent_at


@dataclass(frozen=True)
class HistoryRow:
    """One entry of an order's timeline: the status after ``event`` (text values, e.g. "FILLED"). ``history_id``:
    the order_status_history row's id (entries written before schema v8), else the change event's id."""

    history_id: int
    order_id: int
    status: str
    prev_status: str | None
    event: str
    event_ts: datetime
    source: str
    raw_payload: Any = None
    version: int = 0


@dataclass(frozen=True)
class LedgerEvent:
    """One row of the event feed. Ids only grow, without gaps, in commit order."""

    id: int
    ts: datetime
    kind: str
    order_id: int | None
    payload: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``kisoms events`` prints)."""
        return {"id": self.id, "ts": self.ts.isoformat(), "kind": self.kind, "order_id": self.order_id,
                "payload": self.payload}

    def summary(self) -> str:
        """One short human line."""
        p = self.payload
        if "status" in p and "prev_status" in p:
            return f"{p.get('prev_status') or '-'} → {p['status']} ({p.get('event', '')})"
        return ", ".join(f"{k}={v}" for k, v in sorted(p.items()) if not isinstance(v, (dict, list)))


@dataclass(frozen=True)
class HaltState:
    """A kill switch while it is on: the global one (``account`` None) or one account's."""

    reason: str
    set_by: str
    set_at: datetime
    account: str | None = None

    @property
    def scope(self) -> str:
        return f"account {self.account}" if self.account else "all accounts"

    def refusal(self) -> str:
        """What a send refused by this switch tells the user."""
        resume = "kisoms resume" + (f" --account {self.account}" if self.account else "")
        return (f"sending for {self.scope} is halted since {self.set_at:%Y-%m-%d %H:%M:%S} UTC by {self.set_by}: "
                f"{self.reason}. Check the broker, then `{resume}`.")


# rows ↔ records ----------------------------------------------------------------------------------


ORDER_COLUMNS = (
    "idempotency_key", "account", "strategy_version", "symbol", "side", "order_type", "qty", "price",
    "exchange", "signal_ts", "status", "filled_qty", "filled_amount", "cancelled_qty", "broker_order_no",
    "krx_orgno", "order_date", "reject_code", "reject_reason", "price_note", "tags", "created_at",
    "updated_at", "version",
)


# An order's terms: the columns no change ever writes again (price and tags may change: amend, tag edits).
# Since schema v8 the audit row of an order's creation covers them in the orders row instead of copying them.
ORDER_TERMS = ("idempotency_key", "account", "strategy_version", "symbol", "side", "order_type", "qty",
               "exchange", "signal_ts", "created_at")


_ENUM_COLUMNS = frozenset({"side", "order_type", "exchange", "status"})
_TIME_COLUMNS = frozenset({"signal_ts", "created_at", "updated_at"})
_COLUMN_VALUES = attrgetter(*ORDER_COLUMNS)  # an order's fields named as its columns, in column order


def column_value(column: str, value: Any) -> Any:
    """The stored value of one order field (``column``: its column, named as the field): enums by value, times
    as fixed-width UTC ISO text, tags as canonical JSON (``{}`` when empty)."""
    convert = _CONVERTERS.get(column)
    return value if convert is None else convert(value)


def _tags_text(value: Any) -> str:
    return dumps(value) if value else "{}"


def _enum_value(value: Any) -> Any:
    return value.value


# how a column's stored value is made from its field (the columns not named here store the field as it is)
_CONVERTERS: dict[str, Any] = {**dict.fromkeys(_ENUM_COLUMNS, _enum_value), **dict.fromkeys(_TIME_COLUMNS, to_iso),
                               "tags": _tags_text}


def order_to_row(o: Order) -> dict[str, Any]:
    """Column values of an order (without id), each as ``column_value`` stores it."""
    return {column: column_value(column, value) for column, value in zip(ORDER_COLUMNS, _COLUMN_VALUES(o))}


Columns = tuple[tuple[str, ...], Any]  # some order columns, in column order, and the getter of their fields


def columns_of(names: Iterable[str]) -> Columns:
    """The order columns among ``names`` (two or more), in column order, for ``changed_columns``."""
    kept = tuple(c for c in ORDER_COLUMNS if c in set(names))
    if len(kept) < 2:
        raise ValueError("columns_of needs two order columns or more")
    return kept, attrgetter(*kept)


ALL_COLUMNS: Columns = (ORDER_COLUMNS, _COLUMN_VALUES)


def changed_columns(before: Order, after: Order, columns: Columns = ALL_COLUMNS) -> dict[str, tuple[Any, Any]]:
    """The columns whose stored values differ between two versions of an order, each with (old, new) stored
    value, in column order: what comparing their two ``order_to_row`` would find, converting only the fields
    that changed (equal times store the same text: ``to_iso`` writes UTC; tags are compared as stored).
    ``columns`` (``columns_of``): when ``after`` is ``before`` with only those fields given new values (a
    ``revised`` copy), only they are compared."""
    names, values = columns
    changed: dict[str, tuple[Any, Any]] = {}
    for column, old, new in zip(names, values(before), values(after)):
        if old is new or (old == new and column != "tags"):
            continue
        convert = _CONVERTERS.get(column)
        if convert is None:  # (stored as it is: the two differ)
            changed[column] = (old, new)
            continue
        old, new = convert(old), convert(new)
        if old != new:
            changed[column] = (old, new)
    return changed


_ORDER_FIELDS = frozenset(f.name for f in fields(Order))
# A copy needs no __init__ when it would only store the fields: no __post_init__, no InitVar, no init=False
# field, no __slots__ (else ``revised`` is ``dataclasses.replace``).
_PLAIN_ORDER = (not hasattr(Order, "__post_init__") and not hasattr(Order, "__slots__")
                and all(f.init for f in fields(Order)) and _ORDER_FIELDS == set(Order.__dataclass_fields__))


def revised(order: Order, **changes: Any) -> Order:
    """``dataclasses.replace(order, **changes)`` (unknown names refused alike) at a fraction of its cost: the
    fields are copied as they are, which is all Order's generated ``__init__`` would do with them."""
    if not _PLAIN_ORDER or type(order) is not Order:  # (a subclass may have more to its __init__)
        return replace(order, **changes)
    if not _ORDER_FIELDS.issuperset(changes):
        raise TypeError(f"Order has no field(s) {sorted(set(changes) - _ORDER_FIELDS)}")
    copy = object.__new__(Order)
    state = copy.__dict__
    state.update(order.__dict__)
    state.update(changes)
    return copy


def _tags_of(text: str | None) -> dict[str, Any]:
    """An order's tags from their stored text (most orders have none: ``{}``, not parsed)."""
    return {} if text == "{}" or text is None else (loads(text) or {})


def _member(members: dict[Any, Any], cls: type, value: Any) -> Any:
    """``cls(value)`` for an enum, found in its members by value first (a call of the enum class costs ~10x)."""
    found = members.get(value)
    return cls(value) if found is None else found


_SIDES, _TYPES, _EXCHANGES, _STATUSES = ({m.value: m for m in cls} for cls in (Side, OrderType, Exchange, OrderStatus))


_ROW_FIELDS = ("id", *ORDER_COLUMNS)  # an order's fields, each read from the column of its name
_ROW_VALUES = itemgetter(*_ROW_FIELDS)
_PLAIN_ROWS = _PLAIN_ORDER and set(_ROW_FIELDS) == _ORDER_FIELDS  # (else: Order's own __init__)


def row_to_order(r: dict[str, Any]) -> Order:
    """An order from its row."""
    fields = dict(zip(_ROW_FIELDS, _ROW_VALUES(r)))  # (the columns stored as they are, then the others:)
    fields["side"] = _member(_SIDES, Side, r["side"])
    fields["order_type"] = _member(_TYPES, OrderType, r["order_type"])
    fields["exchange"] = _member(_EXCHANGES, Exchange, r["exchange"])
    fields["status"] = _member(_STATUSES, OrderStatus, r["status"])
    fields["signal_ts"] = from_iso(r["signal_ts"])
    fields["created_at"] = from_iso(r["created_at"])
    fields["updated_at"] = from_iso(r["updated_at"])
    fields["tags"] = _tags_of(r["tags"])
    if not _PLAIN_ROWS:
        return Order(**fields)
    order = object.__new__(Order)  # (what Order's generated __init__ would do with every field given)
    order.__dict__.update(fields)
    return order


def as_read_back(o: Order) -> Order:
    """``o`` as ``row_to_order`` reads its stored row back: the fields whose stored form can read back
    as a different object (a signal time in another zone, tags) as they would; every other field reads
    back equal and of the same type (enums by value, times written by the ledger in UTC)."""
    signal_ts = None if o.signal_ts is None else from_iso(to_iso(o.signal_ts))
    return revised(o, signal_ts=signal_ts, tags=_tags_of(column_value("tags", o.tags)))


def order_summary(o: Order) -> dict[str, Any]:
    """The order as audit and event payloads show it (all fields, JSON-ready)."""
    row = order_to_row(o)
    row["tags"] = dict(o.tags or {})
    return {"id": o.id, **row}


# a fill's columns: its fields of the same names, then when it was recorded
FILL_COLUMNS = ("order_id", "broker_order_no", "qty", "price", "fill_time", "source", "dedupe_key", "recorded_at")
_FILL_FIELDS = attrgetter(*FILL_COLUMNS[:-1])


def fill_values(f: Fill, recorded_at: str) -> tuple:
    """The values of a fill's ``FILL_COLUMNS``, in that order."""
    return (*_FILL_FIELDS(f), recorded_at)


def row_to_fill(r: dict[str, Any]) -> Fill:
    """A fill from its row."""
    return Fill(order_id=r["order_id"], broker_order_no=r["broker_order_no"], qty=r["qty"], price=r["price"],
                fill_time=r["fill_time"], source=r["source"], dedupe_key=r["dedupe_key"])


def row_to_number(r: dict[str, Any]) -> BrokerNumber:
    """A broker request from its broker_order_map row."""
    return BrokerNumber(
        id=r["id"], order_id=r["order_id"], kind=r["kind"], state=r["state"], tr_id=r["tr_id"],
        request=loads(r["request"]) or {}, sent_at=from_iso(r["sent_at"]), broker_order_no=r["broker_order_no"],
        krx_orgno=r["krx_orgno"], order_date=r["order_date"], resolved_at=from_iso(r["resolved_at"]),
        response=loads(r["response"]), owner=r.get("owner"), last_attempt_at=from_iso(r.get("last_attempt_at")))


def row_to_history(r: dict[str, Any]) -> HistoryRow:
    """A history entry from its row (``audit_payload``: the audit row a v7 entry's raw payload lives in)."""
    raw = r["raw_payload"]
    if raw is not None and raw.startswith("@"):
        raw = (loads(r.get("audit_payload")) or {}).get("raw_payload")
    else:
        raw = loads(raw)
    return HistoryRow(history_id=r["history_id"], order_id=r["order_id"], status=r["status"],
                      prev_status=r["prev_status"], event=r["event"], event_ts=from_iso(r["event_ts"]),
                      source=r["source"], raw_payload=raw, version=r["version"])


def event_to_history(event_id: int, order_id: int, ts: str, payload: str, audit_payload: str | None,
                     kind: str | None = None) -> HistoryRow:
    """A history entry from an order's change event (v8; ``audit_payload``: its audit row's, which holds
    the raw payload; ``kind``: the event's, when it is stored dense (v9): read back with ``full_event``)."""
    p = loads(payload) or {}
    if kind is not None:  # (a dense event: since v9)
        p = full_event(kind, p)
    raw = (loads(audit_payload) or {}).get("raw_payload") if audit_payload else None
    return HistoryRow(history_id=event_id, order_id=order_id, status=p.get("status", ""),
                      prev_status=p.get("prev_status"), event=p.get("event", ""), event_ts=from_iso(ts),
                      source=p.get("source", ""), raw_payload=raw, version=p.get("version", 0))


def row_to_event(r: dict[str, Any], payload: dict[str, Any] | None = None) -> LedgerEvent:
    """An event from its row (``payload``: its payload already read back, e.g. by ``full_event``)."""
    return LedgerEvent(id=r["id"], ts=from_iso(r["ts"]), kind=r["kind"], order_id=r["order_id"],
                       payload=(loads(r["payload"]) or {}) if payload is None else payload)


# dense change events (schema v9) -----------------------------------------------------------------


KIND_EVENTS = {"order.created": "created", "order.fill": "fill", "order.corrected": "corrected"}  # kind -> name
CREATED_KIND, FILL_KIND = "order.created", "order.fill"
_CREATED_FIXED = {"prev_status": None, "status": "NEW", "version": 1, "filled_qty": 0}  # every creation's
CREATED_TERMS = ("symbol", "side", "qty")  # a creation event shows these of the order's terms (orders row)
FILL_SHOWN = ("broker_order_no", "dedupe_key", "fill_time", "price", "qty")  # a fill event's ``fill``
# a fills row as the audit row of its (dense) fill event covers it
FILL_COVERED = ("order_id", "broker_order_no", "qty", "price", "fill_time", "source", "dedupe_key")


def dense_event(kind: str, payload: dict[str, Any], fill_row: dict[str, Any] | None = None) -> dict[str, Any]:
    """A change event's payload as stored since schema v9: without the change's name where the kind fixes it,
    a creation without what every creation states (status NEW, version 1, nothing filled, no previous
    status) nor the terms the orders row holds, and a fill without its copy of the fills row ``fill_row``
    (its id instead), when the row holds exactly what the event shows. ``full_event`` reads it back."""
    stored = dict(payload)
    if kind in KIND_EVENTS and stored.get("event") == KIND_EVENTS[kind]:
        del stored["event"]
    if kind == CREATED_KIND and all(k in stored and stored[k] == v for k, v in _CREATED_FIXED.items()):
        for key in (*_CREATED_FIXED, *CREATED_TERMS):
            stored.pop(key, None)
    shown = stored.get("fill")
    if kind == FILL_KIND and fill_row is not None and _same_fill(shown, fill_row):
        stored["fill"] = fill_row["id"]
    return stored


def _same_fill(shown: Any, row: dict[str, Any]) -> bool:
    """Whether the fills row holds exactly (values and types) what the event shows of the fill."""
    if not isinstance(shown, dict) or len(shown) != len(FILL_SHOWN):
        return False
    for k in FILL_SHOWN:
        if k not in shown or type(shown[k]) is not type(row[k]) or shown[k] != row[k]:
            return False
    return True


def full_event(kind: str, p: dict[str, Any], terms: tuple | None = None,
               fill: tuple | None = None) -> dict[str, Any]:
    """A change event's payload stored by ``dense_event`` read back as it was given (keys sorted, as stored
    JSON reads): ``terms``, the order's ``CREATED_TERMS`` from its row (a creation), and ``fill``, the
    ``FILL_SHOWN`` of the fills row a dense fill event names (each left out when not given)."""
    if kind not in KIND_EVENTS or "event" in p:  # (a transition: stored whole)
        return p
    p["event"] = KIND_EVENTS[kind]
    if kind == CREATED_KIND and "status" not in p:
        p.update(_CREATED_FIXED)
        if terms is not None:
            p.update(zip(CREATED_TERMS, terms))
    if kind == FILL_KIND and type(p.get("fill")) is int and fill is not None:
        p["fill"] = dict(zip(FILL_SHOWN, fill))
    return dict(sorted(p.items()))


def row_to_halt(r: dict[str, Any]) -> HaltState | None:
    """The kill switch from the control row or an account_halts row (None when off)."""
    if not r or not r.get("halted", 1):
        return None
    return HaltState(reason=r["reason"] or "", set_by=r["set_by"] or "", set_at=from_iso(r["set_at"]),
                     account=r.get("account"))


def external_row(r: dict[str, Any]) -> dict[str, Any]:
    """An external order as a dict (raw parsed)."""
    return {**r, "raw": loads(r["raw"]), "first_seen": from_iso(r["first_seen"])}


def update_sql(columns: tuple[str, ...]) -> str:
    """The UPDATE of an order's ``columns`` (at its id and version): each text built once (a few sets of
    columns recur; the first 256 seen are kept)."""
    sql = _UPDATES.get(columns)
    if sql is None:
        sql = f"UPDATE orders SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ? AND version = ?"
        if len(_UPDATES) < 256:
            _UPDATES[columns] = sql
    return sql


_UPDATES: dict[tuple[str, ...], str] = {}
