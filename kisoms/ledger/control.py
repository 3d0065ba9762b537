"""Who may send: the kill switches, the account guards' activity, and the owners of claims.

Kill switches: the global one (``control``, one row, id = 1) and one per account (``account_halts``, a row
while that account is halted).

Account guards: the account activity guards compare against, measured inside the claim's transaction.

Owners: which process owns a claimed request, and whether that process still lives. A claim records its
owner as ``host|pid|start|pidns|boot``: the process start time (from ``/proc/<pid>/stat``) so a recycled
pid is not taken for the owner, the pid namespace so a process in another container is never looked up by
a pid that means something else here, and the boot id so a reboot cannot revive an owner. The ledger is a
local SQLite file, so the processes sharing it normally run on this host, in this namespace, and the owner
can be checked directly: alive means it may still be sending; dead means nothing more will leave from it.
Anything that differs from this process's own host, namespace or boot cannot be checked (``UNKNOWN``), and
callers fall back to time.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, time, timedelta, timezone
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from kisoms.domain.order import Order
from kisoms.domain.states import NON_TERMINAL, OrderStatus
from kisoms.ledger.db import as_dicts, first, to_iso
from kisoms.ledger.records import HaltState, row_to_halt

if TYPE_CHECKING:
    from kisoms.domain.guards import AccountActivity

# kill switches -----------------------------------------------------------------------------------


def global_state(conn: sqlite3.Connection) -> HaltState | None:
    """The global kill switch when on, else None."""
    return row_to_halt(first(conn.execute("SELECT * FROM control WHERE id = 1")))


def account_states(conn: sqlite3.Connection) -> list[HaltState]:
    """Every halted account, by account."""
    return [row_to_halt(r) for r in as_dicts(conn.execute("SELECT * FROM account_halts ORDER BY account"))]


def all_states(conn: sqlite3.Connection) -> list[HaltState]:
    """Every switch that is on: the global one first, then accounts."""
    on = global_state(conn)
    return ([on] if on else []) + account_states(conn)


_STATE_SQL = ("SELECT c.halted, c.reason, c.set_by, c.set_at, h.account, h.reason, h.set_by, h.set_at "
              "FROM control c LEFT JOIN account_halts h ON h.account = ? WHERE c.id = 1")


def state(conn: sqlite3.Connection, account: str | None = None) -> HaltState | None:
    """The switch that stops ``account`` (the global one first); with no account, any switch that is on.
    (One query for an account: a claim asks on every order.)"""
    if account is None:
        on = global_state(conn)
        return on if on is not None else next(iter(account_states(conn)), None)
    row = conn.execute(_STATE_SQL, (account,)).fetchone()
    if row is None:  # (no control row: a file no kisoms wrote)
        return row_to_halt(first(conn.execute("SELECT * FROM account_halts WHERE account = ?", (account,))))
    if row[0]:
        return row_to_halt({"halted": 1, "reason": row[1], "set_by": row[2], "set_at": row[3]})
    if row[4] is None:
        return None
    return row_to_halt({"account": row[4], "reason": row[5], "set_by": row[6], "set_at": row[7]})


def set_halt(conn: sqlite3.Connection, *, reason: str, set_by: str, set_at: str, account: str | None = None) -> None:
    """Turn a kill switch on (or replace its reason)."""
    if account is None:
        conn.execute("UPDATE control SET halted = 1, reason = ?, set_by = ?, set_at = ? WHERE id = 1",
                     (reason, set_by, set_at))
    else:
        conn.execute("INSERT OR REPLACE INTO account_halts (account, reason, set_by, set_at) VALUES (?, ?, ?, ?)",
                     (account, reason, set_by, set_at))


def clear(conn: sqlite3.Connection, *, set_by: str, set_at: str, account: str | None = None,
          everything: bool = False) -> None:
    """Turn off one account's switch, or (no account) the global one; ``everything``: every switch."""
    if account is not None:
        conn.execute("DELETE FROM account_halts WHERE account = ?", (account,))
        return
    conn.execute("UPDATE control SET halted = 0, reason = NULL, set_by = ?, set_at = ? WHERE id = 1",
                 (set_by, set_at))
    if everything:
        conn.execute("DELETE FROM account_halts")



def halt(conn: sqlite3.Connection, *, reason: str, source: str, account: str | None, ts: str) -> None:
    """Turn a kill switch on and record it (``halt.set``): ``account``'s, or the global one."""
    from kisoms.ledger.journal import record  # (the write path: a read of the switches does not load it)

    set_halt(conn, reason=reason, set_by=source, set_at=ts, account=account)
    payload = {"reason": reason, "set_by": source, "account": account}
    record(conn, ts=ts, kind="halt.set", source=source, order_id=None, event_payload=payload,
           audit_payload=payload)


def resume(conn: sqlite3.Connection, *, source: str, account: str | None, everything: bool,
           now: Callable[[], str]) -> None:
    """Turn ``account``'s switch off, or (no account) the global one, ``everything``: every switch, and record
    it (``halt.cleared``). Nothing is written, and the clock is not read, when none of them is on."""
    before = [h for h in all_states(conn) if everything or h.account == account]
    if not before:
        return
    from kisoms.ledger.journal import record  # (the write path: a read of the switches does not load it)

    ts = now()
    clear(conn, set_by=source, set_at=ts, account=account, everything=everything)
    payload = {"previous_reason": "; ".join(f"{h.scope}: {h.reason}" for h in before),
               "cleared_by": source, "account": account, "everything": everything}
    record(conn, ts=ts, kind="halt.cleared", source=source, order_id=None, event_payload=payload,
           audit_payload=payload)

# account guards ----------------------------------------------------------------------------------


KST = timezone(timedelta(hours=9), "KST")
_SENT_OPEN = tuple(s.value for s in NON_TERMINAL if s is not OrderStatus.NEW)
_IN_OPEN = f"({', '.join('?' for _ in _SENT_OPEN)})"


def _kst_midnight(ts: datetime) -> str:
    return to_iso(datetime.combine(ts.astimezone(KST).date(), time(0), KST))


def _scalar(conn: sqlite3.Connection, sql: str, params: list) -> int:
    value = conn.execute(sql, params).fetchone()[0]
    return int(value or 0)


def _orders_since(conn: sqlite3.Connection, account: str, since: str) -> int:
    return _scalar(conn, "SELECT COUNT(DISTINCT m.order_id) FROM broker_order_map m JOIN orders o ON o.id = m.order_id"
                         " WHERE o.account = ? AND m.kind = 'new' AND m.sent_at >= ?", [account, since])


def _open_orders(conn: sqlite3.Connection, account: str) -> int:
    return _scalar(conn, f"SELECT COUNT(*) FROM orders WHERE account = ? AND status IN {_IN_OPEN}",
                   [account, *_SENT_OPEN])


def _notional_since(conn: sqlite3.Connection, account: str, since: str) -> int:
    open_rest = (f"CASE WHEN status IN {_IN_OPEN} AND price IS NOT NULL "
                 "THEN (qty - filled_qty - cancelled_qty) * price ELSE 0 END")
    sql = (f"SELECT SUM(filled_amount + {open_rest}) FROM orders WHERE account = ? AND id IN "
           "(SELECT order_id FROM broker_order_map WHERE kind = 'new' AND sent_at >= ?)")
    return _scalar(conn, sql, [*_SENT_OPEN, account, since])


def _position(conn: sqlite3.Connection, account: str, symbol: str) -> int:
    sql = (f"SELECT SUM(CASE WHEN side = 'buy' THEN filled_qty ELSE -filled_qty END) + "
           f"SUM(CASE WHEN side = 'buy' AND status IN {_IN_OPEN} THEN qty - filled_qty - cancelled_qty ELSE 0 END) "
           "FROM orders WHERE account = ? AND symbol = ?")
    return _scalar(conn, sql, [*_SENT_OPEN, account, symbol])


def account_activity(conn: sqlite3.Connection, order: Order, ts: str) -> AccountActivity:
    """The account's activity at ``ts`` (the claim's time), ``order`` itself not counted (it is NEW)."""
    from kisoms.domain.guards import AccountActivity  # (a claim's check: reads of the ledger do not load it)

    now = datetime.fromisoformat(ts)
    return AccountActivity(
        orders_last_minute=_orders_since(conn, order.account, to_iso(now - timedelta(seconds=60))),
        open_orders=_open_orders(conn, order.account),
        notional_today=_notional_since(conn, order.account, _kst_midnight(now)),
        position=_position(conn, order.account, order.symbol))


# owners of claims --------------------------------------------------------------------------------


class OwnerState(Enum):
    """What is known about a request's owner."""

    THIS = "this"  # the calling process itself
    ALIVE = "alive"  # another live process on this host
    DEAD = "dead"  # its process is gone (or its pid now belongs to another process)
    UNKNOWN = "unknown"  # another host, namespace or boot, or no owner recorded (a row from before schema v3)


def _proc_stat(pid: int) -> tuple[str, str]:
    """(state letter, start time in clock ticks since boot) from /proc (Linux); ("", "") elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "", ""
    fields = stat[stat.rfind(")") + 2:].split()
    return (fields[0], fields[19]) if len(fields) > 19 else ("", "")


def _read(path: str, link: bool = False) -> str:
    try:
        return os.readlink(path) if link else Path(path).read_text().strip()
    except OSError:
        return ""


def _place() -> tuple[str, str, str]:
    """(host, pid namespace, boot id) of the calling process; the last two are "" where not on Linux."""
    import socket  # (here: a read-only command never needs it, and it costs ~4 ms of start-up)

    return (socket.gethostname(), _read("/proc/self/ns/pid", link=True),
            _read("/proc/sys/kernel/random/boot_id"))


def tag_for(pid: int) -> str:
    """The owner tag of process ``pid`` of this host and namespace."""
    host, namespace, boot = _place()
    return "|".join((host, str(pid), _proc_stat(pid)[1], namespace, boot))


_own_tag: tuple[int, str] | None = None  # (pid, tag): a process's tag never changes; a fork gets its own


def current_owner() -> str:
    """The owner tag of the calling process (read from /proc once per process)."""
    global _own_tag
    pid = os.getpid()
    if _own_tag is None or _own_tag[0] != pid:
        _own_tag = (pid, tag_for(pid))
    return _own_tag[1]


def pid_at_host(tag: str | None) -> str:
    """``pid@host`` of an owner tag, for people; "-" when there is none (released, or an older row)."""
    parts = (tag or "").split("|")
    return f"{parts[1]}@{parts[0]}" if len(parts) > 1 else "-"


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def owner_state(tag: str | None) -> OwnerState:
    """Whether the owner recorded on a claim is this process, alive, dead, or cannot be told."""
    parts = (tag or "").split("|")
    if len(parts) != 5 or not parts[1].isdigit() or (parts[0], parts[3], parts[4]) != _place():
        return OwnerState.UNKNOWN
    if tag == current_owner():
        return OwnerState.THIS
    pid, start = int(parts[1]), parts[2]
    if not _pid_exists(pid):
        return OwnerState.DEAD
    state, started = _proc_stat(pid)
    if state == "Z" or (start and started and started != start):
        return OwnerState.DEAD  # exited but not yet reaped, or the pid was recycled
    return OwnerState.ALIVE
