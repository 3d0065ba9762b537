"""The Ledger's public surface is the verb table of the package docstring plus reads: no near-synonyms."""

from __future__ import annotations

import kisoms.ledger
from kisoms.ledger import Ledger

VERBS = {"create", "create_and_claim", "transition", "correct", "record_fill", "record_fills", "claim", "settle",
         "prepare_correction", "write_corrections", "record_change", "stamp_attempt", "release_request", "record_external", "set_halt", "clear_halt", "publish"}
READS = {"get", "get_by_key", "list_orders", "unresolved_twins", "history", "fills", "open_requests",
         "broker_numbers", "request_for_broker_number", "order_for_broker_number", "known_broker_numbers",
         "external_orders", "events_since", "last_event_id", "verify_audit_chain", "halt_state", "halts",
         "has_fills_from", "orders_with_fills_from", "orders_for_broker_numbers"}
LIFECYCLE = {"close", "batch", "savepoint", "owner", "conn"}


def test_public_methods_are_the_verbs_and_the_reads():
    public = {name for name in vars(Ledger) if not name.startswith("_")}
    assert public == VERBS | READS | LIFECYCLE


def test_every_verb_is_in_the_package_docstring_table():
    doc = kisoms.ledger.__doc__
    assert all(verb in doc for verb in VERBS)
