"""Setting up and checking: `kisoms init`, `kisoms doctor`, `kisoms config show`, `kisoms sim` (serve, status,
stop)."""

from __future__ import annotations

from typing import Optional

import typer

from kisoms.cli.context import app, options
from kisoms.cli.render import Column, print_json_lines, say, show_table, styled
from kisoms.cli.report import print_json, set_env, with_env
from kisoms.config import load_settings
from kisoms.errors import KisomsError, UsageError

config_app = typer.Typer(help="The effective configuration.", no_args_is_help=True)
sim_app = typer.Typer(help="The KIS protocol simulator: run one, or see and stop the local daemon.",
                      invoke_without_command=True)
app.add_typer(config_app, name="config")
app.add_typer(sim_app, name="sim")


@config_app.command("show")
def config_show(ctx: typer.Context) -> None:
    """Every effective setting with where it came from (flag, env var, file, sim default, default); the
    credentials only say where they were found, never what they are."""
    from kisoms.config_sources import explain

    opts = options(ctx)
    entries = explain(opts.config, opts.ledger, env_flag=opts.env)
    set_env(next((str(e.value) for e in entries if e.key == "env" and e.value), None))
    if opts.json:  # one thing, one object; its "env" key is the env setting itself ({"value", "source"})
        print_json({e.key: {"value": e.value, "source": e.source} for e in entries})
        return
    show_table("Configuration", CONFIG_COLUMNS, entries)


CONFIG_COLUMNS = [
    Column("key", lambda e: e.key), Column("value", lambda e: "-" if e.value is None else str(e.value)),
    Column("source", lambda e: e.source),
]


def env_of(opts) -> str | None:
    """Name the env of this run in every line (from the settings); unknown when the config cannot be read."""
    try:
        env = load_settings(opts.config, env=opts.env).env
    except (KisomsError, UnicodeDecodeError, ValueError, OSError):
        env = None
    set_env(env)
    return env


@sim_app.callback()
def sim(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Listen address (loopback by default)."),
    port: int = typer.Option(0, min=0, max=65535, help="REST port (0 = pick a free one)."),
    ws_port: int = typer.Option(0, "--ws-port", min=0, max=65535, help="WebSocket port (0 = pick a free one)."),
    seed: int = typer.Option(0, help="Seed for prices, fills and faults."),
    state: Optional[str] = typer.Option(None, help="State file: a restarted simulator keeps its orders."),
    ready_file: Optional[str] = typer.Option(None, "--ready-file", help="Write the URLs here as JSON once listening."),
    scenario: Optional[str] = typer.Option(None, help="Scenario file (TOML/JSON): keys, accounts, symbols, faults."),
    paper_port: int = typer.Option(0, "--paper-port", min=0, max=65535, help="The paper host's REST port (0 = pick a free one)."),
    paper_ws_port: int = typer.Option(0, "--paper-ws-port", min=0, max=65535, help="The paper host's WebSocket port (0 = free)."),
) -> None:
    """Run the KIS protocol simulator (a real and a paper host, REST + WebSocket) until Ctrl-C or SIGTERM;
    `kisoms sim status` and
    `kisoms sim stop` show and stop the daemon that env "sim" starts on demand."""
    if ctx.invoked_subcommand is not None:
        return
    from kisoms.sim.cli_entry import serve

    raise typer.Exit(serve(host, port, ws_port, seed, state, ready_file, scenario, paper_port, paper_ws_port))


def _state_dir(ctx: typer.Context):
    settings = load_settings(options(ctx.find_root()).config, env=options(ctx.find_root()).env)
    set_env(settings.env)
    return settings.state_path


@sim_app.command("status")
def sim_status(ctx: typer.Context) -> None:
    """Whether the local simulator daemon runs (pid, URLs, log), from the state dir."""
    from kisoms.engine.simdaemon import status

    found = status(_state_dir(ctx))
    if options(ctx.find_root()).json:
        print_json(with_env(found.as_dict()))
    elif found.running:
        say("simulator running: pid ", styled(str(found.pid), "bold"),
            f", REST {found.rest_url}, WebSocket {found.ws_url}, state dir {found.state_dir}")
    else:
        say(f"simulator not running (state dir {found.state_dir})")


@sim_app.command("stop")
def sim_stop(ctx: typer.Context) -> None:
    """Stop the local simulator daemon (SIGTERM, then wait for it to exit); its state file is kept, so the
    next kisoms command starts it again with the same orders."""
    from kisoms.engine.simdaemon import stop

    stopped = stop(_state_dir(ctx))
    if options(ctx.find_root()).json:
        print_json(with_env({"stopped": stopped is not None, "pid": stopped.pid if stopped else None}))
    else:
        say(f"simulator stopped (pid {stopped.pid})" if stopped else "simulator was not running")


# --------------------------------------------------------------------------------------------------- init

def _interactive(non_interactive: bool) -> bool:
    import sys

    return not non_interactive and sys.stdin.isatty()


def _ask(value, prompt: str, *, hide: bool = False, default=None, ask: bool):
    if value or not ask:
        return value
    return typer.prompt(prompt, hide_input=hide, default=default, show_default=default is not None) or None


@app.command()
def init(
    ctx: typer.Context,
    env: Optional[str] = typer.Option(None, "--env", envvar="KISOMS_ENV", help="paper, real or sim."),
    account: list[str] = typer.Option([], "--account", envvar="KISOMS_ACCOUNT",
                                      help="Account CANO-ACNT_PRDT_CD, repeatable; the first is the default."),
    hts_id: Optional[str] = typer.Option(None, "--hts-id", envvar="KISOMS_HTS_ID", help="HTS ID (for notices)."),
    app_key: Optional[str] = typer.Option(None, "--app-key", envvar="KISOMS_APP_KEY", help="App key."),
    app_secret: Optional[str] = typer.Option(None, "--app-secret", envvar="KISOMS_APP_SECRET", help="App secret."),
    rest_url: Optional[str] = typer.Option(None, "--rest-url", help="REST URL (only to point at a simulator)."),
    ws_url: Optional[str] = typer.Option(None, "--ws-url", help="WebSocket URL (only to point at a simulator)."),
    state_dir: Optional[str] = typer.Option(None, "--state-dir", help="State dir (token cache, rate limiter)."),
    non_interactive: bool = typer.Option(False, "--non-interactive", "-y", help="Never prompt; fail on what is missing."),
    force: bool = typer.Option(False, "--force", help="Replace an existing config file."),
) -> None:
    """Set up kisoms: env, accounts, HTS ID, app key and secret (prompted without echo, or flags / env vars).
    Proves the credentials by taking a token (through the shared token cache), stores them in the OS keyring
    (service `kisoms`), and writes the config (0600) with only what differs from the defaults."""
    from kisoms.config import default_config_path
    from kisoms.engine import setup
    from pathlib import Path

    opts, ask = options(ctx), _interactive(non_interactive)
    env = _ask(env, "Environment (paper, real or sim)", default="paper", ask=ask) or "sim"
    set_env(env if env in ("sim", "paper", "real") else None)
    accounts = account or ([a.strip() for a in (_ask(None, "Account(s) CANO-ACNT_PRDT_CD, comma-separated",
                                                     ask=ask) or "").split(",") if a.strip()])
    answers = setup.Answers(
        env=env, accounts=tuple(accounts), hts_id=_ask(hts_id, "HTS ID", ask=ask and env != "sim"),
        app_key=_ask(app_key, "App key", hide=True, ask=ask and env != "sim"),
        app_secret=_ask(app_secret, "App secret", hide=True, ask=ask and env != "sim"),
        rest_url=rest_url, ws_url=ws_url, state_dir=state_dir)
    if answers.problems():
        raise UsageError("kisoms init: " + "; ".join(answers.problems()))
    data = setup.config_data(answers)
    settings = setup.settings_for(data)
    path = Path(opts.config) if opts.config else default_config_path()
    if path.exists() and not force:
        raise UsageError(f"{path} exists; pass --force to replace it")
    setup.prove_credentials(settings, answers.app_key, answers.app_secret)
    _tell(opts.json, f"credentials accepted: a token was taken for env {env} (cached in {settings.state_path})")
    backend = _store(setup, answers, opts.json) if answers.app_key and answers.app_secret else None
    setup.write_private(path, setup.config_text(data), force=force)
    _tell(opts.json, f"config written: {path} (0600)" + ("" if opts.config else "; every command reads it by default"))
    if opts.json:
        print_json(with_env({"config": str(path), "token": "taken", "state_dir": str(settings.state_path),
                             "keyring": backend}))


def _tell(as_json: bool, line: str) -> None:
    """A step of init, for a person (with --json, only the final object is printed)."""
    if not as_json:
        say(line)


def _store(setup, answers, as_json: bool) -> str | None:
    backend = setup.store_credentials(answers.env, answers.app_key, answers.app_secret)
    if backend:
        _tell(as_json, f"app key and secret stored in the keyring ({backend}), service kisoms, users "
                       f"{answers.env}:app_key and {answers.env}:app_secret")
    else:
        say(f"warning: {setup.ENV_FALLBACK}", err=True)
    return backend


# ------------------------------------------------------------------------------------------------- doctor

def _say_check(c) -> None:
    """One check on one line (its fix on the next), e.g. `[PAPER] FAIL token: ...`."""
    say(styled(f"{c.status.upper():4}", CHECK_STYLE[c.status]), f" {c.name}: {c.detail}")
    if c.fix and c.status != "pass":
        say(f"     fix: {c.fix}")


CHECK_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}
_DOCTOR_EXIT = {"usage": 2, "unknown": 5, "broker": 6, "ledger": 10}


@app.command()
def doctor(ctx: typer.Context) -> None:
    """Check the setup before trading: config and sources, credentials, ledger (schema, file modes, audit
    chain), halts, unresolved orders, alert delivery, rate limit, token, REST, clock offset, WebSocket, the KRX session.
    One line per check with the fix; exits non-zero (2, 5, 6 or 10, as for other commands) when any fails."""
    from kisoms.engine.doctor import run_checks

    opts = options(ctx)
    env_of(opts)
    checks = run_checks(opts.config, opts.ledger, env_flag=opts.env)
    if opts.json:  # a list: JSON Lines, one check each
        print_json_lines(c.as_dict() for c in checks)
    else:
        for c in checks:
            _say_check(c)
    codes = [_DOCTOR_EXIT.get(c.kind, 1) for c in checks if c.status == "fail"]
    raise typer.Exit(max(codes) if codes else 0)

