"""The order commands as a trader runs them: real processes against the simulator, exit codes, JSON."""

from __future__ import annotations

import json

from engine_helpers import ACCOUNT, broker_orders, write_config
from test_processes import kisoms

BASE = {"account": ACCOUNT, "strategy_version": "cli-1", "symbol": "005930", "side": "buy",
        "order_type": "limit", "qty": 2, "price": 69000}


def line(n: int, **overrides) -> str:
    return json.dumps({**BASE, "signal_ts": f"2026-11-25T09:00:{n:02d}+09:00", **overrides})


def test_a_batch_reports_every_intent_and_exits_with_the_worst(sim, tmp_path):
    config = write_config(sim, tmp_path)
    batch = "\n".join([line(1), line(2, price=69001), line(3, qty=10**9), line(4)])
    result = kisoms(config, "--json", "submit", "--intent", "-", stdin=batch)
    out = [json.loads(x) for x in result.stdout.splitlines()]
    assert out[0]["status"] == out[3]["status"] == "SENT"
    assert (out[1]["intent"], out[1]["exit"], out[1]["code"]) == (2, 3, "validation")
    assert "PRICE_OFF_TICK" in out[1]["message"]
    assert (out[2]["status"], out[2]["reject_code"]) == ("REJECTED", "APBK0952")  # the broker said no
    assert result.returncode == 4  # the worst of 0, 3, 4, 0
    assert len(broker_orders(sim)) == 2


def test_the_same_batch_again_sends_nothing(sim, tmp_path):
    config = write_config(sim, tmp_path)
    batch = "\n".join(line(n) for n in range(5))
    first = kisoms(config, "--json", "submit", "--intent", "-", stdin=batch)
    again = kisoms(config, "--json", "submit", "--intent", "-", stdin=batch)
    assert first.returncode == again.returncode == 0, first.stderr + again.stderr
    ids = [json.loads(x)["id"] for x in first.stdout.splitlines()]
    assert [json.loads(x)["id"] for x in again.stdout.splitlines()] == ids
    assert all(json.loads(x)["sent"] is False for x in again.stdout.splitlines())
    assert len(broker_orders(sim)) == 5


def test_a_halt_stops_the_batch_and_says_what_was_not_attempted(sim, tmp_path):
    config = write_config(sim, tmp_path)
    assert kisoms(config, "halt", "test").returncode == 0
    result = kisoms(config, "submit", "--intent", "-", stdin="\n".join(line(n) for n in range(3)))
    assert result.returncode == 5
    assert "intent 1" in result.stderr and "2..3 not attempted" in result.stderr
    assert broker_orders(sim) == []


def test_modify_cancel_and_status_round_trip(sim, tmp_path):
    config = write_config(sim, tmp_path)
    sent = json.loads(kisoms(config, "--json", "submit", "--intent", "-", stdin=line(1)).stdout)
    modified = kisoms(config, "--json", "modify", str(sent["id"]), "--price", "68900")
    assert modified.returncode == 0, modified.stderr
    assert json.loads(modified.stdout)["price"] == 68900
    cancelled = kisoms(config, "--json", "cancel", str(sent["id"]))
    assert cancelled.returncode == 0 and json.loads(cancelled.stdout)["status"] == "CANCELLED"
    again = kisoms(config, "cancel", str(sent["id"]))
    assert again.returncode == 3 and "CANCELLED" in again.stderr
    trade = json.loads(kisoms(config, "--json", "status", str(sent["id"])).stdout)
    kinds = [n["kind"] for n in trade["broker_numbers"]]
    assert kinds == ["new", "modify", "cancel"]
    assert kisoms(config, "status", "999").returncode == 2


def test_status_of_one_order_shows_which_process_sent_each_request(sim, tmp_path):
    import socket

    config = write_config(sim, tmp_path)
    sent = kisoms(config, "--json", "submit", "--intent", "-", stdin=line(1))
    order = json.loads(sent.stdout)
    shown = kisoms(config, "--json", "status", str(order["id"]))
    [request] = json.loads(shown.stdout)["broker_numbers"]
    host, pid = request["owner"].split("|")[:2]
    assert (host, request["state"], request["broker_order_no"]) == (socket.gethostname(), "accepted",
                                                                    order["broker_order_no"])
    assert int(pid) > 0
    table = kisoms(config, "status", str(order["id"]), env={"COLUMNS": "200"})
    assert f"{pid}@{host}" in table.stdout


def test_an_account_halt_stops_only_that_accounts_intents_in_a_batch(sim, tmp_path):
    other = "50000002-01"
    config = write_config(sim, tmp_path, accounts={ACCOUNT: {}, other: {}})
    assert kisoms(config, "halt", "checking", "--account", other).returncode == 0
    batch = "\n".join([line(1, account=other), line(2), line(3, account=other)])
    result = kisoms(config, "--json", "submit", "--intent", "-", stdin=batch)
    out = [json.loads(x) for x in result.stdout.splitlines()]
    assert out[0]["intent"] == 1 and "halted" in out[0]["message"]
    assert out[1]["status"] == "SENT"  # the other account trades on
    assert out[2] == {"env": "sim", "intent": 3, "code": "unknown_or_halted", "exit": 5,
                      "message": f"not attempted: account {other} is halted"}
    assert result.returncode == 5 and len(broker_orders(sim)) == 1
