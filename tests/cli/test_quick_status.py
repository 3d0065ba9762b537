"""`kisoms status` is answered by cli/quick.py before typer, pydantic and keyring load (and rich, to a pipe):
it must say exactly what the full command says, on a terminal too, and hand anything else to it."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from kisoms.domain.codes import Exchange, OrderType, Side
from kisoms.domain.order import Order
from kisoms.domain.states import OrderEvent
from kisoms.ledger import Ledger

from cli_helpers import kisoms_process

ACCOUNT = "50000001-01"
FULL = "import sys; from kisoms.cli.app import main; sys.exit(main(sys.argv[1:]))"  # never the quick path
LOADED = """import os, runpy, sys
sys.argv = ['kisoms', *sys.argv[1:]]
def loaded():
    print(sorted(m for m in ('typer', 'rich', 'pydantic', 'keyring') if m in sys.modules), file=sys.stderr, flush=True)
_exit = os._exit  # (a quick answer ends with os._exit: no finally runs)
os._exit = lambda rc: (loaded(), _exit(rc))
try:
    runpy.run_module('kisoms', run_name='__main__')
finally:
    loaded()"""


@pytest.fixture
def setup(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(f'env = "sim"\nrest_url = "http://127.0.0.1:9"\nstate_dir = "{tmp_path / "state"}"\n')
    path = tmp_path / "ledger.db"
    with Ledger(path) as ledger:
        for n, (symbol, qty) in enumerate([("005930", 10), ("000660", 3), ("005930", 7)]):
            order = Order(id=0, idempotency_key=f"k{n}", account=ACCOUNT, strategy_version="t", symbol=symbol,
                          side=Side.BUY, order_type=OrderType.LIMIT, qty=qty, price=70000 + n * 100,
                          exchange=Exchange.KRX, signal_ts=datetime(2026, 11, 25, 0, n, tzinfo=timezone.utc))
            ledger.create(order, source="test")
    env = {**os.environ, "KISOMS_CONFIG": str(config), "KISOMS_LEDGER": str(path),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    for var in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        env.pop(var, None)
    assert _run(LOADED, ["status"], env)[2].strip() != "[]"  # a first look records the app key: full command
    return env, path


def _run(code: str, args: list[str], env: dict) -> tuple[int, str, str]:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, env=env, timeout=60)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


@pytest.mark.parametrize("args", [["status"], ["status", "--json"], ["--json", "status", "--open"],
                                  ["status", "--symbol", "005930", "--limit", "1"], ["status", "--limit", "0"]])
def test_the_quick_answer_is_the_full_commands_answer(setup, args):
    env, _ = setup
    quick = kisoms_process(args, env=env)
    assert (quick.code, quick.out, quick.err) == _run(FULL, args, env)
    assert quick.out  # (a header at least)


def test_halts_and_a_foreign_ledger_read_the_same(setup, tmp_path):
    env, path = setup
    with Ledger(path) as ledger:
        ledger.set_halt("a test halt", source="test", account=ACCOUNT)
    quick = kisoms_process(["status"], env=env)
    assert (quick.code, quick.out, quick.err) == _run(FULL, ["status"], env)
    assert "HALTED" in quick.err
    foreign = tmp_path / "notes.txt"
    foreign.write_text("not a ledger")
    quick = kisoms_process(["--ledger", str(foreign), "status"], env=env)
    assert quick.code != 0 and (quick.code, quick.out, quick.err) == _run(FULL, ["--ledger", str(foreign), "status"], env)
    assert foreign.read_text() == "not a ledger"


def test_a_plain_listing_loads_neither_typer_rich_pydantic_nor_keyring(setup):
    env, _ = setup
    code, out, err = _run(LOADED, ["status"], env)
    assert code == 0 and out.startswith("env\tid") and err.strip() == "[]"
    code, out, err = _run(LOADED, ["status", "1"], env)  # one order in full: the full command
    assert code == 0 and "typer" in err


WRITE_PATH = ("kisoms.ledger.orders", "kisoms.ledger.requests", "kisoms.ledger.fills", "kisoms.ledger.journal",
              "kisoms.domain.guards")
WRITERS_LOADED = LOADED.replace("('typer', 'rich', 'pydantic', 'keyring')", repr(WRITE_PATH))


@pytest.mark.parametrize("terminal", [False, True])
def test_a_listing_loads_none_of_the_ledgers_write_path(setup, terminal):
    env, _ = setup
    env = {**env, "FORCE_COLOR": "1", "COLUMNS": "120"} if terminal else env
    code, out, err = _run(WRITERS_LOADED, ["status"], env)
    assert code == 0 and "005930" in out and err.strip() == "[]"
    code, out, err = _run(WRITERS_LOADED, ["status", "1"], env)  # the full command: the history reads events
    assert code == 0 and "kisoms.ledger.orders" in err


def test_a_ledger_not_yet_used_goes_to_the_full_command(tmp_path, setup):
    env, _ = setup
    env = {**env, "KISOMS_LEDGER": str(tmp_path / "fresh.db")}
    code, out, err = _run(LOADED, ["status"], env)
    assert code == 0 and "keyring" in err  # the app key read (and recorded) ...
    code, out, err = _run(LOADED, ["status"], env)
    assert code == 0 and err.strip() == "[]"  # ... so the next look needs none of it


def test_a_config_with_more_in_it_goes_to_the_full_command(setup, tmp_path):
    env, _ = setup
    config = tmp_path / "more.toml"
    config.write_text('env = "sim"\nledger_busy_timeout = "soon"\n')
    env = {**env, "KISOMS_CONFIG": str(config)}
    quick = kisoms_process(["status"], env=env)
    assert quick.code == 2 and "ledger_busy_timeout" in quick.err
    assert (quick.code, quick.out, quick.err) == _run(FULL, ["status"], env)


# ------------------------------------------------------------------------------------- on a terminal

TERMINALS = [{"TTY_COMPATIBLE": "1", "COLUMNS": "160"}, {"TTY_COMPATIBLE": "1", "COLUMNS": "60"},
             {"FORCE_COLOR": "1", "COLUMNS": "100", "TERM": "xterm-256color"},
             {"TTY_COMPATIBLE": "1", "COLUMNS": "90", "NO_COLOR": "1"}]  # (rich takes stdout for a terminal)


@pytest.fixture
def noted(setup):
    """A ledger whose orders carry notes (Korean, long, a tab and a newline): cells that test the fitting."""
    env, path = setup
    with Ledger(path) as ledger:
        for n, reason in enumerate(["주문가능금액을 초과 했습니다", "x" * 90, "a\ttab and a\nnewline"]):
            order = Order(id=0, idempotency_key=f"n{n}", account=ACCOUNT, strategy_version="t", symbol="035720",
                          side=Side.SELL, order_type=OrderType.MARKET, qty=123_456 * (n + 1), price=0,
                          exchange=Exchange.KRX, signal_ts=datetime(2026, 11, 25, 1, n, tzinfo=timezone.utc))
            created, _ = ledger.create(order, source="test")
            ledger.transition(created.id, OrderEvent.VALIDATION_FAILED, source="test", reject_code="V",
                              reject_reason=reason)
    return env, path


@pytest.mark.parametrize("terminal", TERMINALS)
@pytest.mark.parametrize("args", [["status"], ["status", "--symbol", "035720"], ["status", "--symbol", "999999"]])
def test_on_a_terminal_the_quick_answer_is_the_full_commands_table(noted, terminal, args):
    env = {**noted[0], **terminal}
    env.pop("NO_COLOR", None) if "NO_COLOR" not in terminal else None
    quick = kisoms_process(args, env=env)
    assert (quick.code, quick.out, quick.err) == _run(FULL, args, env)
    assert ("─" in quick.out) if args[-1] != "999999" else ("no orders" in quick.out)
    code, out, err = _run(LOADED, args, env)
    assert code == 0 and out == quick.out and err.strip() == "['rich']"  # the table, without typer or pydantic


@pytest.mark.parametrize("terminal", TERMINALS[:2])
def test_halts_and_warnings_read_the_same_on_a_terminal(noted, terminal, tmp_path):
    env, path = noted
    env = {**env, **terminal}
    with Ledger(path) as ledger:
        ledger.set_halt("a test halt", source="test", account=ACCOUNT)
    path.chmod(0o644)  # a loose file mode: a warning on opening
    quick = kisoms_process(["status"], env=env)
    assert (quick.code, quick.out, quick.err) == _run(FULL, ["status"], env)
    assert "HALTED" in quick.err and "warning" in quick.err


def _in_pty(code: list[str], env: dict) -> tuple[int, str, str]:
    """A command with its stdout on a pseudo-terminal (stderr captured apart)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(code, stdout=follower, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # (the terminal closed)
            break
        if not data:
            break
        chunks.append(data)
    err = proc.stderr.read()
    proc.wait(timeout=60)
    os.close(leader)
    return proc.returncode, b"".join(chunks).decode(), err.decode()


def test_on_a_real_terminal_too(noted):
    env = {**noted[0], "COLUMNS": "120", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    quick = _in_pty([sys.executable, "-m", "kisoms", "status"], env)
    assert quick == _in_pty([sys.executable, "-c", FULL, "status"], env)
    assert "─" in quick[1] and "\x1b[" in quick[1]  # a table, in colour


@pytest.mark.parametrize("terminal", [{}, TERMINALS[0]])
def test_a_failure_while_writing_is_the_full_commands_one_line(noted, terminal):
    env = {**noted[0], **terminal, "PYTHONIOENCODING": "ascii"}  # (the Korean note cannot be written)
    env.pop("KISOMS_DEBUG", None)
    quick = kisoms_process(["status"], env=env)
    assert (quick.code, quick.out, quick.err) == _run(FULL, ["status"], env)
    if not terminal:  # (on a terminal rich drops the note column at this width or writes it as it can)
        assert quick.code == 1 and "internal error (UnicodeEncodeError" in quick.err and "Traceback" not in quick.err
