"""A second process holding the ledger's write lock, for tests of what a busy ledger does."""

from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

HOLDER = Path(__file__).parent / "ledger" / "ledger_lock_holder.py"


@contextmanager
def write_lock_held(path):
    """A second process holding BEGIN IMMEDIATE (with an uncommitted write) until the block ends."""
    proc = subprocess.Popen([sys.executable, str(HOLDER), str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield
    finally:
        proc.stdin.close()
        proc.wait(20)
