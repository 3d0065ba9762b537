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


# The audit head (next id, last hash) is kept in memory while a batch runs: every way a batch's rows can be
# taken back must drop it, or the next row would link to a row that is gone.


def test_a_change_undone_after_its_audit_row_leaves_the_next_row_chained(ledger, monkeypatch):
    from kisoms.ledger import journal

    real = journal.append_event
    calls = []

    def event_then_fail_on_the_second(conn, **kw):  # the first change's rows are written, then it fails
        calls.append(kw["kind"])
        if kw["kind"] == "test.undone":
            raise RuntimeError("after the audit row of the change before")
        return real(conn, **kw)

    with ledger.batch():
        ledger.publish("test.kept", {})
        monkeypatch.setattr(journal, "append_event", event_then_fail_on_the_second)
        with pytest.raises(RuntimeError):
            with ledger.savepoint():
                ledger.publish("test.in_savepoint", {})  # appended (the head moves on) ...
                ledger.publish("test.undone", {})  # ... then the savepoint fails and takes it back
        monkeypatch.undo()
        ledger.publish("test.after", {})
    assert [e.kind for e in ledger.events_since(0)] == ["test.kept", "test.after"]
    assert ledger.verify_audit_chain() == 2


def test_an_inner_change_undone_and_caught_inside_a_savepoint_leaves_the_chain_intact(ledger):
    with ledger.batch():
        with ledger.savepoint():
            ledger.publish("test.one", {})
            with pytest.raises(RuntimeError):
                with atomic(ledger.db):  # a change inside the savepoint fails after its audit row; caught
                    ledger.publish("test.undone", {})
                    raise RuntimeError("boom")
            ledger.publish("test.two", {})
    assert [e.kind for e in ledger.events_since(0)] == ["test.one", "test.two"]
    assert ledger.verify_audit_chain() == 2


def test_a_rolled_back_batch_leaves_no_stale_head_behind(ledger, path):
    other = Ledger(path)
    try:
        with pytest.raises(RuntimeError):
            with ledger.batch():
                ledger.publish("test.lost", {})
                raise RuntimeError("boom")
        other.publish("test.elsewhere", {})  # another process takes the ids the lost rows had
        other.publish("test.elsewhere", {})
        with ledger.batch():
            ledger.publish("test.next", {})
        ledger.publish("test.outside", {})
    finally:
        other.close()
    assert ledger.verify_audit_chain() == 4


def test_a_committed_batch_leaves_no_head_behind_for_the_next(ledger, path):
    other = Ledger(path)
    try:
        with ledger.batch():
            ledger.publish("test.one", {})
        other.publish("test.elsewhere", {})  # between two batches of this connection
        with ledger.batch():
            ledger.publish("test.two", {})
    finally:
        other.close()
    assert ledger.verify_audit_chain() == 3


def test_a_change_sharing_a_fresh_savepoint_is_undone_alone_when_it_fails_and_is_caught(ledger):
    with ledger.batch():
        ledger.publish("test.before", {})
        with ledger.savepoint():
            with pytest.raises(RuntimeError):
                with atomic(ledger.db):  # nothing written in the savepoint yet: this change shares it
                    ledger.publish("test.undone", {})
                    raise RuntimeError("boom")
            ledger.publish("test.kept", {})  # the savepoint itself is still open and usable
    assert [e.kind for e in ledger.events_since(0)] == ["test.before", "test.kept"]
    assert ledger.verify_audit_chain() == 2


def test_a_savepoint_with_writes_gives_a_nested_change_its_own(ledger):
    with ledger.batch():
        with ledger.savepoint():
            ledger.publish("test.first", {})
            with pytest.raises(RuntimeError):
                with atomic(ledger.db):
                    ledger.publish("test.undone", {})
                    raise RuntimeError("boom")
        with pytest.raises(RuntimeError):
            with ledger.savepoint():
                ledger.publish("test.gone_with_its_savepoint", {})
                raise RuntimeError("boom")
    assert [e.kind for e in ledger.events_since(0)] == ["test.first"]
    assert ledger.verify_audit_chain() == 1
