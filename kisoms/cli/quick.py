"""`kisoms status` (the order list) without loading typer, pydantic or keyring: what a trader at a
terminal, a script or a pipe asks most often, answered after a few milliseconds of imports.

It takes only what it can answer exactly as the full command would: ``[--config P] [--ledger P]
[--env E] status [--open] [--symbol S] [--limit N]`` with ``--json`` anywhere, a simple config
(``kisoms.configfile.quick_settings``), a ledger that has recorded its app key (the key is not read here:
keyring stays unloaded; a reissued key is noticed by the next command that reads it). The answer is
written by the full command's own functions: JSON Lines with ``--json``; to a pipe or a file, the
tab-separated lines (no rich either); otherwise ``kisoms.cli.render.print_orders``, the table the full
command prints (rich decides, as it does there, whether this is a terminal). Anything else (an order id,
``--help``, ``--limit=N``, a config with more in it, any error) returns None and the full command runs
instead, from the start: nothing has been printed by then.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

GLOBAL_VALUED = ("--config", "--ledger", "--env")
SQLITE_MAGIC = b"SQLite format 3\x00"
RICH_TERMINAL_VARS = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")  # (set: rich decides what stdout is)


def _parse(args: list[str]) -> dict | None:
    """The options of a plain ``status`` listing; None for anything else."""
    opts: dict = {"json": False, "open": False, "symbol": None, "limit": 50, "config": None, "ledger": None,
                  "env": None}
    command, tokens = None, iter(args)
    for token in tokens:
        if token == "--json":
            opts["json"] = True
        elif command is None and token in GLOBAL_VALUED or command and token in ("--symbol", "--limit"):
            value = next(tokens, None)
            if value is None or value.startswith("-"):
                return None
            opts[token[2:]] = value
        elif command is None and token == "status":
            command = token
        elif command and token == "--open":
            opts["open"] = True
        else:
            return None
    if command is None or not str(opts["limit"]).isdigit():
        return None
    opts["limit"] = int(opts["limit"])
    return opts


def _foreign(path: Path) -> bool:
    """A file that is not an SQLite database (the full command refuses it with its own message)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except (FileNotFoundError, IsADirectoryError):
        return False
    except OSError:
        return True
    return bool(head) and head != SQLITE_MAGIC


def _read(opts: dict):
    """(settings, orders, warnings, halts), or None when the full command should answer."""
    from kisoms.configfile import ledger_path, quick_settings

    settings = quick_settings(opts["config"] or os.environ.get("KISOMS_CONFIG") or None, env=opts["env"])
    if settings is None:
        return None
    path = ledger_path(settings, opts["ledger"])
    if _foreign(path):
        return None
    from kisoms.ledger.schema import recorded_identity_at

    recorded = recorded_identity_at(path)
    if recorded is None or not recorded.app_key_fingerprint:
        return None  # a new ledger records its app key: the full command reads it (keyring included)
    from kisoms.engine.envledger import open_env_ledger
    from kisoms.engine.queries import orders

    ledger = open_env_ledger(settings, opts["ledger"])  # (no app key: the recorded one stands)
    try:
        found = orders(ledger, open_only=opts["open"], symbol=opts["symbol"], limit=opts["limit"])
        return settings, found, list(ledger.warnings), ledger.halts()
    finally:
        ledger.close()


def _plain_output() -> bool:
    """True when rich would not take stdout for a terminal either (no terminal, no variable forcing one):
    the listing is then tab-separated lines, written without rich."""
    if any(os.environ.get(v) is not None for v in RICH_TERMINAL_VARS):
        return False
    try:
        return not sys.stdout.isatty()
    except (AttributeError, ValueError):  # no stdout, or a closed one: left to rich, as in the full command
        return False


def _write(opts: dict, found: list, halts: list) -> None:
    if opts["json"]:
        from kisoms.cli.cells import order_dict
        from kisoms.cli.report import print_json, with_env

        for order in found:
            print_json(with_env(order_dict(order)))
        return
    if _plain_output() and not halts:
        from kisoms.cli.cells import ORDER_CELLS, tsv_lines
        from kisoms.cli.report import current_env

        cells = [[cell(o) for _, cell, *_ in ORDER_CELLS] for o in found]
        lines = tsv_lines((current_env() or "sim").upper(), [name for name, *_ in ORDER_CELLS], cells)
        sys.stdout.write("".join(line + "\n" for line in lines))
        sys.stdout.flush()
        return
    from kisoms.cli.render import print_orders, show_halts  # (rich: the full command's own table)

    print_orders(found)
    show_halts(halts)


def run_quick(args: list[str]) -> int | None:
    """Answer ``kisoms <args>`` here if it is a plain status listing (exit code), else None."""
    opts = _parse(args)
    if opts is None:
        return None
    try:
        found = _read(opts)
    except Exception:  # the full command says what went wrong, with its exit code
        return None
    if found is None:
        return None
    settings, orders, warnings, halts = found
    from kisoms.cli.report import report_internal, set_env

    set_env(settings.env)
    try:
        if warnings:
            from kisoms.cli.render import show_warnings

            show_warnings(warnings)
        _write(opts, orders, halts)
    except Exception as exc:  # (something may be written by now: the full command's one line for a bug)
        from kisoms.cli.pipes import reader_gone

        gone = reader_gone(exc)  # the reader of stdout left (`| head`): quietly, its exit code
        if gone is not None:
            return gone
        if os.environ.get("KISOMS_DEBUG"):
            raise
        return report_internal(exc, opts["json"])
    return 0
