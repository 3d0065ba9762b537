"""Property tests: arbitrary bytes and arbitrary JSON fed to every input path (intent files, stdin, flags,
the config file, the ledger file itself). Whatever comes in: a documented exit code, one line on stderr,
no traceback, and the ledger unchanged.

The broker is a closed port, so an input that happens to be a valid intent ends as "unreachable"
(exit 6) before anything is written.
"""

from __future__ import annotations

import io
import json
import socket
import sqlite3
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli_helpers import assert_one_line_error
from kisoms.cli.app import main
from kisoms.cli.exit_codes import ExitCode

PROPERTY = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
FEW = settings(PROPERTY, max_examples=6)  # each example opens the runtime: keep the suite fast
ERRORS = {int(c) for c in ExitCode} - {ExitCode.OK, ExitCode.INTERNAL}
INTENT = {"account": "50000001-01", "strategy_version": "prop-1", "symbol": "005930", "side": "buy",
          "order_type": "limit", "qty": 3, "price": 70000, "signal_ts": "2026-11-25T09:00:00+09:00"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class World:
    """A config whose broker is a closed port, and a ledger created once (the one that must not change)."""

    def __init__(self, root: Path):
        self.root = root
        port = _closed_port()
        self.config = root / "config.toml"
        self.config.write_text(
            f'env = "sim"\nrest_url = "http://127.0.0.1:{port}"\nws_url = "ws://127.0.0.1:{port}"\n'
            f'state_dir = "{root / "state"}"\ndefault_account = "50000001-01"\n'
            '[accounts."50000001-01"]\n[retry]\nmax_attempts = 1\ndeadline = 1.0\nconnect_timeout = 0.5\n')
        self.ledger = root / "ledger.db"
        assert self.run(["status"])[0] == 0

    def run(self, args: list[str], stdin: bytes = b"") -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with _swapped_std(stdin, out, err):
            code = main(["--config", str(self.config), "--ledger", str(self.ledger), *args])
        return code, out.getvalue(), err.getvalue()

    def snapshot(self) -> dict:
        return ledger_snapshot(self.ledger)


@contextmanager
def _swapped_std(stdin: bytes, out: io.StringIO, err: io.StringIO):
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    sys.stdout, sys.stderr = out, err
    try:
        yield
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved


def ledger_snapshot(path: Path) -> dict:
    """Row count and last rowid of every table: any write shows."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: conn.execute(f'SELECT COUNT(*), MAX(rowid) FROM "{t}"').fetchone() for t in tables
                if not t.startswith("sqlite_")}
    finally:
        conn.close()


_WORLD: dict[str, World] = {}


def world() -> World:
    """One world per test session (hypothesis runs many examples against it)."""
    if "w" not in _WORLD:
        _WORLD["w"] = World(Path(tempfile.mkdtemp(prefix="kisoms-prop-")))
    return _WORLD["w"]


def check_refused(w: World, args: list[str], stdin: bytes = b"", allowed: set[int] = ERRORS) -> None:
    before = w.snapshot()
    code, out, err = w.run(args, stdin)
    assert code in allowed, (code, out, err)
    assert_one_line_error(err)
    assert out == ""
    assert w.snapshot() == before


@PROPERTY
@given(st.binary(max_size=400))
def test_arbitrary_bytes_as_an_intent_file(data):
    w = world()
    path = w.root / "intent.bin"
    path.write_bytes(data)
    check_refused(w, ["submit", "--intent", str(path)])


@PROPERTY
@given(st.binary(max_size=400))
def test_arbitrary_bytes_on_stdin(data):
    check_refused(world(), ["submit", "--intent", "-"], stdin=data)


@PROPERTY
@given(json_values)
def test_arbitrary_json_as_an_intent(value):
    check_refused(world(), ["--json", "submit", "--intent", "-"], stdin=json.dumps(value).encode())


@PROPERTY
@given(st.sampled_from(sorted(INTENT)), json_values)
def test_an_intent_with_one_field_replaced_by_arbitrary_json(field, value):
    text = json.dumps({**INTENT, field: value}, indent=1)
    check_refused(world(), ["submit", "--intent", "-"], stdin=text.encode())


@PROPERTY
@given(st.dictionaries(st.sampled_from(["--symbol", "--side", "--type", "--qty", "--price", "--account",
                                        "--tag", "--signal-ts", "--exchange", "--strategy"]),
                       st.text(max_size=40).filter(lambda t: "\x00" not in t), min_size=1))
def test_arbitrary_flag_values(flags):
    args = ["submit", "--symbol", "005930", "--side", "buy", "--qty", "1", "--price", "70000"]
    for flag, value in flags.items():
        args += [flag, value]
    check_refused(world(), args)


@PROPERTY
@given(st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_arbitrary_bytes_as_the_config_file(data):
    w = world()
    config = w.root / "bad-config.toml"
    config.write_bytes(data)
    before = w.snapshot()
    out, err = io.StringIO(), io.StringIO()
    with _swapped_std(b"", out, err):
        code = main(["--config", str(config), "--ledger", str(w.ledger), "halt", "x"])
    if code == ExitCode.OK:  # a config that happens to be valid: the halt is written, and lifted again
        assert w.run(["resume"])[0] == 0
        return
    assert code == ExitCode.USAGE, (code, err.getvalue())
    assert_one_line_error(err.getvalue())
    assert w.snapshot() == before


@PROPERTY
@given(st.binary(min_size=1, max_size=600) | st.binary(max_size=300).map(lambda b: b"SQLite format 3\x00" + b))
def test_arbitrary_bytes_as_the_ledger_file(data):
    w = world()
    path = w.root / "not-a-ledger.db"
    path.write_bytes(data)
    for command in (["status"], ["verify-audit"], ["halt", "x"]):
        out, err = io.StringIO(), io.StringIO()
        with _swapped_std(b"", out, err):
            code = main(["--config", str(w.config), "--ledger", str(path), *command])
        assert code in (ExitCode.USAGE, ExitCode.LEDGER), (command, code, err.getvalue())
        assert_one_line_error(err.getvalue())
        assert path.read_bytes() == data  # never "repaired", never overwritten


READ_ONLY = ["status", "events", "verify-audit", "modify", "cancel", "resolve"]
TOKENS = st.sampled_from(["--open", "--symbol", "--limit", "--since", "--price", "--qty", "--not-at-broker",
                          "--resend", "--json", "-", "0", "-1", "1" * 25, "ten"]) | st.text(max_size=12)


@PROPERTY
@given(st.sampled_from(READ_ONLY), st.lists(TOKENS.filter(lambda t: "\x00" not in t), max_size=5))
def test_arbitrary_arguments_to_commands_that_change_nothing_here(command, tokens):
    w = world()
    before = w.snapshot()
    code, out, err = w.run([command, *tokens])
    assert code in ERRORS | {ExitCode.OK}, (code, out, err)
    assert "Traceback" not in err
    if code != ExitCode.OK:
        assert_one_line_error(err)
    assert w.snapshot() == before


@FEW
@given(st.integers(max_value=0, min_value=-9_999_999_999))
def test_a_quantity_of_no_shares_is_a_validation_reject_even_with_the_broker_away(qty):
    check_refused(world(), ["submit", "--symbol", "005930", "--side", "buy", "--qty", str(qty), "--price", "70000"],
                  allowed={ExitCode.VALIDATION})
