"""How the CLI speaks: which env it runs against, one-line errors, and the one --json shape rule.

Shape rule: a list is JSON Lines (one object per line), one thing is one object, an error is one JSON
object on stderr with ``code``, ``exit`` and ``message``. Every JSON object names the ``env``.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kisoms.engine.clock import KST
from kisoms.errors import AuthError

if TYPE_CHECKING:  # (rich loads when something is rendered: a plain or JSON answer never needs it)
    from rich.console import Console
    from rich.text import Text

ENV_STYLE = {"sim": "bold cyan", "paper": "bold yellow", "real": "bold white on red"}
_current: dict[str, str | None] = {"env": None}


def console_for(stream) -> Console:
    """A console that never hard-wraps, honours NO_COLOR and writes plain text when not on a terminal."""
    from rich.console import Console

    return Console(file=stream, soft_wrap=True, highlight=False, emoji=False)


def set_env(env: str | None) -> None:
    """Record which env this process runs against (from the loaded settings)."""
    _current["env"] = env


def current_env() -> str | None:
    return _current["env"]


def env_badge() -> Text:
    """SIM / PAPER / REAL, coloured where the terminal allows."""
    from rich.text import Text

    env = _current["env"] or "sim"
    return Text(env.upper(), style=ENV_STYLE.get(env, "bold"))


def with_env(data: dict[str, Any]) -> dict[str, Any]:
    """The object with an ``env`` field (first), when the env is known."""
    env = _current["env"]
    return {"env": env, **data} if env else dict(data)


def one_line(message: str) -> str:
    """A message on one line (grep-able): newlines and runs of spaces become single spaces."""
    return " ".join(str(message).split())


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(KST).isoformat()
    return str(value)


def json_line(data: Any) -> str:
    """One JSON document as ``print_json`` writes it (without the newline)."""
    return json.dumps(data, ensure_ascii=False, default=_json_default)


def print_json(data: Any, *, err: bool = False) -> None:
    """One JSON document on one line (stdout, or stderr for errors); times in KST with the offset."""
    stream = sys.stderr if err else sys.stdout
    print(json_line(data), file=stream, flush=True)


def describe(exc: Exception) -> str:
    """What a kisoms error says to a person (an authentication refusal explained in English)."""
    if isinstance(exc, AuthError):
        return (f"authentication refused by KIS [{exc.msg_cd}]: the app key, app secret or access token was not "
                f"accepted; check the credentials for this env (keyring or KISOMS_APP_KEY/KISOMS_APP_SECRET). "
                f"KIS said: {exc.message}")
    return str(exc)


def report_error(message: str, code, as_json: bool, kind: str | None = None) -> int:
    """Say what went wrong in one line on stderr (a JSON object with --json); return the exit code."""
    text = one_line(message)
    if as_json:
        body = {"code": code.name.lower(), "exit": int(code), "message": text}
        print_json(with_env({**body, "kind": kind} if kind else body), err=True)
    else:
        from rich.text import Text

        line = Text("error", style="bold red") + Text(f": {text}")
        if _current["env"]:
            line = Text("[") + env_badge() + Text("] ") + line
        console_for(sys.stderr).print(line)
    return int(code)


def report_internal(exc: Exception, as_json: bool) -> int:
    """A failure kisoms did not expect (a bug): still one line, never a traceback; the exit code."""
    from kisoms.cli.exit_codes import ExitCode

    return report_error(f"internal error ({type(exc).__name__}: {exc}); please report it", ExitCode.INTERNAL,
                        as_json, kind=type(exc).__name__)
