"""A reader that closes kisoms's stdout early (`kisoms status --json | head -c 20`): kisoms stops quietly with
exit 141 (READER_GONE), no traceback, no "internal error", and the ledger is whole. Each case runs a real
process whose stdout is a pipe with its reading end already closed, so the first write fails."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cli_helpers import kisoms_process
from engine_helpers import write_config
from kisoms.cli.exit_codes import ExitCode
from kisoms.cli.pipes import READER_GONE
from test_interrupts import assert_ledger_whole

FULL = "import sys; from kisoms.cli.app import main; sys.exit(main(sys.argv[1:]))"  # never the quick path
ENV = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}


def run_into_closed_pipe(argv: list[str], timeout: float = 60) -> tuple[int, str]:
    """Run argv with stdout a pipe nobody reads any more; its exit code and stderr."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(argv, stdout=write_end, stderr=subprocess.PIPE, env=ENV, timeout=timeout)
    finally:
        os.close(write_end)
    return done.returncode, done.stderr.decode(errors="replace")


def kisoms(*args: str) -> list[str]:
    return [sys.executable, "-m", "kisoms", *args]


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    """A sim config whose ledger holds two orders (sent to a real simulator)."""
    from kisoms.sim.testing import running_simulator

    tmp_path = tmp_path_factory.mktemp("pipe")
    with running_simulator() as sim:
        path = write_config(sim, tmp_path)
        for n in range(2):
            done = kisoms_process(["--config", str(path), "submit", "--account", "50000001-01", "--symbol",
                                   "005930", "--side", "buy", "--qty", "1", "--price", str(70000 + 100 * n)])
            assert done.code == 0, done.err
        yield path


def test_the_exit_code_is_the_documented_one():
    assert READER_GONE == ExitCode.READER_GONE == 128 + 13  # 128 + SIGPIPE, as a shell reports such a stop


def test_version_into_a_closed_pipe():
    assert run_into_closed_pipe(kisoms("--version")) == (READER_GONE, "")


@pytest.mark.parametrize("args", [["status", "--json"], ["status"]])
def test_the_quick_status_into_a_closed_pipe(config, args):
    assert run_into_closed_pipe(kisoms("--config", str(config), *args)) == (READER_GONE, "")


@pytest.mark.parametrize("args", [["status", "--json"], ["events", "--json"], ["events"], ["--help"]])
def test_a_full_command_into_a_closed_pipe(config, args):
    code, err = run_into_closed_pipe([sys.executable, "-c", FULL, "--config", str(config), *args])
    assert (code, err) == (READER_GONE, "")


def test_watch_json_stops_when_its_reader_leaves(config, tmp_path):
    """The stream's first page fails: the feed stops after its batch, the ledger stays whole."""
    code, err = run_into_closed_pipe(kisoms("--config", str(config), "watch", "--json", "--since", "0"))
    assert (code, err) == (READER_GONE, "")
    assert_ledger_whole(config.parent / "ledger.db", config)


def test_a_broken_pipe_elsewhere_is_still_a_bug_said_in_one_line(config):
    """Only stdout's reader leaving is quiet: the same error with stdout still read is an internal error."""
    code = ("import sys; from kisoms.cli import app, commands\n"
            "def boom(*a, **k): raise BrokenPipeError(32, 'Broken pipe')\n"
            "app.load_commands(); commands.print_json_lines = boom\n"
            f"sys.exit(app.main(['--config', {str(config)!r}, 'status', '--json']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, env=ENV, timeout=60)
    assert done.returncode == ExitCode.INTERNAL
    assert "Traceback" not in done.stderr.decode()
    assert "internal error (BrokenPipeError" in done.stderr.decode()
