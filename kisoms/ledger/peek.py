"""A look at a ledger file without opening it as the ledger: read-only, no migration, no identity check,
no file created beside it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from kisoms.ledger.identity import LedgerIdentity, _read


def recorded_identity_at(path: Path) -> LedgerIdentity | None:
    """The identity recorded in the ledger at ``path``; None if there is no file, no record, or it cannot
    be read (a caller then opens the ledger the usual way)."""
    if not Path(path).is_file():
        return None
    try:  # immutable: no -wal/-shm is created (they would take the file's mode, not 0600) and no lock taken;
        # a record still in another process's WAL is not seen (an app key, once recorded, is never removed)
        conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro&immutable=1", uri=True)
    except sqlite3.Error:
        return None
    try:
        return _read(conn)
    except (sqlite3.Error, ValueError):
        return None
    finally:
        conn.close()
