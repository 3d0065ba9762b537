"""``Ledger.batch``: many writes in one transaction, each ``atomic`` inside it a savepoint."""

from __future__ import annotations

import pytest

from kisoms.errors import LedgerError
from kisoms.ledger import Ledger
from kisoms.ledger.db import atomic


def test_writes_in_a_batch_are_committed_together_and_invisible_before(ledger, path):
    other = Ledger(path)
    try:
        start = other.last_event_id()
        with ledger.batch():
            ids = [ledger.publish("test.one", {"n": n}) for n in range(3)]
            assert other.last_event_id() == start  # not committed yet
        assert other.last_event_id() == ids[-1] == start + 3
    finally:
        other.close()
    assert ledger.verify_audit_chain() == 3


def test_a_failing_write_in_a_batch_is_undone_alone(ledger):
    with ledger.batch():
        kept = ledger.publish("test.kept", {})
        with pytest.raises(RuntimeError):
            with ledger.savepoint():
                ledger.publish("test.undone", {})
                raise RuntimeError("boom")
        last = ledger.publish("test.after", {})
    kinds = [e.kind for e in ledger.events_since(0)]
    assert kinds == ["test.kept", "test.after"] and last > kept
    assert ledger.verify_audit_chain() == 2


def test_an_exception_out_of_a_batch_rolls_all_of_it_back(ledger):
    with pytest.raises(RuntimeError):
        with ledger.batch():
            ledger.publish("test.lost", {})
            raise RuntimeError("boom")
    assert ledger.events_since(0) == [] and not ledger.conn.in_transaction
    ledger.publish("test.next", {})  # the ledger is usable afterwards
    assert ledger.verify_audit_chain() == 1


def test_nesting_outside_a_batch_is_still_refused(ledger):
    with atomic(ledger.db):
        with pytest.raises(LedgerError, match="nested"):
            with atomic(ledger.db):
                pass
    with pytest.raises(LedgerError, match="batch"):
        ledger.savepoint()
    with ledger.batch():
        with pytest.raises(LedgerError, match="nested"):
            with ledger.batch():
                pass
