"""Rows ↔ records: the only place that knows how each object is laid out in SQLite."""

from __future__ import annotations

import sqlite3
from typing import Any

from kisoms.domain.codes import Exchange, OrderType, Side
from kisoms.domain.order import Fill, Order
from kisoms.domain.states import OrderStatus
from kisoms.ledger.codec import dumps, from_iso, loads, to_iso
from kisoms.ledger.records import BrokerNumber, HaltState, HistoryRow, LedgerEvent

ORDER_COLUMNS = (
    "idempotency_key", "account", "strategy_version", "symbol", "side", "order_type", "qty", "price",
    "exchange", "signal_ts", "status", "filled_qty", "filled_amount", "cancelled_qty", "broker_order_no",
    "krx_orgno", "order_date", "reject_code", "reject_reason", "price_note", "tags", "created_at",
    "updated_at", "version",
)


def as_dicts(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    """All rows of a cursor as column → value dicts."""
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r)) for r in cursor.fetchall()]


def first(cursor: sqlite3.Cursor) -> dict[str, Any] | None:
    """The first row of a cursor as a dict, or None."""
    rows = as_dicts(cursor)
    return rows[0] if rows else None


def order_to_row(o: Order) -> dict[str, Any]:
    """Column values of an order (without id)."""
    return {
        "idempotency_key": o.idempotency_key, "account": o.account, "strategy_version": o.strategy_version,
        "symbol": o.symbol, "side": o.side.value, "order_type": o.order_type.value, "qty": o.qty,
        "price": o.price, "exchange": o.exchange.value, "signal_ts": to_iso(o.signal_ts),
        "status": o.status.value, "filled_qty": o.filled_qty, "filled_amount": o.filled_amount,
        "cancelled_qty": o.cancelled_qty, "broker_order_no": o.broker_order_no, "krx_orgno": o.krx_orgno,
        "order_date": o.order_date, "reject_code": o.reject_code, "reject_reason": o.reject_reason,
        "price_note": o.price_note, "tags": dumps(o.tags or {}),
        "created_at": to_iso(o.created_at), "updated_at": to_iso(o.updated_at), "version": o.version,
    }


def row_to_order(r: dict[str, Any]) -> Order:
    """An order from its row."""
    return Order(
        id=r["id"], idempotency_key=r["idempotency_key"], account=r["account"],
        strategy_version=r["strategy_version"], symbol=r["symbol"], side=Side(r["side"]),
        order_type=OrderType(r["order_type"]), qty=r["qty"], price=r["price"], exchange=Exchange(r["exchange"]),
        signal_ts=from_iso(r["signal_ts"]), status=OrderStatus(r["status"]), filled_qty=r["filled_qty"],
        filled_amount=r["filled_amount"], cancelled_qty=r["cancelled_qty"], broker_order_no=r["broker_order_no"],
        krx_orgno=r["krx_orgno"], order_date=r["order_date"], reject_code=r["reject_code"],
        reject_reason=r["reject_reason"], price_note=r["price_note"], tags=loads(r["tags"]) or {},
        created_at=from_iso(r["created_at"]), updated_at=from_iso(r["updated_at"]), version=r["version"],
    )


def order_summary(o: Order) -> dict[str, Any]:
    """The order as audit and event payloads show it (all fields, JSON-ready)."""
    row = order_to_row(o)
    row["tags"] = dict(o.tags or {})
    return {"id": o.id, **row}


def fill_to_row(f: Fill, recorded_at: str) -> dict[str, Any]:
    """Column values of a fill."""
    return {"order_id": f.order_id, "broker_order_no": f.broker_order_no, "qty": f.qty, "price": f.price,
            "fill_time": f.fill_time, "source": f.source, "dedupe_key": f.dedupe_key, "recorded_at": recorded_at}


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


def row_to_event(r: dict[str, Any]) -> LedgerEvent:
    """An event from its row."""
    return LedgerEvent(id=r["id"], ts=from_iso(r["ts"]), kind=r["kind"], order_id=r["order_id"],
                       payload=loads(r["payload"]) or {})


def row_to_halt(r: dict[str, Any]) -> HaltState | None:
    """The kill switch from the control row or an account_halts row (None when off)."""
    if not r or not r.get("halted", 1):
        return None
    return HaltState(reason=r["reason"] or "", set_by=r["set_by"] or "", set_at=from_iso(r["set_at"]),
                     account=r.get("account"))


def external_row(r: dict[str, Any]) -> dict[str, Any]:
    """An external order as a dict (raw parsed)."""
    return {**r, "raw": loads(r["raw"]), "first_seen": from_iso(r["first_seen"])}
