"""The config file's plain side, without pydantic: locating and reading the TOML, environment overrides,
the env checks, paths and credentials. ``kisoms.config`` builds the validated ``Settings`` from it (and
re-exports these names); ``QuickSettings`` is the few keys a read-only view needs, for configs that set
nothing else (``quick_settings`` returns None for any other config: validate it with ``load_settings``).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from kisoms.errors import ConfigError

KEYRING_SERVICE = "kisoms"
SIM_DEFAULT_APP_KEY = "PSSIMREAL000000000000000000000000001"
SIM_DEFAULT_APP_SECRET = "SIMREALSECRET-not-a-secret-".ljust(179, "0") + "1"  # 180 characters, as at KIS
SIM_DEFAULT_ACCOUNT = "50000001-01"
SIM_DEFAULT_HTS_ID = "simuser"

REAL_REST_URL = "https://openapi.koreainvestment.com:9443"
REAL_WS_URL = "ws://ops.koreainvestment.com:21000"
PAPER_REST_URL = "https://openapivts.koreainvestment.com:29443"
PAPER_WS_URL = "ws://ops.koreainvestment.com:31000"


ENVS = ("sim", "paper", "real")


def user_data_root() -> Path:
    """``<platform user data dir>/kisoms``, the parent of each env's state dir."""
    return Path(platformdirs.user_data_dir("kisoms", appauthor=False))


def default_state_dir(env: str) -> Path:
    """Each env's own state dir: ``<user data dir>/kisoms/<env>``."""
    return user_data_root() / env


def legacy_ledger_path() -> Path:
    """Where every env's ledger lived before each env had its own: ``<user data dir>/kisoms/ledger.db``."""
    return user_data_root() / "ledger.db"


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _sim_defaults(data: dict) -> dict:
    """A sim setup that works with no file at all: the simulator's default account, allowed to trade."""
    if data.get("env", "sim") != "sim":
        return data
    data = dict(data)
    data.setdefault("hts_id", SIM_DEFAULT_HTS_ID)
    data.setdefault("default_account", SIM_DEFAULT_ACCOUNT)
    data.setdefault("accounts", {SIM_DEFAULT_ACCOUNT: {}})
    return data


def _check_env(value: object, where: str, *, real_allowed: bool = True) -> str:
    """An env name exactly as written (no case folding: "Real" is a typo, not a request for real money)."""
    if value not in ENVS:
        raise ConfigError(f"{where}: {value!r} is not an environment; use one of sim, paper, real (lower case)")
    if value == "real" and not real_allowed:
        raise ConfigError(f"{where} cannot select real trading: set env = \"real\" in the config file "
                          "or pass --env real")
    return str(value)


def _env_overrides(data: dict, environ: os._Environ | dict, source: str) -> dict:
    data = dict(data)
    if "env" in data:
        _check_env(data["env"], f"{source}: env")
    file_says_real = data.get("env") == "real"
    for key, var in (("rest_url", "KISOMS_REST_URL"), ("ws_url", "KISOMS_WS_URL"), ("env", "KISOMS_ENV"),
                     ("state_dir", "KISOMS_STATE_DIR")):
        if environ.get(var):
            data[key] = environ[var]
    if environ.get("KISOMS_ENV"):
        _check_env(environ["KISOMS_ENV"], "KISOMS_ENV", real_allowed=file_says_real)
    return data


def default_config_path() -> Path:
    """Where `kisoms init` writes the config and every command looks when neither --config nor
    KISOMS_CONFIG names one: the platform's user config dir (e.g. ~/.config/kisoms/config.toml)."""
    return Path(platformdirs.user_config_dir("kisoms", appauthor=False)) / "config.toml"


def existing_default_config() -> Path | None:
    """``default_config_path()`` if that file exists."""
    path = default_config_path()
    return path if path.is_file() else None


def _keyring_get(user: str) -> str | None:
    try:
        import keyring

        return keyring.get_password(KEYRING_SERVICE, user)
    except Exception:  # no backend, locked store, dbus missing: fall back to env vars
        return None


def credentials(settings, environ: dict | None = None) -> tuple[str, str]:
    """(app_key, app_secret) from keyring, then env vars; sim falls back to the simulator defaults."""
    environ = os.environ if environ is None else environ
    key = _keyring_get(f"{settings.env}:app_key") or environ.get("KISOMS_APP_KEY")
    secret = _keyring_get(f"{settings.env}:app_secret") or environ.get("KISOMS_APP_SECRET")
    if settings.env == "sim":
        return key or SIM_DEFAULT_APP_KEY, secret or SIM_DEFAULT_APP_SECRET
    if not key or not secret:
        raise ConfigError(
            f"no app key/secret for env {settings.env}: store them with `keyring set kisoms {settings.env}:app_key` "
            "and `... :app_secret`, or set KISOMS_APP_KEY and KISOMS_APP_SECRET")
    return key, secret


def default_urls(settings) -> tuple[str | None, str | None]:
    """REST and WebSocket URLs: explicit settings, else KIS's hosts for paper/real (sim: None = auto)."""
    fixed = {"real": (REAL_REST_URL, REAL_WS_URL), "paper": (PAPER_REST_URL, PAPER_WS_URL)}
    rest, ws = fixed.get(settings.env, (None, None))
    return settings.rest_url or rest, settings.ws_url or ws


def ledger_path(settings, flag: str | None, environ: dict | None = None) -> Path:
    """Ledger location: --ledger > KISOMS_LEDGER > config ``ledger`` > ``<state dir>/ledger.db`` (by default
    ``<user data dir>/kisoms/<env>/ledger.db``: one per env)."""
    environ = os.environ if environ is None else environ
    chosen = flag or environ.get("KISOMS_LEDGER") or settings.ledger
    return Path(chosen).expanduser() if chosen else settings.state_path / "ledger.db"


QUICK_KEYS = {"env", "rest_url", "ws_url", "hts_id", "default_account", "ledger", "state_dir"}  # plain strings


class Places:
    """Where a config's env and ``state_dir`` put the state, and which accounts it names (shared by the
    pydantic ``Settings`` and ``QuickSettings``)."""

    @property
    def state_path(self) -> Path:
        """The state dir: ``state_dir`` if set, else this env's own default."""
        return Path(self.state_dir).expanduser() if self.state_dir else default_state_dir(self.env)

    @property
    def account_set(self) -> tuple[str, ...]:
        """Every account this config names (the ``[accounts]`` tables and ``default_account``)."""
        named = set(self.accounts) | ({self.default_account} if self.default_account else set())
        return tuple(sorted(named))


@dataclass(frozen=True)
class QuickSettings(Places):
    """What a read-only view of the ledger needs from a config that sets nothing beyond ``QUICK_KEYS``,
    ``ledger_busy_timeout`` and accounts without options (the same values ``Settings`` would hold)."""

    env: str
    ledger: str | None = None
    state_dir: str | None = None
    default_account: str | None = None
    ledger_busy_timeout: float = 10.0
    accounts: dict = field(default_factory=dict)



def _quick_valid(data: dict) -> bool:
    """True when ``Settings`` would accept ``data`` as it is, judged without pydantic (a simple config)."""
    timeout = data.get("ledger_busy_timeout", 10.0)
    if type(timeout) not in (int, float) or not 0 < timeout <= 3600:
        return False
    accounts = data.get("accounts", {})
    if not isinstance(accounts, dict) or any(not isinstance(k, str) or v != {} for k, v in accounts.items()):
        return False
    plain = {k: v for k, v in data.items() if k not in ("accounts", "ledger_busy_timeout")}
    return set(plain) <= QUICK_KEYS and all(isinstance(v, str) for v in plain.values()) and \
        data.get("env", "sim") in ENVS


def quick_settings(path: str | Path | None = None, *, env: str | None = None) -> QuickSettings | None:
    """The config as ``load_settings`` reads it (same file, overrides and checks), for a simple config;
    None when it sets anything else (or anything a full validation should judge)."""
    path = path or os.environ.get("KISOMS_CONFIG") or existing_default_config()
    data = _read_toml(Path(path)) if path else {}
    data = _env_overrides(data, os.environ, str(path) if path else "configuration")
    if env is not None:
        data["env"] = _check_env(env, "--env")
    data = _sim_defaults(data)
    if not _quick_valid(data):
        return None
    return QuickSettings(env=data.get("env", "sim"), ledger=data.get("ledger"), state_dir=data.get("state_dir"),
                         default_account=data.get("default_account"),
                         ledger_busy_timeout=float(data.get("ledger_busy_timeout", 10.0)),
                         accounts=dict(data.get("accounts", {})))
