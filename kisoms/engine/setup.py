"""`kisoms init`: the config file a trader's answers make, the keyring, and proving the credentials.

Nothing is written until the credentials have taken a token (through the shared token cache in the state
dir, so the first command after init reuses it instead of asking KIS again within its one-per-minute rule).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError as PydanticValidationError

from kisoms.config import (KEYRING_SERVICE, SIM_DEFAULT_ACCOUNT, SIM_DEFAULT_HTS_ID, Settings, _format_pydantic,
                           _sim_defaults)
from kisoms.domain.codes import ACCOUNT_PATTERN
from kisoms.engine.runtime import build_connection
from kisoms.errors import ConfigError, UsageError
from kisoms.kis.client import KisClient
from kisoms.kis.connection import KisConnection

ENVS = ("paper", "real", "sim")
ENV_FALLBACK = ("no usable keyring backend on this machine: the app key and secret were not stored. Give them "
                "to every kisoms process as KISOMS_APP_KEY and KISOMS_APP_SECRET (e.g. in a 0600 env file "
                "your shell profile or service unit sources), or install a keyring backend and run init again.")


@dataclass(frozen=True)
class Answers:
    """What init asks: env, accounts, HTS ID, credentials, and URLs (only to point at a simulator)."""

    env: str
    accounts: tuple[str, ...]
    hts_id: str | None
    app_key: str | None = field(default=None, repr=False)
    app_secret: str | None = field(default=None, repr=False)
    rest_url: str | None = None
    ws_url: str | None = None
    state_dir: str | None = None

    def problems(self) -> list[str]:
        """What is missing or malformed (empty: complete)."""
        found = [] if self.env in ENVS else [f"env must be one of {', '.join(ENVS)}, got {self.env!r}"]
        found += [f"account {a!r} is not CANO-ACNT_PRDT_CD, e.g. 50000001-01"
                  for a in self.accounts if not re.fullmatch(ACCOUNT_PATTERN, a)]
        if self.env != "sim":
            found += [f"{what} is required for env {self.env}" for what, value in
                      (("an account", self.accounts), ("the HTS ID", self.hts_id), ("the app key", self.app_key),
                       ("the app secret", self.app_secret)) if not value]
        return found


def _toml_value(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def config_data(answers: Answers) -> dict:
    """The settings that differ from the defaults (sim defaults included); accounts always listed."""
    data: dict = {}
    if answers.env != "sim":
        data["env"] = answers.env
    sim_same = answers.env == "sim"
    for key, value, default in (("hts_id", answers.hts_id, SIM_DEFAULT_HTS_ID if sim_same else None),
                                ("default_account", answers.accounts[0] if answers.accounts else None,
                                 SIM_DEFAULT_ACCOUNT if sim_same else None),
                                ("rest_url", answers.rest_url, None), ("ws_url", answers.ws_url, None),
                                ("state_dir", answers.state_dir, None)):
        if value and value != default:
            data[key] = value
    if answers.accounts and not (sim_same and answers.accounts == (SIM_DEFAULT_ACCOUNT,)):
        data["accounts"] = {a: {} for a in answers.accounts}
    return data


def config_text(data: dict) -> str:
    """TOML for ``config_data``'s output (scalars, then one empty table per account)."""
    lines = ["# written by `kisoms init`: only what differs from the defaults (see sample-config.toml)"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for account in data.get("accounts", {}):
        lines += ["", f"[accounts.{_toml_value(account)}]"]
    return "\n".join(lines) + "\n"


def settings_for(data: dict) -> Settings:
    """The settings a written config would give (the same validation and sim defaults as load_settings)."""
    try:
        return Settings.model_validate(_sim_defaults(data))
    except PydanticValidationError as exc:
        raise ConfigError(_format_pydantic(exc, "init")) from None


def write_private(path: Path, text: str, *, force: bool) -> None:
    """Write the config: the file 0600, a new parent dir 0700; an existing file only with ``force``."""
    if path.exists() and not force:
        raise UsageError(f"{path} exists; pass --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def keyring_backend() -> str | None:
    """The keyring backend's name when one can store secrets, else None (fail/null backends, no D-Bus...)."""
    try:
        import keyring

        backend = keyring.get_keyring()
        usable = float(getattr(backend, "priority", 0)) > 0
    except Exception:  # a broken keyring install is no keyring
        return None
    return f"{type(backend).__module__}.{type(backend).__name__}" if usable else None


def store_credentials(env: str, app_key: str, app_secret: str) -> str | None:
    """Store the key and secret under service ``kisoms``, users ``<env>:app_key`` / ``<env>:app_secret``.
    Returns the backend used, or None when there is none (the caller explains the env-var fallback)."""
    backend = keyring_backend()
    if backend is None:
        return None
    import keyring

    try:
        keyring.set_password(KEYRING_SERVICE, f"{env}:app_key", app_key)
        keyring.set_password(KEYRING_SERVICE, f"{env}:app_secret", app_secret)
    except Exception as exc:  # locked store, denied access: say so, never echo the secret
        raise ConfigError(f"the keyring ({backend}) refused the credentials: {type(exc).__name__}") from None
    return backend


def connection_for(settings: Settings, app_key: str | None = None, app_secret: str | None = None) -> KisConnection:
    """The broker connection for ``settings`` with explicit credentials (else the usual lookup)."""
    return build_connection(settings, (app_key, app_secret) if app_key and app_secret else None)


def prove_credentials(settings: Settings, app_key: str | None, app_secret: str | None) -> None:
    """Take a token with these credentials through the shared token cache (AuthError if KIS refuses them)."""
    with KisClient(connection_for(settings, app_key, app_secret)) as client:
        client.token()
