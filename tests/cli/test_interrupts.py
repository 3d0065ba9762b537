"""Ctrl-C (SIGINT) at several moments of real kisoms processes: exit 130, no traceback, and a ledger with
nothing half-written (SQLite integrity, the audit chain, every order in a state the machine allows)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from cli_helpers import kisoms_process
from engine_helpers import ACCOUNT, write_config
from kisoms.domain.states import OrderStatus

ORDER_CASH = "/uapi/domestic-stock/v1/trading/order-cash"
WAIT = 30.0
INTENT = {"account": ACCOUNT, "strategy_version": "sigint-1", "symbol": "005930", "side": "buy",
          "order_type": "limit", "qty": 1, "price": 70000}

pytestmark = pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc to see a process load")


# A Ctrl-C on a terminal reaches a process whose SIGINT is at its default action. An ignored SIGINT is
# inherited through fork and exec, and kisoms deliberately leaves it ignored (nohup, a background job of a
# script): so when the suite itself runs as such a job (`bash scripts/test.sh > log &` ignores SIGINT in
# everything it starts), the child must get the default back before kisoms starts, or every Ctrl-C here is
# silently ignored. The launcher resets it, then execs kisoms in the same process (same pid, same argv).
TERMINAL_SIGINT = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                   "os.execv(sys.executable, [sys.executable, '-m', 'kisoms', *sys.argv[1:]])")


def spawn(args: list[str], stdin: bytes = b"") -> subprocess.Popen:
    """`kisoms *args` in a real process whose SIGINT is as a terminal leaves it, whatever this one's is."""
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    proc = subprocess.Popen([sys.executable, "-c", TERMINAL_SIGINT, *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if stdin:
        proc.stdin.write(stdin)
    proc.stdin.close()
    proc.stdin = None  # communicate() must not flush it again
    return proc


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Poll a condition that an external process makes true (there is no event to await across processes)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def loaded(proc: subprocess.Popen, fragment: str) -> bool:
    try:
        return fragment in Path(f"/proc/{proc.pid}/maps").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return proc.poll() is not None


def interrupt(proc: subprocess.Popen) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=WAIT)
    return proc.returncode, err.decode(errors="replace")


def assert_ledger_whole(ledger: Path, config: Path) -> None:
    if not ledger.exists():
        return
    conn = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        statuses = [r[0] for r in conn.execute("SELECT status FROM orders")]
    finally:
        conn.close()
    assert all(s in {st.value for st in OrderStatus} for s in statuses), statuses
    audit = kisoms_process(["--config", str(config), "verify-audit"])
    assert audit.code == 0, audit.err


@pytest.mark.parametrize("marker", ["_pydantic_core", "libsqlite3", "_ssl"])
def test_ctrl_c_while_kisoms_is_still_loading(marker, sim, tmp_path):
    config = write_config(sim, tmp_path)
    proc = spawn(["--config", str(config), "status"])
    wait_until(lambda: loaded(proc, marker), f"{marker} to load")
    code, err = interrupt(proc)
    # 0: it finished before the signal landed (a fast machine); -SIGINT: it landed while the interpreter was
    # shutting down after its answer (Python has put the default action back by then), which a shell reports
    # as 130 too. Seen under heavy load, when the command outran the test's signal.
    assert code in (130, 0, -signal.SIGINT), err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert_ledger_whole(tmp_path / "ledger.db", config)


def test_ctrl_c_during_a_send_leaves_a_claimed_order_and_exits_130(sim, tmp_path):
    config = write_config(sim, tmp_path)
    sim.admin.add_fault("delay", ORDER_CASH, seconds=20)
    proc = spawn(["--config", str(config), "submit", "--intent", "-"],
                 stdin=json.dumps({**INTENT, "signal_ts": "2026-11-25T09:00:00+09:00"}).encode())
    wait_until(lambda: any(f["kind"] == "delay" for f in sim.admin.fault_log()), "the order-cash request")
    code, err = interrupt(proc)
    assert code == 130, err
    assert "Traceback" not in err, err
    assert_ledger_whole(tmp_path / "ledger.db", config)
    shown = kisoms_process(["--config", str(config), "--json", "status"])
    [order] = [json.loads(line) for line in shown.out.splitlines()]
    assert order["status"] in ("SENDING", "UNKNOWN", "SENT", "ACCEPTED", "ERROR")  # claimed: never resent blindly


def test_ctrl_c_in_the_middle_of_a_batch(sim, tmp_path):
    config = write_config(sim, tmp_path)
    batch = "\n".join(json.dumps({**INTENT, "signal_ts": f"2026-11-25T09:00:{n:02d}+09:00"}) for n in range(40))
    ledger = tmp_path / "ledger.db"
    proc = spawn(["--config", str(config), "submit", "--intent", "-"], stdin=batch.encode())

    def some_orders() -> bool:
        if proc.poll() is not None or not ledger.exists():
            return proc.poll() is not None
        try:
            conn = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=0.1)
            try:
                return conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0] >= 3
            finally:
                conn.close()
        except sqlite3.OperationalError:
            return False

    wait_until(some_orders, "a few orders of the batch")
    code, err = interrupt(proc)
    assert code in (130, 0), err
    assert "Traceback" not in err, err
    assert_ledger_whole(ledger, config)
