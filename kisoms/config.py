"""Configuration: one TOML file (``tomllib``), environment overrides, and credentials from keyring.

Precedence for each setting: command-line flag > environment variable > config file > default.
A bad file names the key and the problem (``ConfigError``). ``sample-config.toml`` documents every key.
Credentials are never read from the config file: keyring (service ``kisoms``, user ``<env>:app_key`` /
``<env>:app_secret``) first, then ``KISOMS_APP_KEY`` / ``KISOMS_APP_SECRET``. The ``sim`` environment
falls back to the simulator's default scenario credentials, which guard nothing.

Environments never mix: each env has its own default state dir (``<user data dir>/kisoms/<env>``: ledger,
token cache, rate limiter, local simulator). ``real`` is reached only by ``env = "real"`` in the config
file or ``--env real``: never by default, never through ``KISOMS_ENV``, never by a near miss ("Real").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError as PydanticValidationError, model_validator

from kisoms.domain.codes import Exchange, OrderType, Side
from kisoms.domain.guards import GuardLimits
from kisoms.domain.policy import AccountPolicy, PricePolicy
from kisoms.configfile import (  # noqa: F401  (re-exported: kisoms.config is where callers find them)
    Places,
    ENVS, KEYRING_SERVICE, PAPER_REST_URL, PAPER_WS_URL, REAL_REST_URL, REAL_WS_URL, SIM_DEFAULT_ACCOUNT,
    SIM_DEFAULT_APP_KEY, SIM_DEFAULT_APP_SECRET, SIM_DEFAULT_HTS_ID, _check_env, _env_overrides, _keyring_get,
    _read_toml, _sim_defaults, credentials, default_config_path, default_state_dir, default_urls,
    existing_default_config, ledger_path, legacy_ledger_path, user_data_root)
from kisoms.errors import ConfigError

class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccountConfig(_Section):
    trading_allowed: bool = True
    allowed_sides: list[Side] = Field(default_factory=lambda: [Side.BUY, Side.SELL])
    allowed_order_types: list[OrderType] | None = None
    max_qty: int | None = Field(default=None, gt=0)
    max_notional: int | None = Field(default=None, gt=0)


class RetryConfig(_Section):
    max_attempts: int = Field(default=4, ge=1, le=20)
    base_delay: float = Field(default=0.25, gt=0)
    max_delay: float = Field(default=4.0, gt=0)
    deadline: float = Field(default=20.0, gt=0)
    connect_timeout: float = Field(default=3.0, gt=0)
    read_timeout: float = Field(default=7.0, gt=0)


class AmbiguityConfig(_Section):
    policy: Literal["halt", "resend"] = "halt"
    max_resends: int = Field(default=1, ge=0)  # per order; then halt
    lookup_window: float = Field(default=20.0, ge=0)
    lookup_interval: float = Field(default=1.0, gt=0)
    match_seconds: int = Field(default=180, gt=0)


class WatchConfig(_Section):
    poll_interval: float = Field(default=3.0, gt=0)
    reconnect_max_delay: float = Field(default=30.0, gt=0)


Env = Literal["sim", "paper", "real"]


class GuardsConfig(_Section):
    """One account's guards (``[guards."CANO-ACNT"]``); each off unless set. See kisoms.domain.guards."""

    max_orders_per_minute: int | None = Field(default=None, gt=0)
    max_open_orders: int | None = Field(default=None, gt=0)
    max_notional_per_day: int | None = Field(default=None, gt=0)
    max_position_per_symbol: int | None = Field(default=None, gt=0)


class AlertsConfig(_Section):
    """``[alerts]``: where alerts go (a command given the alert as JSON on stdin, and/or a webhook POST)."""

    command: list[str] | None = Field(default=None, min_length=1)
    webhook: str | None = Field(default=None, pattern=r"^https?://")
    format: Literal["json", "slack", "telegram"] = "json"  # webhook body: the alert, Slack's {"text": ...} or
    # Telegram's sendMessage {"chat_id": ..., "text": ...}
    chat_id: int | str | None = None  # the Telegram chat (format = "telegram"): a number or "@channel"
    fills: bool = False
    ack_timeout: float = Field(default=30.0, gt=0)  # an order still SENDING this long: "not acknowledged"
    cancel_timeout: float = Field(default=30.0, gt=0)  # a cancel still PENDING_CANCEL this long: "not confirmed"
    timeout: float = Field(default=5.0, gt=0)  # per delivery attempt
    max_attempts: int = Field(default=8, ge=1)
    base_delay: float = Field(default=5.0, gt=0)  # retry backoff: base_delay * 2**(attempt-1), capped
    max_delay: float = Field(default=600.0, gt=0)

    @property
    def targets(self) -> list[str]:
        return [t for t, on in (("command", self.command), ("webhook", self.webhook)) if on]

    @model_validator(mode="after")
    def _telegram_needs_a_chat(self) -> "AlertsConfig":
        if self.format == "telegram" and self.chat_id in (None, ""):
            raise ValueError('format = "telegram" needs chat_id (the chat the bot writes to)')
        return self


class Settings(Places, _Section):
    env: Env = "sim"
    rest_url: str | None = None
    ws_url: str | None = None
    hts_id: str | None = None
    custtype: Literal["P", "B"] = "P"
    tr_id_generation: Literal["current", "old"] = "current"
    use_hashkey: bool = False
    rate_per_sec: float | None = Field(default=None, gt=0)
    default_exchange: Exchange = Exchange.KRX
    default_account: str | None = None
    ledger: str | None = None
    state_dir: str | None = None
    ledger_busy_timeout: float = Field(default=10.0, gt=0, le=3600)
    price_policy: PricePolicy = PricePolicy.REJECT
    accounts: dict[str, AccountConfig] = Field(default_factory=dict)
    retry: RetryConfig = RetryConfig()
    ambiguity: AmbiguityConfig = AmbiguityConfig()
    watch: WatchConfig = WatchConfig()
    guards: dict[str, GuardsConfig] = Field(default_factory=dict)
    alerts: AlertsConfig = AlertsConfig()

    def guard_limits(self, account: str) -> GuardLimits | None:
        """The account's guards (None when it has none configured)."""
        cfg = self.guards.get(account)
        return GuardLimits(**cfg.model_dump()) if cfg is not None else None

    def account_policy(self, account: str) -> AccountPolicy | None:
        """The permission policy of a configured account (None if unknown)."""
        cfg = self.accounts.get(account)
        if cfg is None:
            return None
        types = set(cfg.allowed_order_types) if cfg.allowed_order_types is not None else None
        return AccountPolicy(account=account, trading_allowed=cfg.trading_allowed,
                             allowed_sides=set(cfg.allowed_sides), max_qty=cfg.max_qty,
                             max_notional=cfg.max_notional, allowed_order_types=types)



def _format_pydantic(err: PydanticValidationError, source: str) -> str:
    parts = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        parts.append(f"{key}: {e['msg']}")
    return f"{source}: " + "; ".join(parts)


def load_settings(path: str | Path | None = None, environ: dict | None = None, *, env: str | None = None) -> Settings:
    """Load settings from ``path`` (or ``$KISOMS_CONFIG``, or the default config file if it exists; none =
    defaults), then env overrides, then the ``--env`` flag (``env``), which wins over both."""
    environ = os.environ if environ is None else environ
    path = path or environ.get("KISOMS_CONFIG") or existing_default_config()
    data = _read_toml(Path(path)) if path else {}
    source = str(path) if path else "configuration"
    data = _env_overrides(data, environ, source)
    if env is not None:
        data["env"] = _check_env(env, "--env")
    try:
        return Settings.model_validate(_sim_defaults(data))
    except PydanticValidationError as exc:
        raise ConfigError(_format_pydantic(exc, source)) from None


