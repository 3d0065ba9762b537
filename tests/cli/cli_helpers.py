"""Helpers for CLI tests: the command tree (introspected, so new commands are covered), running kisoms."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import typer.main

from kisoms.cli.app import _register, app


def command_tree() -> dict:
    """Every command of the app by its full name ("status", "sim stop", ...), typer's click command objects;
    a group is listed itself only when it takes options of its own (``kisoms sim`` runs the simulator)."""
    _register()
    found: dict = {}

    def walk(group, prefix: str) -> None:
        for name, command in group.commands.items():
            subcommands = getattr(command, "commands", None)
            if not subcommands or any(p.param_type_name == "option" for p in command.params):
                found[prefix + name] = command
            if subcommands:
                walk(command, f"{prefix}{name} ")

    walk(typer.main.get_command(app), "")
    return found


def value_options(command) -> list:
    """Options of a command that take a value (not flags)."""
    return [p for p in command.params if p.param_type_name == "option" and not p.is_flag]


def int_params(command) -> list:
    return [p for p in command.params if p.type_descriptor.annotation is int]


def required_arguments(command) -> list:
    return [p for p in command.params if p.param_type_name == "argument" and p.required]


@dataclass
class Ran:
    code: int
    out: str
    err: str


def kisoms_process(args: list[str], env: dict | None = None, stdin: bytes | None = None, timeout: float = 60) -> Ran:
    """Run kisoms as a real process (``python -m kisoms``)."""
    full_env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", **(env or {})}
    done = subprocess.run([sys.executable, "-m", "kisoms", *args], input=stdin, capture_output=True,
                          env=full_env, timeout=timeout)
    return Ran(done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"))


def assert_one_line_error(err: str, *, containing: str = "") -> None:
    """stderr is exactly one line (an error), and never a traceback."""
    assert "Traceback" not in err, err
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{err}"
    assert containing in lines[0], lines[0]
