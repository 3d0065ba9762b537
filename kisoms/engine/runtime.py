"""Everything a command needs, built once from settings: ledger, broker client, clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from kisoms.config import Settings, credentials, default_urls
from kisoms.engine.clock import Clock, clock_for
from kisoms.engine.envledger import open_env_ledger
from kisoms.engine.simdaemon import ensure_local_simulator
from kisoms.kis.client import KisClient
from kisoms.kis.connection import KisConnection, default_rate
from kisoms.ledger import Ledger


@dataclass
class Runtime:
    """The ledger, the broker client and the clock of one kisoms process."""

    settings: Settings
    ledger: Ledger
    client: KisClient
    connection: KisConnection
    clock: Clock = field(default_factory=Clock)
    memo: dict = field(default_factory=dict, repr=False)  # what a command works out once (``remembered``)

    def remembered(self, key: object, compute: Callable[[], object]) -> object:
        """``compute()`` the first time ``key`` is asked for, the same value after: things derived from the
        settings alone (which do not change for a runtime's life), looked up on every order."""
        try:
            return self.memo[key]
        except KeyError:
            value = self.memo[key] = compute()
            return value

    @property
    def warnings(self) -> list[str]:
        """What the CLI should show before the command's output (one line each, on stderr): ledger files
        others may read, a changed app key, an old shared ledger left behind."""
        return list(self.ledger.warnings)

    def close(self) -> None:
        self.client.close()
        self.ledger.close()

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def build_connection(settings: Settings, keys: tuple[str, str] | None = None) -> KisConnection:
    """The broker connection settings (starting the local simulator when env is sim with no URL)."""
    app_key, app_secret = keys or credentials(settings)
    rest_url, ws_url = default_urls(settings)
    if rest_url is None:
        rest_url, auto_ws = ensure_local_simulator(settings.state_path)
        ws_url = ws_url or auto_ws
    return KisConnection(
        env=settings.env, rest_url=rest_url, ws_url=ws_url or "", app_key=app_key, app_secret=app_secret,
        custtype=settings.custtype, hts_id=settings.hts_id or "", tr_id_generation=settings.tr_id_generation,
        use_hashkey=settings.use_hashkey, rate_per_sec=settings.rate_per_sec or default_rate(settings.env),
        connect_timeout=settings.retry.connect_timeout, read_timeout=settings.retry.read_timeout,
        state_dir=settings.state_path,
    )


def open_runtime(settings: Settings, ledger_flag: str | None = None, *, clock: Clock | None = None,
                 client: KisClient | None = None) -> Runtime:
    """Open the ledger and the client for ``settings``. The ledger is checked first: a ledger of another
    env is refused (LedgerEnvMismatch) before anything else starts."""
    clock = clock or clock_for(settings.env)
    keys = credentials(settings)
    ledger = open_env_ledger(settings, ledger_flag, app_key=keys[0], now=clock.now)
    try:
        connection = build_connection(settings, keys)
        client = client or KisClient(connection)
    except BaseException:
        ledger.close()
        raise
    return Runtime(settings=settings, ledger=ledger, client=client, connection=connection, clock=clock)
