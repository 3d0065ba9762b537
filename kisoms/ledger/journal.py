"""What happened, in order: the event feed, the hash-chained audit log, and read-only reports.

Event feed (``kisoms watch --since ID``, integrations): ids grow by one per committed event. Writers
serialise on BEGIN IMMEDIATE and AUTOINCREMENT never reuses an id (a rolled-back insert also rolls back
the counter), so readers see ids in commit order without gaps.

Audit log, append-only: each row's ``hash`` is SHA-256 of ``prev_hash`` + the canonical JSON of the row's
content (id, ts, source, action, order_id, payload text). Triggers refuse UPDATE and DELETE; ``verify``
catches what a trigger cannot (someone dropped the triggers, or edited the file): an edited row breaks its
own hash, an inserted or deleted row breaks the links or the id sequence. Without a secret key a forger who
recomputes every later hash is not caught; the chain proves integrity against edits, not authorship.

Since schema v7 a row written with its event stores each thing once: its payload holds what the event does
not (the diff, the raw payload) and starts with ``{"$event":<event id>`` (keys are sorted, ``$`` first);
its hash covers the event row too (ts, kind, order_id, payload text), so editing or deleting the event
breaks this row. Hashes are stored as 32 raw bytes (older rows keep their 64 hex digits; both verify), and
such a row stores no copy of the previous row's hash (empty ``prev_hash``): its own hash is computed over it.

Since schema v8 such a row names its event in the ``event_id`` column instead (no payload prefix) and
stores neither the event's ts, kind (``action``) nor order_id (empty), nor its ``source`` when the event's
payload states it: its hash covers the event row, which holds them. The row of an order's creation also
covers the order's terms (``records.ORDER_TERMS``, the columns no change writes again) in the orders row
instead of copying them, so editing a term breaks that row. A v8 row's hash (``lean_hash``) is SHA-256 over
its fields and the covered ones written one after another, each tagged with its type and, for a text, its
length (no JSON: the stored texts are hashed as they are, not embedded and escaped again); it keeps the
first 16 bytes (128 bits; the next row chains on those): against edits, short of a forger who recomputes
every later hash anyway, that is as strong as 32. Every event is written with exactly one audit row, so from
the v8 migration on an event's audit row id is the event id plus a constant (``history_start``), which is
how an order's history finds its raw payloads without an index.

Since schema v9 an order's change event is stored dense (``records.dense_event``; the events from
``history_start.dense_from`` on): a creation without what every creation states nor the terms the orders
row holds (its audit row covers those already), no change name where the kind fixes it, and a fill naming
its fills row by id (``{"fill":<id>}``) instead of copying its number, key, time, price and quantity. The
audit row of such a fill event covers that fills row (``records.FILL_COVERED``: order_id, number, qty,
price, time, source, key) as a creation's covers the order's terms: ``lean_hash``'s ``terms`` are the fills
row's columns, which ``verify`` joins by the id in the event's payload, so editing, deleting or swapping the
row breaks the fill event's audit row. ``events_since`` reads dense events back whole (``full_events``).

``record`` writes one event and the audit row that covers it in the caller's transaction; it calls
``append_event`` and ``append_audit`` through this module's globals so tests can make either fail in the
middle of a change.

Reports: read-only queries for bookkeeping, fills and orders by KST trading date (YYYYMMDD).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from kisoms.errors import AuditChainBroken
from kisoms.ledger.db import as_dicts, chunks, clean_text, clean_texts, dumps, loads, marks
from kisoms.ledger.records import (CREATED_KIND, CREATED_TERMS, FILL_COVERED, FILL_KIND, FILL_SHOWN, ORDER_TERMS,
                                   LedgerEvent, full_event, row_to_event, row_to_order)


_SHA256: Any = None


def _sha256(data: bytes):
    """SHA-256 of ``data``; hashlib is imported on the first hash, not at the top: reading a ledger never
    hashes, and the import is ~5 ms of every read-only command's start-up."""
    global _SHA256
    if _SHA256 is None:
        from hashlib import sha256

        _SHA256 = sha256
    return _SHA256(data)


# events ------------------------------------------------------------------------------------------


def encode(payload: Any) -> str:
    """The stored text of an event payload (redacted, canonical JSON)."""
    return clean_text(payload or {}) or "{}"


def append_event(conn: sqlite3.Connection, *, ts: str, kind: str, order_id: int | None, payload: Any,
                 text: str | None = None) -> int:
    """Append one event (payload redacted; ``text``: its ``encode`` when the caller has it already) inside the
    caller's transaction. Returns its id."""
    cursor = conn.execute("INSERT INTO events (ts, kind, order_id, payload) VALUES (?, ?, ?, ?)",
                          (ts, kind, order_id, encode(payload) if text is None else text))
    return int(cursor.lastrowid)


def events_since(conn: sqlite3.Connection, event_id: int, limit: int) -> list[LedgerEvent]:
    """Events with id > ``event_id``, oldest first (dense ones read back whole: ``full_events``)."""
    cursor = conn.execute("SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?", (event_id, limit))
    rows = as_dicts(cursor)
    start = dense_from(conn)
    if start is None or not rows or rows[-1]["id"] < start:
        return [row_to_event(r) for r in rows]
    return full_events(conn, rows, start)


def dense_from(conn: sqlite3.Connection) -> int | None:
    """The first event id stored dense (schema v9), or None (a file kept at an older schema)."""
    if not dense(conn):
        return None
    row = conn.execute("SELECT dense_from FROM history_start WHERE id = 1").fetchone()
    return None if row is None else row[0]


def full_events(conn: sqlite3.Connection, rows: list[dict[str, Any]], start: int) -> list[LedgerEvent]:
    """Event rows as events, those from id ``start`` on read back whole (``records.full_event``): a creation's
    terms from its orders row, a fill from the fills row it names, each fetched once for the whole page."""
    payloads = [loads(r["payload"]) or {} for r in rows]
    created = {r["order_id"] for r in rows if r["kind"] == CREATED_KIND and r["id"] >= start}
    fill_ids = {p["fill"] for r, p in zip(rows, payloads)
                if r["kind"] == FILL_KIND and r["id"] >= start and type(p.get("fill")) is int}
    terms = _by_id(conn, "orders", CREATED_TERMS, created)
    fill_rows = _by_id(conn, "fills", FILL_SHOWN, fill_ids)
    return [row_to_event(r, p if r["id"] < start else full_event(
        r["kind"], p, terms.get(r["order_id"]), fill_rows.get(p["fill"]) if type(p.get("fill")) is int else None))
        for r, p in zip(rows, payloads)]


def _by_id(conn: sqlite3.Connection, table: str, columns: tuple[str, ...], ids: set) -> dict[int, tuple]:
    """``columns`` of the rows of ``table`` with these ids, by id (one query per ``db.CHUNK`` ids)."""
    found: dict[int, tuple] = {}
    for part in chunks(sorted(i for i in ids if i is not None)):
        sql = f"SELECT id, {', '.join(columns)} FROM {table} WHERE id IN ({marks(part)})"
        found.update((row[0], row[1:]) for row in conn.execute(sql, part))
    return found


def last_event_id(conn: sqlite3.Connection) -> int:
    """The newest event id (0 when there is none)."""
    return conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]


# audit log ---------------------------------------------------------------------------------------


GENESIS = "0" * 64
EVENT_KEY = "$event"  # v7: the event a row covers (sorts before every letter: always the payload's first key)
_LINKED = '{"' + EVENT_KEY + '":'

# (ts, kind, order_id, payload) of an event
EventRow = tuple[str, str, "int | None", str]


def row_hash(prev_hash: str, row_id: int, ts: str, source: str, action: str, order_id: int | None,
             payload_text: str, event: EventRow | None = None) -> str:
    """The chained hash of a row written before schema v8 (hex): SHA-256 of ``prev_hash`` + the canonical JSON
    of its content; ``event``: the event row a v7 row covers. (v8 rows: ``lean_hash``.)"""
    content = {"id": row_id, "ts": ts, "source": source, "action": action, "order_id": order_id,
               "payload": payload_text}
    if event is not None:
        content["event"] = list(event)
    return _sha256((prev_hash + dumps(content)).encode("utf-8")).hexdigest()


LEAN_HASH_HEX = 32  # a v8 row keeps the first 16 bytes (128 bits) of its SHA-256
_LEAN_TAG = "kisoms-audit-v8|"


def _part(value: Any) -> str:
    """One field as ``lean_hash`` writes it: a type tag, then a text's length and the text, or a number ended
    by ``;`` (which no number's digits contain). Each part says where it ends, so a run of them reads back one
    way only: no edit can move characters from one field into the next and keep the hash."""
    kind = type(value)
    if kind is str:
        return f"s{len(value)}:{value}"
    if kind is int:
        return f"i{value};"
    if value is None:
        return "n"
    if kind is float:
        return f"f{value!r};"
    if kind is bytes:
        return f"b{value.hex()};"
    text = repr(value)  # (nothing SQLite hands back; bool and others, told apart from the above)
    return f"x{len(text)}:{text}"


def _parts(values: Any) -> str:
    """The ``_part`` of each value, one after another (texts and ints, the usual fields, without a call each)."""
    return "".join([f"s{len(value)}:{value}" if type(value) is str else f"i{value};" if type(value) is int
                    else _part(value) for value in values])


def lean_hash(prev_hash: str, row_id: int, ts: str, source: str, action: str, order_id: int | None,
              payload_text: str, event: EventRow, event_id: int, terms: tuple | None = None) -> str:
    """The chained hash of a v8 row (hex, ``LEAN_HASH_HEX`` digits): SHA-256 of the previous row's hash, the
    row's stored fields, the event row it covers (ts, kind, order_id, payload text), its id and, for an order's
    creation, the order's terms (for a dense fill event since v9: its fills row's ``FILL_COVERED``), each
    field a self-delimiting ``_part``."""
    return _lean_digest(prev_hash, row_id, ts, source, action, order_id, payload_text, event, event_id, terms).hex()


def _lean_digest(prev_hash: str, row_id: int, ts: str, source: str, action: str, order_id: int | None,
                 payload_text: str, event: EventRow, event_id: int, terms: tuple | None) -> bytes:
    """``lean_hash`` as the bytes stored (``LEAN_HASH_HEX // 2`` of them)."""
    fields = _parts((prev_hash, row_id, ts, source, action, order_id, payload_text, *event, event_id))
    tail = "-" if terms is None else f"t{len(terms)};{_parts(terms)}"
    return _sha256(f"{_LEAN_TAG}{fields}{tail}".encode("utf-8", "surrogatepass")).digest()[:LEAN_HASH_HEX // 2]


def _hex(value: Any) -> str:
    """A stored hash as hex: 32 raw bytes since v7, 64 hex digits before (read as bytes: ``CAST(... AS BLOB)``,
    so an edited hash that is no longer text still reads, and fails)."""
    if isinstance(value, bytes):
        return value.hex() if len(value) in (16, 32) else value.decode("utf-8", "replace")
    return value


def _head(conn: sqlite3.Connection) -> tuple[int, str]:
    """(next id, hash of the last row). Ids continue after the highest id ever issued. Within one write
    transaction the head is kept on the connection after each append (``db.LedgerConnection``: dropped at
    every BEGIN, COMMIT and ROLLBACK), so a change's rows after the first cost no query."""
    cached = getattr(conn, "audit_head", None)
    if cached is not None and conn.in_transaction:
        return cached
    seq, last_id, last_hash = conn.execute(_HEAD_SQL).fetchone()
    return max(seq or 0, last_id or 0) + 1, GENESIS if last_hash is None else _hex(last_hash)


_HEAD_SQL = ("SELECT (SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'), l.id, CAST(l.hash AS BLOB) "
             "FROM (SELECT 1) LEFT JOIN (SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1) l")


def _keep_head(conn: sqlite3.Connection, head: tuple[int, str]) -> None:
    if hasattr(conn, "audit_head"):
        conn.audit_head = head


LEAN_AUDIT_VERSION = 8  # the schema from which audit rows name their event in ``event_id``
DENSE_EVENT_VERSION = 9  # the schema from which change events are stored dense (``records.dense_event``)


def lean(conn: sqlite3.Connection) -> bool:
    """Whether the file is at schema v8 or later: an order's history is its events, and an audit row names
    its event in ``event_id`` (a file kept at an older schema, as tests build one, is written as before)."""
    version = getattr(conn, "schema_version", None)
    return version is None or version >= LEAN_AUDIT_VERSION


def dense(conn: sqlite3.Connection) -> bool:
    """Whether the file is at schema v9 or later: change events are written dense (``records.dense_event``)."""
    version = getattr(conn, "schema_version", None)
    return version is None or version >= DENSE_EVENT_VERSION


def append_audit(conn: sqlite3.Connection, *, ts: str, source: str, action: str, order_id: int | None,
                 payload: Any, event: tuple[int, str] | None = None, source_in_event: bool = False,
                 terms: tuple | None = None, text: str | None = None) -> int:
    """Append one row (payload redacted; ``text``: its ``audit_text`` when the caller has it already)
    inside the caller's transaction. Returns its id. ``event``:
    (id, stored payload text) of the event written with it (``ts``, ``action`` and ``order_id`` are the
    event's): the row names it in ``event_id`` and covers it instead of repeating it, storing neither its
    ts, kind (``action``) nor order_id, nor ``source`` when the event's payload states it
    (``source_in_event``), and its hash is kept to 128 bits (v8). ``terms``: with the creation event of an
    order, the order's ``ORDER_TERMS`` as stored, which the row then covers instead of copying (v8); with a
    dense fill event, its fills row's ``FILL_COVERED`` as stored (v9)."""
    row_id, prev = _head(conn)
    text = audit_text(payload) if text is None else text
    sql, values, digest = audit_row(conn, row_id, prev, ts, source, action, order_id, text, event, source_in_event,
                                    terms)
    conn.execute(sql, values)
    _keep_head(conn, (row_id + 1, digest))
    return row_id


def audit_text(payload: Any) -> str:
    """The stored text of an audit row's payload (redacted, canonical JSON; ``{}`` for none)."""
    return (clean_text(payload) or "{}") if payload else "{}"


def audit_row(conn: sqlite3.Connection, row_id: int, prev: str, ts: str, source: str, action: str,
              order_id: int | None, text: str, event: tuple[int, str] | None, source_in_event: bool,
              terms: tuple | None) -> tuple[str, tuple, str]:
    """The audit row ``append_audit`` writes as row ``row_id`` after a row hashed ``prev``, its payload's
    stored ``text`` being ``audit_text``'s: (its INSERT, its values, its hash). The one place that lays an
    audit row out (``append_audit``, ``record_many``)."""
    covered, event_id = None, None
    if event is not None:
        covered = (ts, action, order_id, event[1])
        if lean(conn):
            event_id, ts, action, order_id = event[0], "", "", None
            source = "" if source_in_event else source
        else:  # v7: the event's id first in the payload: what marks (and finds) a row that covers one
            text = f"{_LINKED}{event[0]}" + ("}" if text == "{}" else "," + text[1:])
    if event_id is None:
        digest = row_hash(prev, row_id, ts, source, action, order_id, text, covered)
        values = (row_id, ts, source, action, order_id, text, b"" if covered else bytes.fromhex(prev),
                  bytes.fromhex(digest))
        return _INSERT_SQL, values, digest
    stored = _lean_digest(prev, row_id, ts, source, action, order_id, text, covered, event_id, terms)
    return _INSERT_LEAN_SQL, (row_id, ts, source, action, order_id, text, b"", stored, event_id), stored.hex()


_INSERT_SQL = "INSERT INTO audit_log (id, ts, source, action, order_id, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_LEAN_SQL = ("INSERT INTO audit_log (id, ts, source, action, order_id, payload, prev_hash, hash, event_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _covered(payload: str, event_id: int | None, event: tuple) -> EventRow | None:
    """The event row a v7 or v8 row covers, as the hash saw it (a missing event reads as nothing)."""
    if event_id is None and not payload.startswith(_LINKED):
        return None
    ts, kind, order_id, text = event
    return (ts, kind, order_id, text) if text is not None else ("", "", None, "")


def _check_row(row: tuple, expected_id: int, prev: str) -> None:
    row_id, ts, source, action, order_id, payload, prev_hash, digest, event_id = row[:9]
    prev_hash, digest = _hex(prev_hash), _hex(digest)
    if row_id != expected_id:
        raise AuditChainBroken(f"audit row {row_id}: rows {expected_id}..{row_id - 1} are missing (deleted)")
    if prev_hash and prev_hash != prev:  # (a v7 row stores no copy of it: its hash covers it)
        raise AuditChainBroken(f"audit row {row_id}: does not link to the row before it (inserted or reordered)")
    event = _covered(payload, event_id, row[9:13])
    if event_id is None:  # (before v8; ``event``: the one a v7 row covers)
        computed = row_hash(prev, row_id, ts, source, action, order_id, payload, event)
    else:
        computed = lean_hash(prev, row_id, ts, source, action, order_id, payload, event, event_id, _terms(row))
    if computed != digest:
        what = " or the event it covers" if event is not None else ""
        raise AuditChainBroken(f"audit row {row_id}: content{what} does not match its hash (edited)")


_FILL_AT = 13 + len(ORDER_TERMS)  # a verify row: the order's terms, then the fills row its fill event names


def _terms(row: tuple) -> tuple | None:
    """What a v8 row covers besides its event: the order's terms (a creation) or the fills row its dense
    fill event names (v9: found by the id in the event's payload; a missing row reads as nothing)."""
    if row[10] == CREATED_KIND:
        return row[13:_FILL_AT]
    return row[_FILL_AT + 1:] if row[_FILL_AT] is not None else None


_V7_LINK = (f"CASE WHEN substr(a.payload, 1, {len(_LINKED)}) = '{_LINKED}' "
            f"THEN CAST(substr(a.payload, {len(_LINKED) + 1}) AS INTEGER) END")
_VERIFY_SQL = (
    "SELECT a.id, a.ts, a.source, a.action, a.order_id, a.payload, CAST(a.prev_hash AS BLOB), CAST(a.hash AS BLOB), "
    "{event_id}, e.ts, e.kind, e.order_id, e.payload, {terms}, {fill} FROM audit_log a LEFT JOIN events e "
    "ON e.id = {link} {join} ORDER BY a.id")
# (the id a dense fill event names: its payload's ``fill`` when an integer; json_valid first, so an edited
# payload that is no JSON reads as naming nothing and fails its hash instead of stopping the walk)
_FILL_JOIN = (f"LEFT JOIN fills f ON a.event_id IS NOT NULL AND e.kind = '{FILL_KIND}' AND f.id = CASE WHEN "
              "json_valid(e.payload) AND json_type(e.payload, '$.fill') = 'integer' THEN json_extract(e.payload, '$.fill') END")


def _verify_sql(conn: sqlite3.Connection) -> str:
    nothing = ", ".join("NULL" for _ in (0, *FILL_COVERED))
    if lean(conn):
        return _VERIFY_SQL.format(
            event_id="a.event_id", link=f"COALESCE(a.event_id, {_V7_LINK})",
            terms=", ".join(f"o.{c}" for c in ORDER_TERMS),
            fill=", ".join(f"f.{c}" for c in ("id", *FILL_COVERED)) if dense(conn) else nothing,
            join=f"LEFT JOIN orders o ON a.event_id IS NOT NULL AND e.kind = '{CREATED_KIND}' AND o.id = e.order_id"
                 + (" " + _FILL_JOIN if dense(conn) else ""))
    return _VERIFY_SQL.format(event_id="NULL", link=_V7_LINK, terms=", ".join("NULL" for _ in ORDER_TERMS),
                              fill=nothing, join="")


def verify(conn: sqlite3.Connection) -> int:
    """Walk the whole chain; raise AuditChainBroken naming the first bad row. Returns rows checked."""
    prev, expected = GENESIS, 1
    for row in conn.execute(_verify_sql(conn)):
        _check_row(row, expected, prev)
        prev, expected = _hex(row[7]), expected + 1
    seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").fetchone()
    if seq and seq[0] >= expected:
        raise AuditChainBroken(f"audit row {expected}: rows {expected}..{seq[0]} are missing (deleted at the end)")
    return expected - 1


def record(conn: sqlite3.Connection, *, ts: str, kind: str, source: str, order_id: int | None,
           event_payload: dict[str, Any], audit_payload: dict[str, Any], terms: tuple | None = None) -> tuple[int, int]:
    """An event and the audit row that covers it, for something that happened: the audit row keeps only
    what the event does not (its hash covers the event, and with ``terms`` the order's terms, an order's
    creation, or a dense fill event's fills row). Returns (event id, audit row id)."""
    extra = _audit_extra(event_payload, audit_payload)
    text, extra_text = _texts(event_payload, extra)
    event_id = append_event(conn, ts=ts, kind=kind, order_id=order_id, payload=event_payload, text=text)
    audit_id = append_audit(conn, ts=ts, source=source, action=kind, order_id=order_id, payload=extra,
                            event=(event_id, text), source_in_event=event_payload.get("source") == source,
                            terms=terms, text=extra_text)
    return event_id, audit_id


def _texts(event_payload: Any, extra: dict[str, Any]) -> tuple[str, str]:
    """(``encode(event_payload)``, ``audit_text(extra)``): both serialised, secrets looked for once."""
    if not extra:
        return encode(event_payload), "{}"
    return clean_texts(event_payload or {}, extra)


def _audit_extra(event_payload: dict[str, Any], audit_payload: dict[str, Any]) -> dict[str, Any]:
    """What an audit row stores of ``audit_payload``: what the event it covers does not hold already."""
    return {k: v for k, v in audit_payload.items() if k not in event_payload or event_payload[k] is not v}


def entry_texts(entry: dict[str, Any]) -> dict[str, str]:
    """The texts ``record_many`` would build for ``entry`` (its ``event_text`` and ``audit_text``), built
    now: a change prepared ahead of its write (``corrections.prepare``) carries them."""
    payload = entry["event_payload"]
    text, extra_text = _texts(payload, _audit_extra(payload, entry["audit_payload"]))
    return {"event_text": text, "audit_text": extra_text}


_EVENT_HEAD_SQL = ("SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0), "
                   "COALESCE((SELECT MAX(id) FROM events), 0)) + 1")
_INSERT_EVENT_SQL = "INSERT INTO events (id, ts, kind, order_id, payload) VALUES (?, ?, ?, ?, ?)"


def record_many(conn: sqlite3.Connection, entries: list[dict[str, Any]]) -> None:
    """``record(conn, **entry)`` for each entry, in order, written with one ``executemany`` per table: the
    same rows ``record`` writes one by one (the ids AUTOINCREMENT would give, each row built by the same
    functions), for a batch of changes (``orders.record_fills``, ``corrections.write``). An entry may carry
    its texts already (``event_text`` and ``audit_text``, as ``entry_texts`` builds them with ``_texts``):
    they are then not built again."""
    event_id = conn.execute(_EVENT_HEAD_SQL).fetchone()[0]  # what AUTOINCREMENT gives next
    row_id, prev = _head(conn)
    events, audits, sql = [], [], _INSERT_LEAN_SQL
    for entry in entries:
        payload, source, ts, kind, order_id = (entry["event_payload"], entry["source"], entry["ts"], entry["kind"],
                                               entry["order_id"])
        text, extra_text = entry.get("event_text"), entry.get("audit_text")
        if text is None or extra_text is None:
            text, extra_text = _texts(payload, _audit_extra(payload, entry["audit_payload"]))
        events.append((event_id, ts, kind, order_id, text))
        sql, values, prev = audit_row(conn, row_id, prev, ts, source, kind, order_id, extra_text, (event_id, text),
                                      payload.get("source") == source, entry.get("terms"))
        audits.append(values)
        event_id, row_id = event_id + 1, row_id + 1
    conn.executemany(_INSERT_EVENT_SQL, events)
    conn.executemany(sql, audits)  # (every row covers its event: one statement for all)
    _keep_head(conn, (row_id, prev))


# reports -----------------------------------------------------------------------------------------


_FILL_COLUMNS = ("f.id AS fill_id, f.order_id, f.broker_order_no, f.qty, f.price, f.qty * f.price AS amount, "
                 "f.fill_time, f.source, f.dedupe_key, f.recorded_at, o.account, o.symbol, o.side, "
                 "o.strategy_version, o.order_date")


def fills_between(conn: sqlite3.Connection, first: str, last: str, *, symbol: str | None = None,
                  account: str | None = None) -> list[dict[str, Any]]:
    """Fills of orders booked from ``first`` to ``last`` (YYYYMMDD, inclusive), oldest first, each with its
    order's account, symbol, side and booking date."""
    where, params = ["o.order_date BETWEEN ? AND ?"], [first, last]
    for column, value in (("o.symbol", symbol), ("o.account", account)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    sql = (f"SELECT {_FILL_COLUMNS} FROM fills f JOIN orders o ON o.id = f.order_id "
           f"WHERE {' AND '.join(where)} ORDER BY f.id")
    return as_dicts(conn.execute(sql, params))


def orders_between(conn: sqlite3.Connection, first: str, last: str, created_from: str, created_to: str) -> list:
    """Orders booked from ``first`` to ``last`` (YYYYMMDD, inclusive), and orders never booked (refused
    before the broker) created in [``created_from``, ``created_to``) (UTC ISO texts), oldest first."""
    sql = ("SELECT * FROM orders WHERE order_date BETWEEN ? AND ? "
           "OR (order_date IS NULL AND created_at >= ? AND created_at < ?) ORDER BY id")
    return [row_to_order(r) for r in as_dicts(conn.execute(sql, (first, last, created_from, created_to)))]
