"""Opening the configured env's ledger: its identity checked (envs never mix), its warnings collected."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Callable

from kisoms.configfile import credentials, default_state_dir, ledger_path, legacy_ledger_path
from kisoms.errors import ConfigError
from kisoms.ledger import Ledger, LedgerIdentity, utc_now

if TYPE_CHECKING:
    from kisoms.config import Settings


def app_key_if_known(settings: Settings) -> str | None:
    """The app key when one is configured (read-only views open the ledger without needing one)."""
    try:
        return credentials(settings)[0]
    except ConfigError:
        return None


def _legacy_warning(settings: Settings, path) -> list[str]:
    legacy = legacy_ledger_path()
    if path != default_state_dir(settings.env) / "ledger.db" or not legacy.exists():
        return []
    return [f"a ledger from an older kisoms, shared by every env, is at {legacy}; env {settings.env} now uses "
            f"{path}. If the old one holds {settings.env} orders, point `ledger` at it in this env's config; "
            "otherwise move it away"]


def open_env_ledger(settings: Settings, flag: str | None = None, *, app_key: str | None = None,
                    now: Callable[[], datetime] = utc_now) -> Ledger:
    """The ledger for ``settings`` (``flag``: --ledger). LedgerEnvMismatch if it belongs to another env or
    account set; ``ledger.warnings`` lists what the caller should show."""
    path = ledger_path(settings, flag)
    identity = LedgerIdentity.of(settings.env, settings.account_set, app_key)
    ledger = Ledger(path, now=now, identity=identity, busy_timeout=settings.ledger_busy_timeout)
    ledger.warnings += _legacy_warning(settings, path)
    return ledger
