"""Issue 13's commands (positions, fills, export, config show, doctor, init, sim status|stop, alerts deliver)
speak as every other command: the env on every human line and table, plain tab-separated rows off a
terminal, --json objects and JSON Lines that carry the env, errors as one JSON object, KST times."""

from __future__ import annotations

import csv
import io
import json

import pytest

import kisoms
from cli_helpers import kisoms_process
from engine_helpers import ACCOUNT, write_config
from kisoms.cli.app import main
from kisoms.cli.report import set_env
from kisoms.config import SIM_DEFAULT_APP_KEY, SIM_DEFAULT_APP_SECRET
from kisoms.engine.reconcile import reconcile
from test_output import ANSI, BOX, COLOUR, run_in_pty

BUY = {"account": ACCOUNT, "strategy_version": "ops-out", "symbol": "005930", "side": "buy", "order_type": "limit",
       "qty": 10, "price": 70000, "signal_ts": "2026-11-25T00:00:00+00:00"}


@pytest.fixture(autouse=True)
def _no_env_left_behind():
    yield
    set_env(None)


def _traded(sim, config) -> str:
    """One buy of 10 filled at 70,000 and reconciled; returns its KST trading date (YYYYMMDD)."""
    with kisoms.connect(config) as oms:
        trade = oms.submit(BUY)
        sim.admin.fill(trade.order.broker_order_no, 10, 70000)
        reconcile(oms.runtime)
        return oms.trade(trade.id).order.order_date


def _run(capsys, config, *args) -> tuple[int, str, str]:
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def _tsv_blocks(out: str) -> list[list[list[str]]]:
    """Tab-separated output as blocks (a new block at each header line, which starts with 'env')."""
    assert not ANSI.search(out) and not BOX & set(out), out
    blocks: list[list[list[str]]] = []
    for line in out.splitlines():
        cells = line.split("\t")
        if cells[0] == "env":
            blocks.append([])
        blocks[-1].append(cells)
    return blocks


def test_account_views_off_a_terminal_are_tab_separated_and_name_the_env(sim, tmp_path, capsys):
    config = write_config(sim, tmp_path)
    day = _traded(sim, config)
    code, out, _ = _run(capsys, config, "positions")
    holdings, cash = _tsv_blocks(out)
    assert code == 0 and holdings[0][:4] == ["env", "symbol", "name", "qty"]
    assert any(row[:2] == ["SIM", "005930"] for row in holdings[1:])
    assert cash[0] == ["env", "account", "cash", "buying power", "total valuation"] and cash[1][:2] == ["SIM", ACCOUNT]
    code, out, _ = _run(capsys, config, "fills", "--date", day)
    fills, per_symbol = _tsv_blocks(out)
    assert code == 0 and fills[0][:3] == ["env", "order", "number"] and fills[1][0] == "SIM"
    assert per_symbol[0][:2] == ["env", "By symbol"] and per_symbol[1][:2] == ["SIM", "005930"]
    code, out, _ = _run(capsys, config, "config", "show")
    [shown] = _tsv_blocks(out)
    assert shown[0] == ["env", "key", "value", "source"]
    assert ["SIM", "rest_url", sim.rest_url, f"file {config}"] in shown


def test_account_views_as_json_carry_the_env_and_kst_times(sim, tmp_path, capsys):
    config = write_config(sim, tmp_path)
    day = _traded(sim, config)
    code, out, _ = _run(capsys, config, "--json", "positions")
    assert code == 0 and json.loads(out)["env"] == "sim" and len(out.splitlines()) == 1
    code, out, _ = _run(capsys, config, "--json", "fills", "--date", day)
    [fill] = [json.loads(line) for line in out.splitlines()]
    assert fill["env"] == "sim" and fill["recorded_at"].endswith("+09:00") and fill["amount"] == 700_000
    code, out, _ = _run(capsys, config, "--json", "fills", "--date", day, "--summary")
    [summary] = [json.loads(line) for line in out.splitlines()]
    assert summary["env"] == "sim" and summary["net_qty"] == 10
    target = tmp_path / "orders.csv"
    code, out, _ = _run(capsys, config, "--json", "export", "orders", "--from", day, "--to", day, "-o", str(target))
    assert code == 0 and json.loads(out) == {"env": "sim", "written": str(target), "what": "orders", "rows": 1,
                                              "format": "csv"}
    [row] = csv.DictReader(io.StringIO(target.read_text()))
    assert row["created_at"].endswith("+09:00") and row["signal_ts"] == "2026-11-25T09:00:00+09:00"
    code, out, _ = _run(capsys, config, "export", "fills", "--from", day, "--to", day, "--format", "jsonl")
    assert json.loads(out)["recorded_at"].endswith("+09:00")  # the data itself, in the format asked for
    code, out, _ = _run(capsys, config, "export", "orders", "--from", day, "--to", day, "-o", str(target))
    assert out == "[SIM] 1 orders written to " + f"{target} (0600)\n"


def test_doctor_sim_and_alerts_name_the_env_on_every_line(sim, tmp_path, capsys):
    config = write_config(sim, tmp_path)
    code, out, _ = _run(capsys, config, "doctor")  # (the test simulator's clock is not the wall clock's)
    assert "PASS token" in out and all(line.startswith("[SIM] ") for line in out.splitlines()), out
    code, out, _ = _run(capsys, config, "--json", "doctor")
    checks = {c["check"]: c for c in map(json.loads, out.splitlines())}
    assert all(c["env"] == "sim" for c in checks.values()) and checks["token"]["detail"].count("+09:00") == 1
    for args, field in ((["sim", "status"], "running"), (["sim", "stop"], "stopped"), (["alerts", "deliver"], "queued")):
        code, out, _ = _run(capsys, config, "--json", *args)
        assert code == 0 and json.loads(out)["env"] == "sim" and field in json.loads(out), (args, out)
        code, out, _ = _run(capsys, config, *args)
        assert code == 0 and out.startswith("[SIM] ") and len(out.splitlines()) == 1, (args, out)


def test_errors_of_the_new_commands_are_one_json_object_naming_the_env(sim, tmp_path, capsys):
    config = write_config(sim, tmp_path)
    code, out, err = _run(capsys, config, "--json", "fills", "--date", "tomorrow")
    error = json.loads(err)
    assert (code, out, error["code"], error["exit"], error["env"]) == (2, "", "usage", 2, "sim")
    assert "--date" in error["message"]
    code, out, err = _run(capsys, config, "--json", "export", "trades", "--from", "2026-11-25", "--to", "2026-11-25")
    assert code == 2 and json.loads(err)["env"] == "sim" and "trades" in json.loads(err)["message"]
    code, out, err = _run(capsys, config, "fills", "--date", "tomorrow")
    assert code == 2 and err.startswith("[SIM] error: ") and len(err.splitlines()) == 1


def test_positions_and_doctor_on_an_80_column_terminal(sim, tmp_path):
    config = write_config(sim, tmp_path)
    _traded(sim, config)
    coloured = run_in_pty(["--config", str(config), "positions"], {})
    plain = run_in_pty(["--config", str(config), "positions"], {"NO_COLOR": "1"})
    assert COLOUR.search(coloured) and not COLOUR.search(plain)
    text = ANSI.sub("", plain)
    assert "[SIM] Positions" in text and "005930" in text and "buying power" in text, text
    assert max(len(line) for line in text.splitlines()) <= 80, text
    doctor = ANSI.sub("", run_in_pty(["--config", str(config), "doctor"], {"NO_COLOR": "1"}))
    assert all(line.startswith("[SIM] ") for line in doctor.splitlines() if line.strip()), doctor


def test_init_with_json_prints_one_object(sim, tmp_path):
    config = tmp_path / "config.toml"
    ran = kisoms_process(["--config", str(config), "--json", "init", "--env", "paper", "--account", ACCOUNT,
                          "--hts-id", "simuser", "--rest-url", sim.rest_url, "--ws-url", sim.ws_url,
                          "--state-dir", str(tmp_path / "state"), "--non-interactive"],
                         env={"KISOMS_APP_KEY": SIM_DEFAULT_APP_KEY, "KISOMS_APP_SECRET": SIM_DEFAULT_APP_SECRET})
    assert ran.code == 0, ran.err
    shown = json.loads(ran.out)
    assert (shown["env"], shown["config"], shown["keyring"]) == ("paper", str(config), None)
    assert ran.err.startswith("[PAPER] warning: ") and "KISOMS_APP_KEY" in ran.err
