"""``Ledger``: the one object the engine and the CLI use, a thin front over the ledger's modules. Every write
is one BEGIN IMMEDIATE transaction; the verbs, the tables each writes and its invariants are tabled in the
package docstring (``kisoms.ledger``).

Event kinds written (``events.kind`` and ``audit_log.action``):
``order.created``, ``order.transition``, ``order.fill``, ``order.corrected``, ``order.overfill_flagged``,
``request.settled`` (request closed without an order event), ``request.mapped`` (amend/cancel number
found at the broker), ``external.recorded``, ``halt.set``, ``halt.cleared``, and whatever ``publish`` is
given (e.g. ``connection.*``, ``reconcile.finished``).
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import platformdirs

from kisoms.domain.order import Fill, Order
from kisoms.domain.states import OrderEvent, OrderStatus, Quantities
from kisoms.errors import GuardTripped, LedgerError
from kisoms.ledger import control, lists
from kisoms.ledger.control import current_owner
from kisoms.ledger.db import BUSY_TIMEOUT, atomic, batch, busy_error, connect, enable_wal, is_busy, snapshot, to_iso
from kisoms.ledger.schema import LedgerIdentity, check_identity, check_not_newer, migrate
from kisoms.ledger.records import (OPEN_REQUEST_STATES, BrokerNumber, HaltState, HistoryRow, LedgerEvent,
                                   as_read_back)
from kisoms.private import create_private, loose_mode

if TYPE_CHECKING:
    from kisoms.domain.guards import GuardLimits
    from kisoms.ledger.corrections import PreparedCorrection


class _OnFirstUse:
    """Module ``name``, imported when one of its attributes is first read: a command that only reads the
    ledger (``kisoms status``) never loads the write path's modules and their start-up cost. Each read goes
    through ``importlib.import_module`` (thread-safe, ~1 µs once loaded) and nothing is cached here, so a
    test that patches the module's functions is seen."""

    __slots__ = ("_name",)

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(import_module(self._name), attr)


corrections = _OnFirstUse("kisoms.ledger.corrections")
fills = _OnFirstUse("kisoms.ledger.fills")
journal = _OnFirstUse("kisoms.ledger.journal")
orders = _OnFirstUse("kisoms.ledger.orders")
requests = _OnFirstUse("kisoms.ledger.requests")


_CLOSED_KEPT = 1000  # settled request ids remembered for ``release_request``


def utc_now() -> datetime:
    """The default clock: the current aware UTC time."""
    return datetime.now(timezone.utc)


def default_ledger_path(env: str = "sim") -> Path:
    """``<platform user data dir>/kisoms/<env>/ledger.db``: each env its own (the caller applies
    flag/env/config overrides)."""
    return Path(platformdirs.user_data_dir("kisoms", appauthor=False)) / env / "ledger.db"


def _loose_files(path: Path) -> list[str]:
    """Warnings for an existing ledger (or its -wal/-shm) that others may read."""
    found = (loose_mode(Path(f"{path}{suffix}")) for suffix in ("", "-wal", "-shm"))
    return [warning for warning in found if warning]


def _open(path: Path, busy_timeout: float):
    check_not_newer(path)  # before anything may write to the file
    create_private(path)  # 0600 before SQLite opens it: its -wal and -shm get the same mode
    db = connect(path, busy_timeout)
    try:
        enable_wal(db)
        db.conn.schema_version = migrate(db, path)
    except sqlite3.Error as exc:
        db.close()
        if is_busy(exc):
            raise busy_error(path, busy_timeout) from exc
        raise LedgerError(f"cannot open ledger {path}: {exc}") from exc
    except BaseException:
        db.close()
        raise
    return db


class Ledger:
    """The SQLite ledger of orders, requests, fills, events, audit log, external orders and kill switch."""

    def __init__(self, path: str | Path, *, now: Callable[[], datetime] = utc_now, owner: str | None = None,
                 identity: LedgerIdentity | None = None, busy_timeout: float = BUSY_TIMEOUT):
        """Open (creating if needed) the ledger at ``path``. With ``identity``, a ledger of another env or
        account set is refused (LedgerEnvMismatch) and a file with no record adopts it. ``warnings`` lists
        what the caller should show (files others may read, a changed app key)."""
        self.path = Path(path)
        self._now = now
        self._owner = owner  # recorded on every claim; by default the calling process (``current_owner``)
        self._closed: set[int] = set()  # requests this object settled closed since (``release_request``)
        self._claims: dict[int, Any] = {}  # request id -> ``requests.FreshClaim``: claims this object wrote
        self.warnings: list[str] = _loose_files(self.path)
        self.db = _open(self.path, busy_timeout)
        if identity is not None:
            try:
                self.warnings += check_identity(self.db, self.path, identity, self._ts())
            except BaseException:
                self.db.close()
                raise

    # lifecycle -----------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def owner(self) -> str:
        """The owner tag this ledger object records on its claims."""
        return self._owner or current_owner()

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    def batch(self) -> AbstractContextManager[sqlite3.Connection]:
        """Many writes in one transaction (one fsync): each write inside is a SAVEPOINT, so a failing one
        leaves no trace while the others stay; all of them are committed, and visible, when the block ends."""
        return batch(self.db)

    def savepoint(self) -> AbstractContextManager[sqlite3.Connection]:
        """Inside ``batch``: a group of writes that is undone as a whole when the block raises."""
        if not self.db.batching:
            raise LedgerError("a savepoint needs an open batch")
        return atomic(self.db)

    def _ts(self) -> str:
        return to_iso(self._now())

    # orders --------------------------------------------------------------------------------------
    def create(self, order: Order, *, source: str, raw_payload: dict | None = None) -> tuple[Order, bool]:
        """Insert by idempotency key (``order.id`` ignored); (existing, False) if the key is known."""
        with atomic(self.db) as conn:
            return orders.create(conn, order, source=source, raw_payload=raw_payload, ts=self._ts())

    def create_and_claim(self, order: Order, *, source: str, raw_payload: dict | None = None, request: dict,
                         tr_id: str, guards: GuardLimits | None = None) -> tuple[Order, bool, int | None]:
        """``create`` and, for a new order, its first ``claim`` (CLAIM, a ``sending`` request row) in ONE
        durable transaction, committed before anything may leave. (order, created, map_id): map_id is None
        when the key was known (nothing written; the caller claims as usual). A kill switch or an unresolved
        look-alike refuses the claim alone: the order stays NEW, committed, and Halted / TwinPending is
        raised; a guard refusal is committed (REJECTED) and GuardTripped raised."""
        owner = self.owner
        with atomic(self.db) as conn:
            order, created, map_id, refusal = requests.create_and_claim(
                conn, order, source=source, raw_payload=raw_payload, request=request, tr_id=tr_id,
                ts=self._ts(), owner=owner, guards=guards)
        if refusal is not None:
            raise refusal
        if map_id is not None:
            self._remember_claim(map_id, order, "new", owner)
        return order, created, map_id

    def _remember_claim(self, map_id: int, order: Order, kind: str, owner: str) -> None:
        """Keep a claim this object committed (outside a batch, whose later rollback could undo it), so its
        settle need not read back what it wrote while nothing else has touched it (``requests.settle``)."""
        if self.db.batching:
            return
        if len(self._claims) >= _CLOSED_KEPT:
            self._claims.clear()
        self._claims[map_id] = requests.FreshClaim(as_read_back(order), kind, owner)

    def get(self, order_id: int) -> Order:
        """The order; OrderNotFound if there is none."""
        return orders.load(self.conn, order_id)

    def get_by_key(self, key: str) -> Order | None:
        """The order with this idempotency key, or None."""
        return orders.by_key(self.conn, key)

    def list_orders(self, *, statuses: Iterable[OrderStatus | str] | None = None, symbol: str | None = None,
                    account: str | None = None, order_date: str | None = None,
                    limit: int | None = None) -> list[Order]:
        """Orders matching every filter, oldest first; with ``limit`` the newest ``limit`` of them."""
        return lists.select(self.conn, statuses=statuses, symbol=symbol, account=account,
                             order_date=order_date, limit=limit)

    def transition(self, order_id: int, event: OrderEvent, *, source: str, raw_payload: Any = None,
                   expected_version: int | None = None, quantities: Quantities | None = None,
                   filled_amount: int | None = None, **fields: Any) -> Order:
        """Apply one state-machine event (fields: broker_order_no, krx_orgno, order_date, reject_code,
        reject_reason, price_note, price, tags, cancel_qty). InvalidTransition/StaleOrder leave no trace."""
        with atomic(self.db) as conn:
            return orders.transition(conn, order_id, event, source=source, raw_payload=raw_payload,
                                     expected_version=expected_version, quantities=quantities,
                                     filled_amount=filled_amount, fields=fields, ts=self._ts())

    def correct(self, order_id: int, target_status: OrderStatus, *, source: str, raw_payload: Any,
                quantities: Quantities, filled_amount: int, inferred_fill: Fill | None = None,
                expected_version: int | None = None, known: Order | None = None, **fields: Any) -> Order:
        """Broker truth: any state → ``target_status``; CorrectionRefused if quantities go backwards.
        ``inferred_fill`` (deduped) is recorded in the same transaction; quantities already include it.
        ``known``: the caller's copy of the order at ``expected_version``, so it is not read again."""
        with atomic(self.db) as conn:
            return orders.correct(conn, order_id, target_status, source=source, raw_payload=raw_payload,
                                  quantities=quantities, filled_amount=filled_amount,
                                  inferred_fill=inferred_fill, expected_version=expected_version,
                                  fields=fields, ts=self._ts(), known=known)

    def prepare_correction(self, order: Order, target_status: OrderStatus, *, source: str, raw_payload: Any,
                           quantities: Quantities, filled_amount: int, inferred_fill: Fill | None = None,
                           **fields: Any) -> PreparedCorrection | None:
        """``correct(order.id, ...)`` for ``order`` at its version, built now and written later by
        ``write_corrections`` (no I/O: reconcile builds corrections while it waits for the broker). Refuses
        as ``correct`` does; None when this file's changes are not written that way (an older schema)."""
        return corrections.prepare(self.conn, order, target_status, source=source, raw_payload=raw_payload,
                                   quantities=quantities, filled_amount=filled_amount, inferred_fill=inferred_fill,
                                   fields=fields)

    def write_corrections(self, items: list[PreparedCorrection]) -> int:
        """Write prepared corrections, in order, in one transaction (a savepoint inside ``batch``): the rows
        ``correct`` writes for each, up to the first whose order moved since it was prepared (or whose inferred
        fill's key is known). Returns how many were written."""
        with atomic(self.db) as conn:
            return corrections.write(conn, items, self._ts())

    # broker requests -----------------------------------------------------------------------------
    def claim(self, order_id: int, *, kind: str = "new", event: OrderEvent | None = None, request: dict,
              tr_id: str, source: str, expected_version: int | None = None, check_halt: bool = True,
              guards: GuardLimits | None = None, resend_of: int | None = None, raw_payload: Any = None,
              expected_activity: datetime | None = None) -> tuple[Order, int] | None:
        """Write-ahead claim: the event (default: the usual one for ``kind``: CLAIM, MODIFY_REQUESTED,
        CANCEL_REQUESTED) plus a ``sending`` request row. (order, map_id), or None when the status/version
        moved or a request is open. Halted (nothing written) while a kill switch stops the account, unless
        ``check_halt`` is off. GuardTripped when an account guard refuses a first claim (the order is then
        REJECTED, committed).
        ``resend_of``: the open request to close as ``not_found`` before claiming a resend (UNKNOWN → SENDING),
        atomically, so a crash in between can never leave an order with no open request to resolve;
        ``raw_payload`` and ``expected_activity`` (a takeover's compare-and-swap) apply to that close.
        RequestNotOpen (nothing written) if another process got there first."""
        owner = self.owner
        if resend_of is not None:
            with atomic(self.db) as conn:
                result = requests.claim_resend(conn, resend_of, order_id, request=request, tr_id=tr_id,
                                               source=source, raw_payload=raw_payload,
                                               expected_activity=expected_activity, check_halt=check_halt,
                                               ts=self._ts(), owner=owner)
        else:
            with atomic(self.db) as conn:
                event = requests.KIND_EVENTS[kind] if event is None else event
                result = requests.claim(conn, order_id, event=event, kind=kind, request=request, tr_id=tr_id,
                                        source=source, expected_version=expected_version, ts=self._ts(),
                                        owner=owner, check_halt=check_halt, guards=guards)
        if isinstance(result, GuardTripped):
            raise result
        if result is not None:
            self._remember_claim(result[1], result[0], "new" if resend_of is not None else kind, owner)
        return result

    def stamp_attempt(self, map_id: int) -> bool:
        """Heartbeat of a claim's owner before it tries again: recovery counts its lease from here.
        False if the request is no longer ``sending`` (another process judged it and moved it on)."""
        with atomic(self.db) as conn:
            return requests.stamp_attempt(conn, map_id, self._ts())

    def release_request(self, map_id: int) -> bool:
        """The owner stops working on a request it leaves open (unknown, or sending after an error): from
        now on recovery judges it by time alone. The claim's history keeps who the owner was."""
        if map_id in self._closed:  # settled closed by this object: nothing to release, nothing to read
            self._closed.discard(map_id)
            return False
        request = requests.get(self.conn, map_id)
        if request is None or not (request.is_open and request.owner):
            return False  # settled (the usual case): nothing to write
        with atomic(self.db) as conn:
            return requests.release(conn, map_id)

    def settle(self, map_id: int, *, state: str, order_id: int | None = None,
               event: OrderEvent | None = None, source: str, raw_payload: Any = None,
               map_fields: dict | None = None, order_fields: dict | None = None,
               expected_version: int | None = None, expected_activity: datetime | None = None,
               **fields: Any) -> Order:
        """Close (or mark ``unknown``) an open request and apply ``event`` to its order, atomically; with no
        ``event`` the order stays as it is (``request.settled``). ``map_fields``: the broker number found
        (broker_order_no, krx_orgno, order_date); ``fields`` are merged into ``order_fields``.
        RequestNotOpen if it is not open, or (a takeover, with ``expected_activity``) if its owner has tried
        again since. Committed with ``synchronous=NORMAL`` (no fsync): a settle lost to a power cut leaves
        the request open, which recovery resolves from the broker's books (``db.relaxed``)."""
        claim = self._claims.pop(map_id, None)  # (used once: a settle that fails reads everything next time)
        with atomic(self.db, durable=False) as conn:
            order = requests.settle(conn, map_id, state=state, order_id=order_id, event=event, source=source,
                                    raw_payload=raw_payload, map_fields=dict(map_fields or {}),
                                    order_fields={**(order_fields or {}), **fields},
                                    expected_version=expected_version, ts=self._ts(),
                                    expected_activity=expected_activity, claim=claim)
        if state not in OPEN_REQUEST_STATES and not self.db.batching:  # a closed request never opens again
            if len(self._closed) >= _CLOSED_KEPT:
                self._closed.clear()
            self._closed.add(map_id)
        return order

    def record_change(self, order_id: int, *, kind: str, broker_order_no: str, krx_orgno: str | None,
                      order_date: str, raw_payload: Any = None, source: str) -> bool:
        """Map an amend/cancel number found at the broker to the order; False if already mapped."""
        with atomic(self.db) as conn:
            return requests.record_change(conn, order_id, kind=kind, broker_order_no=broker_order_no,
                                          krx_orgno=krx_orgno, order_date=order_date, raw_payload=raw_payload,
                                          source=source, ts=self._ts())

    def open_requests(self, order_id: int | None = None) -> list[BrokerNumber]:
        """Requests in state sending/unknown (of one order, or all), oldest first."""
        return requests.open_requests(self.conn, order_id)

    def broker_numbers(self, order_id: int) -> list[BrokerNumber]:
        """Every request of an order (new, amends, cancels), oldest first."""
        return requests.for_order(self.conn, order_id)

    def request_for_broker_number(self, broker_order_no: str,
                                  order_date: str | None = None) -> tuple[Order, BrokerNumber] | None:
        """The order and request that got this broker number, or None (one query for both)."""
        return requests.with_order(self.conn, broker_order_no, order_date)

    def order_for_broker_number(self, broker_order_no: str, order_date: str | None = None) -> Order | None:
        """The order behind a broker number, or None."""
        return requests.order_by_number(self.conn, broker_order_no, order_date)

    def orders_for_broker_numbers(self, numbers: list[str], order_date: str) -> dict[str, Order]:
        """``order_for_broker_number`` for many numbers of one day: number -> order, those known."""
        return requests.orders_by_numbers(self.conn, numbers, order_date)

    def known_broker_numbers(self, order_date: str | None = None) -> set[str]:
        """Every broker number mapped to one of our orders (on ``order_date``, or ever)."""
        return requests.known_numbers(self.conn, order_date)

    # fills ---------------------------------------------------------------------------------------
    def record_fill(self, order_id: int, fill: Fill, *, raw_payload: Any = None,
                    order: Order | None = None) -> Order | None:
        """Apply a fill once. None: duplicate key (nothing written) or overfill (not applied; an
        ``order.overfill_flagged`` event + audit row is written). InvalidTransition propagates.
        ``order``: the order as the caller read it inside the current ``batch`` (it is then not read
        again: the batch has held the write lock since); outside a batch it is read in this transaction."""
        with atomic(self.db) as conn:
            loaded = order if self.db.batching else None
            return orders.record_fill(conn, order_id, fill, raw_payload=raw_payload, ts=self._ts(), order=loaded)

    def record_fills(self, items: list[tuple[Order, Fill, Any]]) -> list[Order] | None:
        """Inside a ``batch``: many plain fills at once, each (order as read inside the batch, fill, raw
        payload), the same rows ``record_fill`` would write one by one. None, with nothing written, when one
        is not plain (a known key, an overfill, another transition: apply them one by one). A failure
        leaves none of them (a savepoint)."""
        if not self.db.batching:
            raise LedgerError("record_fills needs an open batch")
        with atomic(self.db) as conn:
            return orders.record_fills(conn, items, ts=self._ts())

    def orders_with_fills_from(self, order_ids: list[int], source: str) -> set[int]:
        """Those of the orders with a fill recorded from ``source`` (``has_fills_from`` for many)."""
        return fills.orders_with_fills_from(self.conn, order_ids, source)

    def fills(self, order_id: int) -> list[Fill]:
        """An order's fills, oldest first."""
        return fills.for_order(self.conn, order_id)

    def has_fills_from(self, order_id: int, source: str) -> bool:
        """Whether the order has a fill recorded from ``source`` (e.g. fills reconcile inferred)."""
        return fills.any_from(self.conn, order_id, source)

    def history(self, order_id: int) -> list[HistoryRow]:
        """An order's status history, oldest first."""
        return orders.history(self.conn, order_id)

    # events & audit ------------------------------------------------------------------------------
    def events_since(self, event_id: int, limit: int = 1000) -> list[LedgerEvent]:
        """Events after ``event_id``, oldest first, at most ``limit``."""
        return journal.events_since(self.conn, event_id, limit)

    def last_event_id(self) -> int:
        """The newest event id (0 if none)."""
        return journal.last_event_id(self.conn)

    def publish(self, kind: str, payload: dict, order_id: int | None = None, *, source: str = "kisoms") -> int:
        """An event and an audit row on their own; returns the event id."""
        with atomic(self.db) as conn:
            return journal.record(conn, ts=self._ts(), kind=kind, source=source, order_id=order_id,
                          event_payload=payload, audit_payload=payload)[0]

    def verify_audit_chain(self) -> int:
        """Rows checked; AuditChainBroken names the first edited, inserted or deleted row."""
        with snapshot(self.db) as conn:  # rows appended meanwhile must not look like deleted ones
            return journal.verify(conn)

    # external orders and the kill switch ---------------------------------------------------------
    def record_external(self, *, order_date: str, broker_order_no: str, account: str, symbol: str, side: str,
                        qty: int, price: int | None, raw: Any) -> bool:
        """Record an order kisoms did not place; False if already known."""
        with atomic(self.db) as conn:
            return requests.record_external(conn, order_date=order_date, broker_order_no=broker_order_no,
                                            account=account, symbol=symbol, side=side, qty=qty, price=price, raw=raw,
                                            ts=self._ts())

    def external_orders(self, *, include_claimed: bool = False) -> list[dict]:
        """Every external order (raw parsed), first seen first; ``claimed_by_order_id`` is set on one that
        turned out to be ours (its notice arrived before our reply was recorded)."""
        return requests.external_orders(self.conn, include_claimed=include_claimed)

    def set_halt(self, reason: str, *, source: str, account: str | None = None) -> None:
        """Turn a kill switch on (persistent): ``account``'s, or the global one. A second call replaces the
        reason (both are audited)."""
        with atomic(self.db) as conn:
            control.halt(conn, reason=reason, source=source, account=account, ts=self._ts())

    def clear_halt(self, *, source: str, account: str | None = None, everything: bool = False) -> None:
        """Turn ``account``'s kill switch off, or (no account) the global one; ``everything``: every switch.
        Nothing is written when none of them is on."""
        with atomic(self.db) as conn:
            control.resume(conn, source=source, account=account, everything=everything, now=self._ts)

    def unresolved_twins(self, order: Order) -> list[Order]:
        """SENDING/UNKNOWN orders a broker lookup could confuse with ``order`` (the claim waits for them)."""
        return orders.unresolved_twins(self.conn, order)

    def halt_state(self, account: str | None = None) -> HaltState | None:
        """The kill switch that stops ``account`` (global first), or with no account, any that is on."""
        return control.state(self.conn, account)

    def halts(self) -> list[HaltState]:
        """Every kill switch that is on: the global one first, then accounts."""
        return control.all_states(self.conn)
