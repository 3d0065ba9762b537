"""Each class of bad input found by trying kisoms as a new user: a clear one-line error with the documented
exit code, and nothing sent or half-written."""

from __future__ import annotations

import json

import pytest

from cli_helpers import assert_one_line_error
from engine_helpers import ACCOUNT, broker_orders, write_config
from kisoms.cli.app import main
from kisoms.cli.exit_codes import ExitCode

INTENT = {"account": ACCOUNT, "strategy_version": "bad-1", "symbol": "005930", "side": "buy",
          "order_type": "limit", "qty": 3, "price": 70000, "signal_ts": "2026-11-25T09:00:00+09:00"}


@pytest.fixture
def config(sim, tmp_path):
    return str(write_config(sim, tmp_path))


def run(config, *args, capsys) -> tuple[int, str, str]:
    code = main(["--config", config, *args])
    out, err = capsys.readouterr()
    return code, out, err


def intent_file(tmp_path, text: str | bytes, name: str = "i.json") -> str:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


def test_a_pretty_printed_json_intent_is_one_intent(config, sim, tmp_path, capsys):
    path = intent_file(tmp_path, json.dumps(INTENT, indent=2))
    code, out, err = run(config, "--json", "submit", "--intent", path, capsys=capsys)
    assert code == ExitCode.OK, err
    assert json.loads(out)["status"] == "SENT" and len(broker_orders(sim)) == 1


def test_json_lines_still_make_a_batch_and_a_list_too(config, sim, tmp_path, capsys):
    lines = "\n".join(json.dumps({**INTENT, "signal_ts": f"2026-11-25T09:00:0{n}+09:00"}) for n in range(2))
    assert run(config, "submit", "--intent", intent_file(tmp_path, lines), capsys=capsys)[0] == 0
    listed = json.dumps([{**INTENT, "signal_ts": f"2026-11-25T09:01:0{n}+09:00"} for n in range(2)], indent=1)
    assert run(config, "submit", "--intent", intent_file(tmp_path, listed, "l.json"), capsys=capsys)[0] == 0
    assert len(broker_orders(sim)) == 4


def test_broken_json_lines_name_the_line(config, sim, tmp_path, capsys):
    text = json.dumps(INTENT) + "\n{not json\n"
    code, _, err = run(config, "submit", "--intent", intent_file(tmp_path, text), capsys=capsys)
    assert code == ExitCode.USAGE
    assert_one_line_error(err, containing=":2:")
    assert broker_orders(sim) == []  # the whole file parses before anything is sent


@pytest.mark.parametrize("qty", [0, -5])
def test_zero_or_negative_qty_is_a_validation_reject(config, sim, qty, capsys):
    code, _, err = run(config, "submit", "--symbol", "005930", "--side", "buy", "--qty", str(qty),
                       "--price", "70000", capsys=capsys)
    assert code == ExitCode.VALIDATION  # not a ledger failure (10)
    assert_one_line_error(err, containing="QTY_NOT_POSITIVE")
    assert broker_orders(sim) == []


@pytest.mark.parametrize(("field", "digits"), [("qty", 31), ("price", 31), ("qty", 5000), ("price", 11)],
                         ids=["qty-31", "price-31", "qty-5000", "price-11"])
def test_absurd_numbers_are_usage_errors(config, sim, tmp_path, field, digits, capsys):
    text = json.dumps({**INTENT, field: 0}).replace(f'"{field}": 0', f'"{field}": {"9" * digits}')
    path = intent_file(tmp_path, text)
    code, _, err = run(config, "submit", "--intent", path, capsys=capsys)
    assert code == ExitCode.USAGE
    assert_one_line_error(err)
    assert broker_orders(sim) == []


def test_a_31_digit_qty_flag_is_a_usage_error(config, sim, capsys):
    code, _, err = run(config, "submit", "--symbol", "005930", "--side", "buy", "--qty", "9" * 31,
                       "--price", "70000", capsys=capsys)
    assert code == ExitCode.USAGE
    assert_one_line_error(err, containing="qty")


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", bytes(range(256)), b"{\"a\": \x00}",
                                  "﻿".encode() + b"\xff\xfe"])
def test_a_binary_file_is_refused_clearly(config, sim, tmp_path, data, capsys):
    code, _, err = run(config, "submit", "--intent", intent_file(tmp_path, data), capsys=capsys)
    assert code == ExitCode.USAGE
    assert_one_line_error(err, containing="not a text file")


@pytest.mark.parametrize("symbol", ["００５９３０", "삼성전자", "005930\u200b", "00593٠"])
def test_a_non_ascii_symbol_is_never_sent(config, sim, tmp_path, symbol, capsys):
    code, _, err = run(config, "submit", "--intent", intent_file(tmp_path, json.dumps({**INTENT, "symbol": symbol})),
                       capsys=capsys)
    assert code == ExitCode.USAGE
    assert_one_line_error(err, containing="ASCII")
    assert broker_orders(sim) == []


@pytest.mark.parametrize("tags", [{"k": "x" * 50_000}, {f"k{n}": "v" for n in range(100)}, {"x" * 500: "v"}])
def test_tags_are_bounded(config, sim, tmp_path, tags, capsys):
    code, _, err = run(config, "submit", "--intent", intent_file(tmp_path, json.dumps({**INTENT, "tags": tags})),
                       capsys=capsys)
    assert code == ExitCode.USAGE
    assert_one_line_error(err, containing="tags")
    assert broker_orders(sim) == []


def test_an_oversized_file_is_refused_before_parsing(config, sim, tmp_path, capsys):
    path = tmp_path / "big.json"
    path.write_bytes(b" " * (5 * 1024 * 1024) + json.dumps(INTENT).encode())
    code, _, err = run(config, "submit", "--intent", str(path), capsys=capsys)
    assert code == ExitCode.USAGE
    assert_one_line_error(err, containing="larger than")


def test_a_replayed_validation_reject_exits_3_like_the_first_try(config, sim, tmp_path, capsys):
    path = intent_file(tmp_path, json.dumps({**INTENT, "price": 70001}))  # off tick
    first = run(config, "submit", "--intent", path, capsys=capsys)
    again = run(config, "submit", "--intent", path, capsys=capsys)
    assert first[0] == again[0] == ExitCode.VALIDATION
    assert first[2] == again[2] and "PRICE_OFF_TICK" in again[2]
    assert broker_orders(sim) == []


def test_a_submit_refused_by_the_kill_switch_leaves_no_open_order(config, sim, tmp_path, capsys):
    assert run(config, "halt", "test", capsys=capsys)[0] == 0
    code, _, err = run(config, "submit", "--intent", intent_file(tmp_path, json.dumps(INTENT)), capsys=capsys)
    assert code == ExitCode.UNKNOWN_OR_HALTED
    assert_one_line_error(err, containing="halt")
    assert run(config, "--json", "status", "--open", capsys=capsys)[1] == ""
    assert run(config, "resume", capsys=capsys)[0] == 0
    assert run(config, "submit", "--intent", intent_file(tmp_path, json.dumps(INTENT)), capsys=capsys)[0] == 0
    assert len(broker_orders(sim)) == 1


def test_an_auth_failure_is_reported_as_one_in_english_with_kis_code(config, sim, monkeypatch, capsys):
    monkeypatch.setenv("KISOMS_APP_KEY", "not-a-key-the-simulator-knows")
    monkeypatch.setenv("KISOMS_APP_SECRET", "nor-its-secret")
    code, _, err = run(config, "submit", "--symbol", "005930", "--side", "buy", "--qty", "1", "--price", "70000",
                       capsys=capsys)
    assert code == ExitCode.BROKER_REJECT, err
    assert_one_line_error(err, containing="authentication refused by KIS [")
    assert broker_orders(sim) == []
