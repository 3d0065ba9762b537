"""The SQLite ledger: the durable record of every order, request, fill, event and audit entry.

Only this package speaks SQL. ``Ledger`` (``ledger.py``) is the one front; its writes are the verbs below,
each one BEGIN IMMEDIATE transaction (a SAVEPOINT inside ``Ledger.batch``) that commits whole or leaves
no trace, fsynced (``synchronous=FULL``) except ``settle`` (NORMAL: a lost settle leaves the request open,
and recovery resolves it from the broker's books). Every write also appends one ``events`` row and one
hash-chained ``audit_log`` row that covers it (payloads redacted first, each thing stored once), in the same
transaction. An order's change event is its history entry (``Ledger.history``; since schema v8, older
entries stay in ``order_status_history``, which gets no new rows). Since schema v9 a change event is stored
dense, without what its kind, its order's terms or its fills row hold (``records.dense_event``), and a
request closed by ``settle`` without a copy of its owner (its claim event names it); every read puts them
back (``journal.events_since``, ``orders.history``, ``requests``), so readers see what they saw before.

=================  ==============================================  ==========================================
verb (module)      tables written                                  invariants
=================  ==============================================  ==========================================
create (orders)    orders                                          one order per idempotency key (a known key
                                                                   returns the order, nothing written); NEW,
                                                                   version 1, nothing filled
create_and_claim   orders, broker_order_map (``sending``, owner)   ``create`` then, for a new order, its
(requests)                                                         first ``claim`` in ONE fsynced commit
                                                                   before the request leaves; a known key
                                                                   writes nothing (map_id None); a kill
                                                                   switch or look-alike refuses the claim
                                                                   alone (the NEW order commits); a guard
                                                                   refusal commits REJECTED
transition         orders                                          legal state-machine moves only
(orders)                                                           (InvalidTransition), ``expected_version``
                                                                   compare-and-swap (StaleOrder), quantities
                                                                   never go backwards; version + 1
correct (orders)   orders; fills (an inferred fill)                broker truth: any state to the target;
                                                                   quantities only forward
                                                                   (CorrectionRefused); fill deduped by key
write_corrections  fills, orders (one executemany per table)       the rows correct writes for each
(corrections)                                                      correction built ahead (prepare_correction,
                                                                   no I/O), in order, up to the first whose
                                                                   order moved since or whose inferred fill's
                                                                   key is known (the caller corrects it)
record_fill        fills, orders                                   one execution once (``dedupe_key``
(orders)                                                           UNIQUE); never overfills (flagged
                                                                   ``order.overfill_flagged``, not applied)
record_fills       fills, orders (one executemany per table)       inside a batch: plain fills only (new
(orders)                                                           keys, no overfill, working order), the
                                                                   rows record_fill writes; else nothing
claim (requests)   orders, broker_order_map (``sending``, owner);  claim before send: the ``sending`` row
                   with ``resend_of`` the closed request too       (owner recorded) commits before a request
                                                                   leaves; one open request per order;
                                                                   refused while halted (Halted), while a
                                                                   look-alike is unresolved (TwinPending);
                                                                   a guard refusal commits REJECTED
settle (requests)  broker_order_map; orders with an ``event``      only an open request (RequestNotOpen);
                                                                   a broker number maps to one request
                                                                   (NumberTaken); ``expected_activity``:
                                                                   a takeover's compare-and-swap; commits
                                                                   with ``synchronous=NORMAL`` (no fsync)
record_change      broker_order_map (``accepted``)                 an amend/cancel number found at the
(requests)                                                         broker is mapped once
stamp_attempt,     broker_order_map (``last_attempt_at``,          only an open request; no audit or event
release_request    ``owner``)                                      (lease bookkeeping)
(requests)
record_external    external_orders                                 a number known as ours or as external is
(requests)                                                         not recorded again
set_halt,          control, account_halts                          persistent; claims check it in their
clear_halt                                                         own transaction
(control)
publish (journal)  (audit_log and events only)                     event ids grow by one, in commit order
=================  ==============================================  ==========================================

Opening a ledger may also write: the schema (``schema.migrate``, one transaction) and the identity record
(``ledger_identity``, audited); ``schema.recorded_identity_at`` reads that record without opening the file
as a ledger (the quick ``kisoms status``). The alert outbox (``outbox``: ``alert_outbox``, ``alert_cursor``)
is driven by ``kisoms.engine.alerts``. A pass over many orders (reconcile) reads them in a few queries for
all of them: ``orders.orders_by_id``, ``orders.versions_by_id``, ``requests.request_keys_by_order``.

Modules, lowest first: ``errors``; ``db`` (connection, transactions, value encoding, redaction);
``records`` (returned records, rows ↔ records); ``journal`` (events, audit chain, reports); ``schema``
(migrations, identity); ``control`` (kill switches, guard activity, claim owners); ``fills`` (the fills
table); ``fillrows`` (the rows of a burst of plain fills, built for fills alone: the generic path's bytes);
``lists`` (the order list, read-only); ``orders`` (orders, history, every order change); ``corrections``
(corrections built ahead of their write, written many at once); ``requests`` (broker requests and numbers,
external orders); ``outbox`` (alerts); ``ledger`` (the front: it imports ``orders``, ``requests``, ``fills`` and
``journal`` on first use, so a read-only command such as ``kisoms status`` loads none of them).
"""

from kisoms.ledger.errors import CorrectionRefused, RequestNotOpen, StaleOrder
from kisoms.ledger.ledger import Ledger, default_ledger_path, utc_now
from kisoms.ledger.records import BrokerNumber, HaltState, HistoryRow, LedgerEvent
from kisoms.ledger.schema import LedgerIdentity

__all__ = [
    "BrokerNumber", "CorrectionRefused", "HaltState", "HistoryRow", "Ledger", "LedgerEvent", "LedgerIdentity",
    "RequestNotOpen", "StaleOrder", "default_ledger_path", "utc_now",
]
