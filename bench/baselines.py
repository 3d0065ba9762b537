"""Baselines the benchmarks compare kisoms with, built from nothing of kisoms (bench/run.py imports them)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path


def bare_sqlite(path: Path, n: int) -> float:
    """Seconds per INSERT+COMMIT on this disk with the ledger's pragmas (WAL, synchronous=FULL)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    start = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (v) VALUES (?)", (str(i),))
        conn.execute("COMMIT")
    conn.close()
    return (time.perf_counter() - start) / n
