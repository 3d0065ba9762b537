"""Where each effective setting came from: flag, environment variable, config file, simulator default or
default (``kisoms config show``, ``kisoms doctor``). Secrets are masked: only where they were found is said."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kisoms.config import (KEYRING_SERVICE, Settings, _keyring_get, _read_toml, _sim_defaults, existing_default_config,
                           ledger_path, load_settings)

MASK = "****"
# The settings environment variables override (kisoms.config._env_overrides; a test keeps the two in step).
ENV_OVERRIDES = (("rest_url", "KISOMS_REST_URL"), ("ws_url", "KISOMS_WS_URL"), ("env", "KISOMS_ENV"),
                 ("state_dir", "KISOMS_STATE_DIR"))


@dataclass(frozen=True)
class Sourced:
    """One effective setting: its dotted key, its value (masked if secret) and where it came from."""

    key: str
    value: Any
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "source": self.source}


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, dict) or (prefix and not data):
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _config_file(flag: str | None, environ: dict) -> tuple[str | None, str]:
    if flag and flag != environ.get("KISOMS_CONFIG"):
        return flag, "flag --config"
    if environ.get("KISOMS_CONFIG"):
        return environ["KISOMS_CONFIG"], "env KISOMS_CONFIG"
    found = existing_default_config()
    return (str(found), "default file") if found else (None, "default (no file)")


def _setting_source(key: str, file_keys: set[str], sim_keys: set[str], env_keys: dict[str, str], path) -> str:
    top = key.split(".")[0]
    if top in env_keys:
        return env_keys[top]
    if _under(key, file_keys):
        return f"file {path}"
    if _under(key, sim_keys):
        return "sim default"
    return "default"


def _under(key: str, keys: set[str]) -> bool:
    return key in keys or any(key.startswith(k + ".") for k in keys)


def _ledger_entry(settings: Settings, flag: str | None, environ: dict, file_data: dict, path) -> Sourced:
    chosen = ledger_path(settings, flag, environ)
    if flag and flag != environ.get("KISOMS_LEDGER"):
        source = "flag --ledger"
    elif environ.get("KISOMS_LEDGER"):
        source = "env KISOMS_LEDGER"
    elif file_data.get("ledger"):
        source = f"file {path}"
    else:
        source = "default (<state_dir>/ledger.db)"
    return Sourced("ledger (path in use)", str(chosen), source)


def credential_sources(settings: Settings, environ: dict | None = None) -> list[Sourced]:
    """Where the app key and secret are found (keyring, env var, simulator default); values masked."""
    environ = os.environ if environ is None else environ
    out = []
    for name, var in (("app_key", "KISOMS_APP_KEY"), ("app_secret", "KISOMS_APP_SECRET")):
        user = f"{settings.env}:{name}"
        if _keyring_get(user):
            source = f"keyring {KEYRING_SERVICE}/{user}"
        elif environ.get(var):
            source = f"env {var}"
        elif settings.env == "sim":
            source = "sim default (guards nothing)"
        else:
            source = "missing"
        out.append(Sourced(name, None if source == "missing" else MASK, source))
    return out


SECRET_URLS = ("alerts.webhook",)  # Slack's path and Telegram's bot token are the credential


def masked_url(url: str | None) -> str | None:
    """A URL whose path may be a credential, shown as its scheme and host only (https://host/****)."""
    if not url:
        return url
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/{MASK}"


def explain(config_flag: str | None = None, ledger_flag: str | None = None,
            environ: dict | None = None, env_flag: str | None = None) -> list[Sourced]:
    """Every effective setting with its source, then the ledger path and the credentials (masked)."""
    environ = os.environ if environ is None else environ
    path, path_source = _config_file(config_flag, environ)
    file_data = _read_toml(Path(path)) if path else {}
    settings = load_settings(path, environ=environ, env=env_flag)
    env_keys = {key: f"env {var}" for key, var in ENV_OVERRIDES if environ.get(var)}
    if env_flag:
        env_keys["env"] = "flag --env"
    merged = {**file_data, **{k: environ[v] for k, v in ENV_OVERRIDES if environ.get(v)}}
    if env_flag:
        merged["env"] = env_flag
    sim_keys = set(_flatten(_sim_defaults(merged))) - set(_flatten(merged)) if merged.get("env", "sim") == "sim" else set()
    file_keys = set(_flatten(file_data))
    entries = [Sourced("config file", path, path_source)]
    for key, value in _flatten(settings.model_dump(mode="json")).items():
        shown = masked_url(value) if key in SECRET_URLS else value
        entries.append(Sourced(key, shown, _setting_source(key, file_keys, sim_keys, env_keys, path)))
    entries.append(_ledger_entry(settings, ledger_flag, environ, file_data, path))
    return entries + credential_sources(settings, environ)

