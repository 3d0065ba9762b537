"""What every command runs in: the typer app it registers on, the global options, and this run's
settings, ledger and runtime. The command modules import this module, never ``kisoms.cli.app`` (which adds
the global options' callback, loads the command modules and runs the app)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import typer

from kisoms.cli.render import say, show_warnings  # noqa: F401  (show_warnings re-exported)
from kisoms.cli.report import one_line, set_env
from kisoms.config import Settings, ledger_path, load_settings
from kisoms.errors import ConfigError, NotALedger

app = typer.Typer(
    name="kisoms",
    help="Order management and execution for the KIS Open API (domestic stocks). "
    "Runs against the built-in simulator unless configured for paper or real trading.",
    no_args_is_help=False,  # bare `kisoms` is a one-line usage error, not a page of help
    pretty_exceptions_enable=False,
    add_completion=True,
)


@dataclass
class GlobalOptions:
    """Options every command sees (typer's ctx.obj)."""

    config: str | None = None
    ledger: str | None = None
    json: bool = False
    env: str | None = None  # --env: wins over the config file and KISOMS_ENV


def options(ctx: typer.Context) -> GlobalOptions:
    """The global options of this run (defaults when a command runs outside the app, as in tests)."""
    return ctx.obj if isinstance(ctx.obj, GlobalOptions) else GlobalOptions()


_run: dict[tuple, Settings] | None = None  # settings loaded during one `main` run, by --config/--env


@contextmanager
def one_run() -> Iterator[None]:
    """A command run (``kisoms.cli.app.main``): the alert hooks around the command and the command itself
    read the config once between them (``run_settings``); nothing is kept after the run."""
    global _run
    _run = {}
    try:
        yield
    finally:
        _run = None


def run_settings(config: str | None, env: str | None) -> Settings:
    """``load_settings(config, env=env)``, loaded once per run (outside a run: every time)."""
    if _run is None:
        return load_settings(config, env=env)
    key = (config or os.environ.get("KISOMS_CONFIG") or None, env)  # (load_settings' own reading of config)
    if key not in _run:
        _run[key] = load_settings(config, env=env)
    return _run[key]


def settings_for(ctx: typer.Context) -> Settings:
    """The settings of this run (and the env every output names). A config file that cannot be read as
    text is a config error like any other (exit 2)."""
    opts = options(ctx)
    try:
        settings = run_settings(opts.config, opts.env)
    except (UnicodeDecodeError, ValueError, OSError) as exc:
        raise ConfigError(f"cannot read config {opts.config}: {one_line(str(exc))[:200]}") from None
    set_env(settings.env)
    refuse_foreign_ledger(ledger_path(settings, opts.ledger))
    return settings


SQLITE_MAGIC = b"SQLite format 3\x00"


def refuse_foreign_ledger(path: Path) -> None:
    """A non-empty file that is not an SQLite database is never opened as the ledger (SQLite would take a
    short one for an empty database and write a fresh ledger over it)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except (FileNotFoundError, IsADirectoryError):
        return
    except OSError as exc:
        raise NotALedger(f"cannot read the ledger {path}: {exc.strerror or exc}") from None
    if head and head != SQLITE_MAGIC:
        raise NotALedger(f"{path} is not a kisoms ledger (not an SQLite file); it was left untouched: "
                         "check --ledger, KISOMS_LEDGER or the config's ledger key")


@contextmanager
def ledger_for(ctx: typer.Context) -> Iterator:
    """Open this run's ledger (its env checked) for a command that does not talk to the broker."""
    from kisoms.engine.queries import open_ledger

    with open_ledger(settings_for(ctx), options(ctx).ledger) as ledger:
        show_warnings(ledger.warnings)
        yield ledger


@contextmanager
def runtime(ctx: typer.Context, *, recover_first: bool = True) -> Iterator:
    """Open the runtime for a command; first resolve sends a crash may have left open."""
    from kisoms.engine.recovery import recover
    from kisoms.engine.runtime import open_runtime

    opts = options(ctx)
    with open_runtime(settings_for(ctx), opts.ledger) as rt:
        show_warnings(rt.warnings)
        if recover_first:
            report = recover(rt, source="startup")
            for line in report.resolved + report.unresolved:
                say(f"recovery: {line}", err=True)
        yield rt
