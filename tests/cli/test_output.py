"""Output people and programs can trust: tables that keep their key columns at 80 columns, plain TSV when
not on a terminal, NO_COLOR, the env named everywhere, one --json shape, KST times, no hard wrapping,
remaining and cancelled quantities, a visible dry run, readable external orders, watch's Ctrl-C."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys
from datetime import datetime, timezone

import pytest
from rich.console import Console

from cli_helpers import kisoms_process
from engine_helpers import ACCOUNT, write_config
from kisoms.cli import render
from kisoms.cli.report import set_env
from kisoms.domain.codes import Exchange, OrderType, Side
from kisoms.domain.order import Order
from kisoms.domain.states import OrderStatus

ANSI = re.compile(r"\x1b\[[0-9;]*m")
COLOUR = re.compile(r"\x1b\[[0-9;]*3[0-9](;[0-9]+)*m|\x1b\[[0-9;]*4[0-9](;[0-9]+)*m")
BOX = set("─━│┃┏┓┗┛┡┩└┘├┤┼╇╈")
INTENT = {"account": ACCOUNT, "strategy_version": "out-1", "symbol": "005930", "side": "buy",
          "order_type": "limit", "qty": 10, "price": 70000}


def wide_order(n: int) -> Order:
    """An order whose key values are as wide as a busy desk sees them (5-digit ids, 7-digit prices)."""
    return Order(id=12_340 + n, idempotency_key=f"ik1_{n:040d}", account=ACCOUNT, strategy_version="s",
                 symbol="Q500001", side=Side.SELL, order_type=OrderType.LIMIT, qty=123_567, price=1_234_000,
                 exchange=Exchange.KRX, signal_ts=datetime(2026, 11, 25, tzinfo=timezone.utc),
                 status=OrderStatus.PENDING_CANCEL, filled_qty=23_567, filled_amount=23_567 * 1_234_000,
                 cancelled_qty=1_000, broker_order_no="0000123456", price_note="x" * 200,
                 updated_at=datetime(2026, 11, 25, 0, 0, 1, tzinfo=timezone.utc))


@pytest.fixture
def terminal(monkeypatch):
    """render's console as an 80-column terminal, captured."""
    buf = io.StringIO()
    monkeypatch.setattr(render, "console", Console(file=buf, width=80, force_terminal=True, soft_wrap=True,
                                                   highlight=False))
    set_env("paper")
    yield buf
    set_env(None)


def test_at_80_columns_key_columns_are_whole_and_less_important_ones_are_dropped(terminal):
    orders = [wide_order(n) for n in range(3)]
    render.print_orders(orders)
    text = ANSI.sub("", terminal.getvalue())
    assert max(len(line) for line in text.splitlines()) <= 80, text
    for o in orders:
        for value in (str(o.id), o.symbol, "123,567", "1,234,000", "1,000", "PENDING_CANCEL",
                      "0000123456", f"{o.remaining_qty:,}"):
            assert value in text, (value, text)
    assert "…" not in text  # nothing cut
    assert "note" not in text and "updated" not in text  # dropped first
    assert "[PAPER]" in text


def test_wide_terminals_get_every_column(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(render, "console", Console(file=buf, width=250, force_terminal=True, soft_wrap=True))
    render.print_orders([wide_order(0)])
    assert "note" in buf.getvalue() and "updated" in buf.getvalue() and "+09:00" in buf.getvalue()


def test_not_a_terminal_gives_plain_tab_separated_rows(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(render, "console", Console(file=buf, width=80, soft_wrap=True))
    set_env("sim")
    render.print_orders([wide_order(0), wide_order(1)])
    lines = buf.getvalue().splitlines()
    assert not ANSI.search(buf.getvalue()) and not BOX & set(buf.getvalue())
    header = lines[0].split("\t")
    assert header[:3] == ["env", "id", "symbol"] and "left" in header and "cxl" in header
    rows = [dict(zip(header, line.split("\t"))) for line in lines[1:]]
    assert [r["id"] for r in rows] == ["12340", "12341"] and rows[0]["env"] == "SIM"
    assert rows[0]["left"] == "99,000" and rows[0]["cxl"] == "1,000" and rows[0]["updated"].endswith("+09:00")


def run_in_pty(args: list[str], env: dict) -> str:
    """kisoms on a pseudo-terminal 80 columns wide: what a person sees."""
    leader, follower = pty.openpty()
    full = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", "COLUMNS": "80",
            "TERM": "xterm-256color", **env}
    full.pop("NO_COLOR", None) if "NO_COLOR" not in env else None
    proc = subprocess.Popen([sys.executable, "-m", "kisoms", *args], stdout=follower, stderr=follower,
                            stdin=subprocess.DEVNULL, env=full)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def test_colour_on_a_terminal_and_none_with_no_color(tmp_path):
    ledger = str(tmp_path / "l.db")
    reason = "a reason long enough to need more than one line of an eighty column terminal, " * 2
    plain = run_in_pty(["--ledger", ledger, "halt", reason], {"NO_COLOR": "1"})
    coloured = run_in_pty(["--ledger", ledger, "halt", reason], {})
    assert COLOUR.search(coloured) and not COLOUR.search(plain), (coloured, plain)
    assert "[SIM] halted (all accounts)" in ANSI.sub("", plain)
    for shown in (plain, coloured):  # never hard-wrapped: the message is one line however wide
        assert len([line for line in ANSI.sub("", shown).splitlines() if line.strip()]) == 1


def test_every_json_output_names_the_env_and_lists_are_json_lines(tmp_path, capsys):
    from kisoms.cli.app import main

    ledger = ["--ledger", str(tmp_path / "l.db"), "--json"]
    for args in (["halt", "x"], ["resume"], ["verify-audit"], ["halt", "y", "--account", ACCOUNT],
                 ["resume", "--all"], ["events"], ["status"]):
        assert main(ledger + args) == 0, (args, capsys.readouterr())
        objects = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert all(o["env"] == "sim" for o in objects), (args, objects)
    assert main(ledger + ["events"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(events) >= 4 and all(e["ts"].endswith("+09:00") for e in events)


def test_a_json_error_is_one_object_on_stderr(tmp_path):
    ran = kisoms_process(["--ledger", str(tmp_path / "l.db"), "--json", "status", "42"])
    assert ran.code == 2 and ran.out == ""
    error = json.loads(ran.err)
    assert (error["code"], error["exit"], error["env"]) == ("usage", 2, "sim") and "42" in error["message"]


def test_status_shows_remaining_and_cancelled_after_a_partial_cancel(sim, tmp_path):
    config = str(write_config(sim, tmp_path))
    sent = kisoms_process(["--config", config, "--json", "submit", "--intent", "-"],
                          stdin=json.dumps({**INTENT, "signal_ts": "2026-11-25T09:00:00+09:00"}).encode())
    order_id = json.loads(sent.out)["id"]
    assert kisoms_process(["--config", config, "cancel", str(order_id), "--qty", "4"]).code == 0
    table = kisoms_process(["--config", config, "status"]).out.splitlines()
    row = dict(zip(table[0].split("\t"), table[1].split("\t")))
    assert (row["qty"], row["filled"], row["left"], row["cxl"]) == ("10", "0", "6", "4")
    full = json.loads(kisoms_process(["--config", config, "--json", "status"]).out)
    assert (full["remaining_qty"], full["cancelled_qty"]) == (6, 4) and full["created_at"].endswith("+09:00")


def test_reconcile_dry_run_is_visible_exits_like_the_real_run_and_reports_external_orders_once(sim, tmp_path):
    ours = str(write_config(sim, tmp_path))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()  # another ledger (same token cache) on the same account: its order is external to ours
    other = str(write_config(sim, elsewhere, state_dir=str(tmp_path / "state"), ledger=str(elsewhere / "l.db")))
    placed = kisoms_process(["--config", other, "submit", "--intent", "-"],
                            stdin=json.dumps({**INTENT, "signal_ts": "2026-11-25T09:00:00+09:00"}).encode())
    assert placed.code == 0, placed.err
    dry = kisoms_process(["--config", ours, "reconcile", "--dry-run"])
    assert dry.out.startswith("[SIM] [dry run] ") and "nothing written" in dry.out
    assert f"not placed by kisoms: account {ACCOUNT} buy 10 005930 @ 70,000, broker no " in dry.out
    assert "{" not in dry.out
    real = kisoms_process(["--config", ours, "reconcile"])
    assert real.code == dry.code == 7 and "not placed by kisoms" in real.out
    again = kisoms_process(["--config", ours, "reconcile", "--dry-run"])
    assert again.code == kisoms_process(["--config", ours, "reconcile"]).code == 0
    assert "not placed by kisoms" not in again.out


def test_an_order_nothing_has_sent_says_so(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(render, "console", Console(file=buf, width=80, soft_wrap=True))
    waiting = Order(id=7, idempotency_key="ik1_x", account=ACCOUNT, strategy_version="s", symbol="005930",
                    side=Side.BUY, order_type=OrderType.LIMIT, qty=1, price=70000, exchange=Exchange.KRX,
                    signal_ts=datetime(2026, 11, 25, tzinfo=timezone.utc))
    render.print_orders([waiting])
    header, row = buf.getvalue().splitlines()
    assert dict(zip(header.split("\t"), row.split("\t")))["note"] == render.NOT_SENT_NOTE
