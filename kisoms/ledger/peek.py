"""A look at a ledger file without opening it as the ledger: read-only, no migration, no identity check."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from kisoms.ledger.identity import LedgerIdentity, _read


def recorded_identity_at(path: Path) -> LedgerIdentity | None:
    """The identity recorded in the ledger at ``path``; None if there is no file, no record, or it cannot
    be read (a caller then opens the ledger the usual way)."""
    if not Path(path).is_file():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        return _read(conn)
    except (sqlite3.Error, ValueError):
        return None
    finally:
        conn.close()
