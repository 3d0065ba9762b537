"""The rows of plain fills, built for fills alone: the hot path of ``watch`` (schema v9 and later).

A plain fill (``orders.record_fills``) is a fill with a new key, of a working order (SENT, ACCEPTED or
PART_FILLED) that it leaves PART_FILLED or FILLED without overfilling it or eating into a cancel. Its
change writes four rows whose shape is fixed: the fills row, the order's UPDATE, a dense ``order.fill``
event naming the fills row by id, and the audit row that covers both (``journal``: the v8 ``lean_hash``
over the event and the fills row's ``FILL_COVERED``, its payload the raw notice). The generic path builds
them through ``orders.write`` and ``journal.record`` (~35 calls: an Order per step, the full event, its
dense form, the diff, two JSON texts, the hash's parts); ``plan`` builds the same bytes directly: the event
text and the hash's input are laid out by hand, the fills rows get the ids AUTOINCREMENT would give them
(so no read-back), and each order's UPDATE is computed once per order. Anything outside that shape (a
value of an unexpected type, a text that may hold a secret, a transition that is not plain) makes ``plan``
answer None, and the caller takes the generic path. ``tests/ledger/test_ledger_fillrows.py`` compares both
paths' rows byte for byte.
"""

from __future__ import annotations

import json
import re
import sqlite3
from operator import itemgetter
from typing import Any, NamedTuple

from kisoms.domain.order import Fill, Order
from kisoms.domain.states import OrderEvent, OrderStatus, Quantities, next_status
from kisoms.errors import InvalidTransition
from kisoms.ledger.db import SECRET_NEEDLES as NEEDLES, chunks, dumps, marks, may_hold_secrets, to_iso
from kisoms.ledger.journal import _head as audit_head, _keep_head as keep_audit_head  # (no public twin)
from kisoms.ledger.records import FILL_COLUMNS, FILL_KIND, ORDER_COLUMNS, revised, row_to_order, update_sql

PLAIN_FROM = frozenset({OrderStatus.SENT, OrderStatus.ACCEPTED, OrderStatus.PART_FILLED})
PLAIN_TO = frozenset({OrderStatus.PART_FILLED, OrderStatus.FILLED})

FILL_ROW_SQL = (f"INSERT INTO fills (id, {', '.join(FILL_COLUMNS)}) VALUES ({', '.join('?' for _ in FILL_COLUMNS)}, ?) "
                "ON CONFLICT (dedupe_key) DO NOTHING")
EVENT_SQL = "INSERT INTO events (id, ts, kind, order_id, payload) VALUES (?, ?, ?, ?, ?)"
AUDIT_SQL = ("INSERT INTO audit_log (id, ts, source, action, order_id, payload, prev_hash, hash, event_id) "
             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
# the ids AUTOINCREMENT gives next in fills and in events (what ``journal.record_many`` computes for events)
HEADS_SQL = ("SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'fills'), 0), "
             "COALESCE((SELECT MAX(id) FROM fills), 0)) + 1, "
             "MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0), "
             "COALESCE((SELECT MAX(id) FROM events), 0)) + 1")

LEAN_TAG = "kisoms-audit-v8|"  # ``journal.lean_hash``'s (tests pin that the hashes agree)
LEAN_BYTES = 16  # ``journal.LEAN_HASH_HEX // 2``
_ENCODE_TEXT = json.encoder.encode_basestring  # (a JSON string, non-ASCII kept: canonical JSON's)


class Plan(NamedTuple):
    """A burst of plain fills, ready to write: each table's rows, each order's first and last state."""

    fills: list[tuple]
    events: list[tuple]
    audits: list[tuple]
    updates: list[tuple[str, list]]  # each order's UPDATE (``orders.update_statement``'s), in first-fill order
    head: tuple[int, str]  # the audit head after the burst: (next id, hash of the last row)
    orders: list[Order]  # each order after its last fill, in first-fill order


_STATUS_AFTER: dict[tuple, OrderStatus] = {}  # (status, qty, filled, cancelled after) -> status after a fill


def status_after_fill(status: OrderStatus, qty: int, filled: int, cancelled: int) -> OrderStatus:
    """``next_status(status, FILL, Quantities(qty, filled, cancelled))`` (the quantities after the fill),
    remembered: it depends on nothing else (InvalidTransition and ValueError propagate, not remembered)."""
    key = (status, qty, filled, cancelled)
    found = _STATUS_AFTER.get(key)
    if found is None:
        found = next_status(status, OrderEvent.FILL, Quantities(qty, filled, cancelled))
        if len(_STATUS_AFTER) < 4096:
            _STATUS_AFTER[key] = found
    return found


_JSON_TEXTS: dict[str, str] = {}


def _json_text(value: str) -> str:
    """``value`` as canonical JSON writes it (the few statuses and sources recur: each encoded once)."""
    found = _JSON_TEXTS.get(value)
    if found is None:
        found = _ENCODE_TEXT(value)
        if len(_JSON_TEXTS) < 256:
            _JSON_TEXTS[value] = found
    return found


def event_text(fill_id: int, prev_status: str, status: str, version: int, filled_qty: int, cancelled_qty: int,
               filled_amount: int, source: str) -> str:
    """The stored payload of a plain fill's dense event (canonical JSON: keys sorted, no spaces)."""
    head = f'{{"cancelled_qty":{cancelled_qty},"fill":{fill_id},' if cancelled_qty else f'{{"fill":{fill_id},'
    amount = f'"filled_amount":{filled_amount},' if filled_amount else ""
    return (f'{head}{amount}"filled_qty":{filled_qty},"prev_status":{_json_text(prev_status)},'
            f'"source":{_json_text(source)},"status":{_json_text(status)},"version":{version}}}')


# what canonical JSON escapes in a text (non-ASCII is kept as it is): a text without any is written "<text>"
_ESCAPED = re.compile(r'[\x00-\x1f"\\]')
_FORMS: dict[tuple, tuple[str, Any] | None] = {}  # a notice's field names -> (its audit text's form, its values)


def audit_text(raw: Any) -> tuple[str, bool]:
    """The stored text of a plain fill's audit payload, ``{"raw_payload": raw}`` in canonical JSON (``{}``
    without one), and whether it surely holds nothing ``redact`` would change (False: not known, the caller
    looks). A raw notice (``{"notice": {name: text, ...}}``, the same names notice after notice) is laid into
    a form built once per set of names (its names looked through then): one ``%`` for all its values when
    none needs escaping, and only its values are looked through (``_LETTERS``: no needle spans a quote)."""
    if raw is None:
        return "{}", True
    fields = raw.get("notice") if type(raw) is dict and len(raw) == 1 else None
    if type(fields) is dict and len(fields) > 1:
        names = tuple(fields)
        form = _FORMS[names] if names in _FORMS else _form(names)
        if form is not None:
            values = form[1](fields)
            if len(set(map(type, values))) == 1 and type(values[0]) is str:
                joined = "".join(values)
                if not _ESCAPED.search(joined):
                    return form[0] % values, form[2] and not may_hold_secrets(joined)
    return dumps({"raw_payload": raw}), False


def _form(names: tuple) -> tuple[str, Any, bool] | None:
    """(the audit text of a raw notice with these field names, a ``%`` form for its values in sorted name
    order; the getter of those values; whether the text around the values holds no needle), remembered; None
    when a name is not a text."""
    form = None
    if all(type(name) is str for name in names):
        ordered = sorted(names)
        pairs = ",".join(f'{_ENCODE_TEXT(name).replace("%", "%%")}:"%s"' for name in ordered)
        text = '{"raw_payload":{"notice":{' + pairs + "}}}"
        form = (text, itemgetter(*ordered), _LETTERS and not may_hold_secrets(text % (("",) * len(ordered))))
    if len(_FORMS) < 64:
        _FORMS[names] = form
    return form


# Every needle is ASCII letters: in a text of JSON, one can only lie inside a name or inside a text value
# (quotes, colons and commas between them are not folded away), so looking through each part finds it.
_LETTERS = all(n.isascii() and n.isalpha() for n in NEEDLES)
_EVENTS_CLEAN: dict[tuple[str, str, str], bool] = {}


def event_clean(prev_status: str, status: str, source: str) -> bool:
    """Whether a plain fill's event text with these texts surely holds no needle (its other values are
    digits, its names fixed), remembered."""
    key = (prev_status, status, source)
    clean = _EVENTS_CLEAN.get(key)
    if clean is None:
        clean = _LETTERS and not may_hold_secrets(event_text(1, prev_status, status, 1, 1, 1, 1, source))
        if len(_EVENTS_CLEAN) < 256:
            _EVENTS_CLEAN[key] = clean
    return clean


def audit_digest(prev: str, row_id: int, text: str, ts: str, order_id: int, etext: str, event_id: int,
                 fill: Fill) -> bytes:
    """``journal.lean_hash`` (as the bytes stored) of a plain fill's audit row: stored ts, source, action
    empty and order_id NULL, covering its event (ts, kind, order_id, text) and its fills row's
    ``FILL_COVERED`` (order_id, number, qty, price, time, source, key)."""
    number, time, source, key = fill.broker_order_no, fill.fill_time, fill.source, fill.dedupe_key
    data = (f"{LEAN_TAG}s{len(prev)}:{prev}i{row_id};s0:s0:s0:ns{len(text)}:{text}s{len(ts)}:{ts}"
            f"s{len(FILL_KIND)}:{FILL_KIND}i{order_id};s{len(etext)}:{etext}i{event_id};"
            f"t7;i{order_id};s{len(number)}:{number}i{fill.qty};i{fill.price};s{len(time)}:{time}"
            f"s{len(source)}:{source}s{len(key)}:{key}")
    return _sha256(data.encode("utf-8", "surrogatepass")).digest()[:LEAN_BYTES]


def _sha256(data: bytes) -> Any:
    """hashlib's SHA-256, imported on the first fill (as ``journal`` does: read-only commands never hash)."""
    global _sha256
    from hashlib import sha256

    _sha256 = sha256
    return sha256(data)


def _plain_order(order: Order) -> bool:
    """Whether the order's values the rows hold are of the type the generic path's read-back sees (ints)."""
    return (type(order.id) is int and type(order.qty) is int and type(order.filled_qty) is int
            and type(order.cancelled_qty) is int and type(order.filled_amount) is int
            and type(order.version) is int)


def _plain_fill(fill: Fill) -> bool:
    """Whether the fill's values are of the type the generic path's read-back of its fills row sees."""
    return (type(fill.order_id) is int and type(fill.qty) is int and type(fill.price) is int
            and type(fill.broker_order_no) is str and type(fill.fill_time) is str and type(fill.source) is str
            and type(fill.dedupe_key) is str)


_ORDER_KEYS = ("id", *ORDER_COLUMNS)
_BURST_ORDERS_SQL = (
    f"SELECT m.broker_order_no, EXISTS (SELECT 1 FROM fills f WHERE f.order_id = o.id AND f.source = 'reconcile'), "
    f"{', '.join('o.' + c for c in _ORDER_KEYS)} FROM broker_order_map m JOIN orders o ON o.id = m.order_id "
    "WHERE m.order_date = ? AND m.broker_order_no IN ({marks})")


def burst_orders(conn: sqlite3.Connection, numbers: list[str], order_date: str) -> tuple[dict[str, Order], bool]:
    """(``requests.orders_by_numbers``: number -> order, for those known; whether any of them has a fill
    reconcile inferred, ``fills.orders_with_fills_from``'s question) in one query per ``db.CHUNK`` numbers,
    rows decoded from their tuples. (A number is mapped once per day: ``broker_order_map_number`` is
    UNIQUE, so no row has to win over another.)"""
    found: dict[str, Order] = {}
    inferred = False
    for part in chunks(numbers):
        for number, has_inferred, *values in conn.execute(_BURST_ORDERS_SQL.format(marks=marks(part)),
                                                          [order_date, *part]):
            found[number] = row_to_order(dict(zip(_ORDER_KEYS, values)))
            inferred = inferred or bool(has_inferred)
    return found, inferred


def heads(conn: sqlite3.Connection) -> tuple[int, int, int, str]:
    """What the next rows get: the fills row's id and the event's (what AUTOINCREMENT gives next), the audit
    row's id and the previous audit row's hash (``journal``'s head, kept on the connection in a write)."""
    fill_id, event_id = conn.execute(HEADS_SQL).fetchone()
    return (fill_id, event_id, *audit_head(conn))


def write_journal(conn: sqlite3.Connection, built: Plan) -> None:
    """The events and audit rows of ``built`` (one ``executemany`` each), and the audit head after them kept
    on the connection, as ``journal.record_many`` keeps it."""
    conn.executemany(EVENT_SQL, built.events)
    conn.executemany(AUDIT_SQL, built.audits)
    keep_audit_head(conn, built.head)


def plan(items: list[tuple[Order, Fill, Any]], ts: str, first: tuple[int, int, int, str],
         updated_at: Any) -> Plan | None:
    """The rows of ``items`` (order as read, fill, raw payload), each order's fills applied in turn, written
    at ``ts`` (``updated_at``: ``from_iso(ts)``), the first rows getting ``first`` (``heads``: the fills
    row's and the event's ids, the audit row's id and the previous row's hash). None when one is not a plain
    fill (see the module's docstring) or two share a key: nothing of the burst is then built this way."""
    fill_id, event_id, row_id, prev = first
    state: dict[int, list] = {}  # id -> [order as read, status, filled, amount, version]
    keys: set[str] = set()
    fills, events, audits = [], [], []
    for order, fill, raw in items:
        at = state.get(order.id)
        if at is None:
            if order.status not in PLAIN_FROM or not _plain_order(order):
                return None
            at = state[order.id] = [order, order.status, order.filled_qty, order.filled_amount, order.version]
        if not _plain_fill(fill):
            return None
        key, qty, price = fill.dedupe_key, fill.qty, fill.price
        before, status, filled = at[0], at[1], at[2]
        cancelled = before.cancelled_qty
        if (fill.order_id != order.id or qty <= 0 or price < 0 or key in keys or status not in PLAIN_FROM
                or qty > before.qty - filled - cancelled):  # (no cancel eaten)
            return None
        filled += qty
        try:
            after = status_after_fill(status, before.qty, filled, cancelled)
        except (InvalidTransition, ValueError):
            return None
        if after not in PLAIN_TO:
            return None
        amount, version = at[3] + qty * price, at[4] + 1
        prev_value, value = status._value_, after._value_
        etext = event_text(fill_id, prev_value, value, version, filled, cancelled, amount, fill.source)
        text, clean = audit_text(raw)
        if not (clean and event_clean(prev_value, value, fill.source)) and may_hold_secrets(f"{etext}\0{text}"):
            return None
        digest = audit_digest(prev, row_id, text, ts, order.id, etext, event_id, fill)
        fills.append((fill_id, order.id, fill.broker_order_no, qty, price, fill.fill_time, fill.source, key, ts))
        events.append((event_id, ts, FILL_KIND, order.id, etext))
        audits.append((row_id, "", "", "", None, text, b"", digest, event_id))
        keys.add(key)
        at[1:] = after, filled, amount, version
        fill_id, event_id, row_id, prev = fill_id + 1, event_id + 1, row_id + 1, digest.hex()
    updates = [order_update(at[0], at[1], at[2], at[3], at[4], updated_at) for at in state.values()]
    last = [revised(at[0], status=at[1], filled_qty=at[2], updated_at=updated_at, filled_amount=at[3], version=at[4])
            for at in state.values()]
    return Plan(fills, events, audits, updates, (row_id, prev), last)


def order_update(before: Order, status: OrderStatus, filled: int, amount: int, version: int,
                 updated_at: Any) -> tuple[str, list]:
    """``orders.update_statement`` of ``before`` after its plain fills (which move its status, filled quantity
    and amount, time and version, never its cancelled quantity): the columns whose stored values differ,
    decided as ``records.changed_columns`` decides, in column order, their new values, then id and version."""
    columns, values = [], []
    if before.status is not status:
        columns.append("status")
        values.append(status._value_)
    if before.filled_qty != filled:
        columns.append("filled_qty")
        values.append(filled)
    if before.filled_amount != amount:
        columns.append("filled_amount")
        values.append(amount)
    old = before.updated_at
    if old is not updated_at and old != updated_at and to_iso(old) != to_iso(updated_at):
        columns.append("updated_at")
        values.append(to_iso(updated_at))
    columns.append("version")
    values += (version, before.id, before.version)
    return update_sql(tuple(columns)), values
