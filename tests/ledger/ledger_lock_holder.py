"""Another process holding the ledger's write lock: BEGIN IMMEDIATE, an uncommitted write, then wait.

Prints "locked" once it holds the lock, and keeps it until its stdin closes; then rolls back.
"""

from __future__ import annotations

import sqlite3
import sys


def main(path: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO events (ts, kind, order_id, payload) VALUES ('t', 'holder.uncommitted', NULL, '{}')")
    print("locked", flush=True)
    sys.stdin.read()  # until the test closes our stdin
    conn.execute("ROLLBACK")
    conn.close()


if __name__ == "__main__":
    main(sys.argv[1])
