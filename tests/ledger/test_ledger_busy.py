"""Readers are never blocked by a writer; a writer kept waiting past the busy timeout gets LedgerBusy."""

from __future__ import annotations

import pytest
from lock_holding import write_lock_held
from ledger_helpers import make_order

from kisoms.errors import LedgerBusy
from kisoms.ledger import Ledger, schema
from kisoms.ledger.schema import LedgerIdentity


@pytest.fixture
def filled(path):
    with Ledger(path, identity=LedgerIdentity.of("sim", ["50000001-01"], "k")) as ledger:
        order, _ = ledger.create(make_order(), source="t")
    return order


def test_a_reader_opens_and_reads_while_another_process_holds_the_write_lock(path, filled):
    with write_lock_held(path):
        # default busy timeout: a reader that waited for the lock would fail here after 10 s
        with Ledger(path, identity=LedgerIdentity.of("sim", ["50000001-01"], "k")) as reader:
            assert [o.id for o in reader.list_orders()] == [filled.id]
            assert "holder.uncommitted" not in {e.kind for e in reader.events_since(0)}
            assert reader.halt_state() is None


def test_a_writer_kept_waiting_past_the_busy_timeout_gets_a_retryable_error(path, filled):
    with write_lock_held(path):
        with Ledger(path, busy_timeout=0.2) as writer:
            before = writer.last_event_id()
            with pytest.raises(LedgerBusy, match="busy.*not written: run the command again"):
                writer.set_halt("test", source="t")
    with Ledger(path) as ledger:
        assert ledger.halt_state() is None and ledger.last_event_id() == before


def test_an_open_that_must_migrate_while_the_lock_is_held_is_busy_not_broken(path, filled, monkeypatch):
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS + [lambda conn: None])
    with write_lock_held(path):
        with pytest.raises(LedgerBusy):
            Ledger(path, busy_timeout=0.2)


def test_a_new_identity_to_record_while_the_lock_is_held_is_busy(path, filled):
    with write_lock_held(path):
        with pytest.raises(LedgerBusy):
            Ledger(path, busy_timeout=0.2, identity=LedgerIdentity.of("sim", ["50000001-01", "50000001-02"], "k"))
