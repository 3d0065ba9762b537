"""A ledger records the env, accounts and app key (a fingerprint) it belongs to, and refuses another env."""

from __future__ import annotations

import sqlite3

import pytest
from ledger_helpers import make_order

from kisoms.errors import LedgerEnvMismatch
from kisoms.ledger import Ledger, schema
from kisoms.ledger.schema import LedgerIdentity, recorded_identity

A, B, C = "50000001-01", "50000001-02", "60000001-01"
KEY = "PSxxAPPKEY-paper-0000000000000000001"


def ident(env="paper", accounts=(A,), key=KEY) -> LedgerIdentity:
    return LedgerIdentity.of(env, accounts, key)


def rows(path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        identity = conn.execute("SELECT env, accounts, accounts_fingerprint, app_key_fingerprint "
                                "FROM ledger_identity").fetchall()
        return identity + conn.execute("SELECT id, kind FROM events").fetchall()
    finally:
        conn.close()


def test_a_new_ledger_records_its_env_and_fingerprints_never_the_key(path):
    with Ledger(path, identity=ident()) as ledger:
        assert recorded_identity(ledger.db) == ident()
        assert [e.kind for e in ledger.events_since(0)] == ["ledger.identity_recorded"]
        assert ledger.verify_audit_chain() == 1
    assert KEY.encode() not in path.read_bytes()


def test_reopening_with_the_same_identity_writes_nothing(path):
    with Ledger(path, identity=ident()):
        pass
    before = rows(path)
    with Ledger(path, identity=ident()) as ledger:
        assert ledger.warnings == []
    assert rows(path) == before


@pytest.mark.parametrize("recorded,asked", [("paper", "real"), ("real", "paper"), ("sim", "paper"),
                                            ("paper", "sim")])
def test_another_env_is_refused_and_nothing_changes(path, recorded, asked):
    with Ledger(path, identity=ident(recorded)) as ledger:
        ledger.create(make_order(), source="t")
    before = rows(path)
    with pytest.raises(LedgerEnvMismatch, match=f"belongs to env {recorded}, not env {asked}.*--env {recorded}"):
        Ledger(path, identity=ident(asked))
    assert rows(path) == before


def test_another_env_with_other_accounts_names_both_account_sets(path):
    with Ledger(path, identity=ident("paper", [A])):
        pass
    with pytest.raises(LedgerEnvMismatch, match=rf"env paper \(accounts {A}\), not env real \(accounts {C}\)"):
        Ledger(path, identity=ident("real", [C]))


def test_adding_an_account_is_recorded_quietly(path):
    with Ledger(path, identity=ident(accounts=[A])):
        pass
    with Ledger(path, identity=ident(accounts=[A, B])) as ledger:
        assert ledger.warnings == []
        assert recorded_identity(ledger.db).accounts == (A, B)
        assert ledger.events_since(0)[-1].kind == "ledger.identity_changed"
    with Ledger(path, identity=ident(accounts=[B])) as ledger:  # dropping one is fine too
        assert recorded_identity(ledger.db).accounts == (A, B)


def test_an_unrelated_account_set_in_the_same_env_is_refused(path):
    with Ledger(path, identity=ident(accounts=[A, B])):
        pass
    before = rows(path)
    with pytest.raises(LedgerEnvMismatch, match=rf"accounts {A}, {B}\), not env paper \(accounts {C}\)"):
        Ledger(path, identity=ident(accounts=[C]))
    assert rows(path) == before


def test_a_new_app_key_in_the_same_env_is_recorded_with_a_warning(path):
    with Ledger(path, identity=ident()):
        pass
    with Ledger(path, identity=ident(key="a-reissued-key")) as ledger:
        [warning] = ledger.warnings
        assert "another app key" in warning and "a-reissued-key" not in warning
        assert recorded_identity(ledger.db).app_key_fingerprint == ident(key="a-reissued-key").app_key_fingerprint
    with Ledger(path, identity=ident(key="a-reissued-key")) as ledger:
        assert ledger.warnings == []


def test_no_known_app_key_or_accounts_checks_the_env_alone(path):
    with Ledger(path, identity=ident()):
        pass
    before = rows(path)
    with Ledger(path, identity=LedgerIdentity.of("paper", [], None)) as ledger:
        assert ledger.warnings == []
    assert rows(path) == before
    with pytest.raises(LedgerEnvMismatch):
        Ledger(path, identity=LedgerIdentity.of("real", [], None))


def test_a_ledger_from_before_the_record_adopts_the_env_it_is_next_opened_with(path, monkeypatch):
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:4])
    with Ledger(path) as ledger:
        order, _ = ledger.create(make_order(), source="t")
    monkeypatch.undo()
    with Ledger(path, identity=ident("paper")) as ledger:
        assert ledger.get(order.id) == order
        assert recorded_identity(ledger.db) == ident("paper")
    with pytest.raises(LedgerEnvMismatch, match="belongs to env paper"):
        Ledger(path, identity=ident("sim"))


def test_a_ledger_opened_without_an_identity_records_none(path):
    with Ledger(path) as ledger:
        assert recorded_identity(ledger.db) is None
    with Ledger(path, identity=ident("real")) as ledger:
        assert recorded_identity(ledger.db).env == "real"
