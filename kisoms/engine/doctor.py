"""`kisoms doctor`: one line per check, pass / warn / fail, each failure with its fix.

A failing check names a ``kind`` (usage, ledger, unknown, broker) the CLI turns into the documented exit
code; checks that need what an earlier one failed to provide are skipped, never guessed.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Callable

from kisoms.config import Settings, ledger_path, load_settings
from kisoms.config_sources import credential_sources, explain
from kisoms.domain.session import HOLIDAYS_KNOWN_THROUGH, session_at
from kisoms.domain.states import AMBIGUOUS
from kisoms.engine.clock import KST, Clock, clock_for, kst_ymd
from kisoms.engine.queries import open_ledger
from kisoms.engine.setup import connection_for
from kisoms.errors import AuditChainBroken, AuthError, BrokerError, KisomsError, LedgerEnvMismatch
from kisoms.kis.auth import TOKEN_FILE, _entry, key_id
from kisoms.kis.client import KisClient
from kisoms.kis.filestate import locked_state
from kisoms.kis.ws import ConnectionState, NoticeStream
from kisoms.ledger import Ledger
from kisoms.ledger.outbox import health as outbox_health
from kisoms.ledger.schema import latest_version

CLOCK_WARN, CLOCK_FAIL = 2.0, 30.0  # seconds off the broker's Date header
PROBE_SYMBOL = "005930"
HOLIDAY_PATH = "/uapi/domestic-stock/v1/quotations/chk-holiday"  # real only (unconfirmed: one constant)
HOLIDAY_TR_ID = "CTCA0903R"


@dataclass(frozen=True)
class Check:
    """One doctor line."""

    name: str
    status: str  # pass | warn | fail | skip
    detail: str
    fix: str = ""
    kind: str = ""  # for a failure: usage | ledger | unknown | broker

    def as_dict(self) -> dict:
        return {"check": self.name, "status": self.status, "detail": self.detail, "fix": self.fix or None}


def passed(name: str, detail: str) -> Check:
    return Check(name, "pass", detail)


def warned(name: str, detail: str, fix: str) -> Check:
    return Check(name, "warn", detail, fix)


def failed(name: str, detail: str, fix: str, kind: str) -> Check:
    return Check(name, "fail", detail, fix, kind)


# ------------------------------------------------------------------------------------------ local checks

def check_config(config_flag: str | None, ledger_flag: str | None,
                 env_flag: str | None = None) -> tuple[Check, Settings | None]:
    try:
        entries = {e.key: e for e in explain(config_flag, ledger_flag, env_flag=env_flag)}
        settings = load_settings(entries["config file"].value, env=env_flag)
    except KisomsError as exc:
        return failed("config", str(exc), "fix the named key (see sample-config.toml)", "usage"), None
    where = entries["config file"]
    detail = (f"file {where.value or '-'} ({where.source}); env {settings.env} ({entries['env'].source}); "
              f"ledger {entries['ledger (path in use)'].value} ({entries['ledger (path in use)'].source})")
    return passed("config", detail), settings


def check_credentials(settings: Settings) -> Check:
    found = credential_sources(settings)
    missing = [c.key for c in found if c.source == "missing"]
    if missing:
        return failed("credentials", f"{' and '.join(missing)} not found for env {settings.env}",
                      "run `kisoms init`, or set KISOMS_APP_KEY and KISOMS_APP_SECRET", "usage")
    return passed("credentials", "; ".join(f"{c.key}: {c.source}" for c in found))


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _file_modes(ledger_file: Path, state_dir: Path) -> list[str]:
    loose = [f"{p} is {_mode(p):04o}, want {want:04o}" for p, want in ((ledger_file, 0o600), (state_dir, 0o700))
             if p.exists() and _mode(p) & 0o077]
    return loose


def check_ledger(ledger: Ledger, path: Path, settings: Settings) -> list[Check]:
    version = ledger.conn.execute("PRAGMA user_version").fetchone()[0]
    checks = [passed("ledger schema", f"{path}: version {version} (this kisoms writes {latest_version()})")
              if version == latest_version() else
              failed("ledger schema", f"{path}: version {version}, expected {latest_version()}",
                     "open it once with this kisoms (it migrates), or upgrade kisoms", "ledger")]
    loose = _file_modes(path, settings.state_path)
    checks.append(warned("file modes", "; ".join(loose), "chmod 600 the files and 700 the dirs named") if loose
                  else passed("file modes", "ledger 0600, state dir 0700"))
    try:
        checks.append(passed("verify-audit", f"audit chain intact: {ledger.verify_audit_chain()} rows"))
    except AuditChainBroken as exc:
        checks.append(failed("verify-audit", str(exc), "restore the ledger from a backup and reconcile", "ledger"))
    return checks


def check_halts(ledger: Ledger) -> Check:
    halts = ledger.halts()
    if not halts:
        return passed("halts", "no kill switch on")
    detail = "; ".join(f"{h.scope}: {h.reason}" for h in halts)
    return warned("halts", detail, "check the broker, then `kisoms resume` (or --account A, --all)")


def check_unresolved(ledger: Ledger) -> Check:
    stuck = ledger.list_orders(statuses=list(AMBIGUOUS))
    if not stuck:
        return passed("unresolved orders", "none SENDING or UNKNOWN")
    ids = ", ".join(str(o.id) for o in stuck[:20])
    return failed("unresolved orders", f"{len(stuck)} of unknown outcome: {ids}",
                  "`kisoms reconcile`, then `kisoms resolve ID --not-at-broker|--resend` for what remains", "unknown")


def check_alerts(ledger: Ledger, settings: Settings) -> Check:
    cfg = settings.alerts
    if not cfg.targets:
        return passed("alerts", "none configured ([alerts] command or webhook)")
    state = outbox_health(ledger.conn, cfg.max_attempts)
    detail = (f"to {' and '.join(cfg.targets)}: {state['pending']} pending, {state['retrying']} retrying, "
              f"{state['given_up']} given up" + (f"; last error {state['last_error']}" if state["last_error"] else ""))
    if state["given_up"]:
        return warned("alerts", detail, "fix the receiver; `kisoms alerts deliver` after it is back "
                                        "(given-up alerts stay in the ledger's alert_outbox)")
    if state["retrying"]:
        return warned("alerts", detail, "the receiver fails: check it (retries continue with backoff)")
    return passed("alerts", detail)


def check_rate(settings: Settings, rate: float) -> Check:
    source = "rate_per_sec" if settings.rate_per_sec else f"KIS's default for {settings.env}"
    return passed("rate limit", f"{rate:g} requests/s per app key ({source}), shared by every kisoms process")


# ----------------------------------------------------------------------------------------- broker checks

def _token_entry(client: KisClient) -> dict:
    with locked_state(Path(client.conn.state_dir) / TOKEN_FILE) as state:
        return _entry(state.get(key_id(client.conn.app_key)))


def check_token(client: KisClient) -> Check:
    before = _token_entry(client)["token"]
    try:
        client.token()
    except AuthError as exc:
        return failed("token", f"KIS refused the credentials: {exc}", "check the app key and secret (`kisoms init`)",
                      "broker")
    except BrokerError as exc:
        return failed("token", str(exc), "check the network and rest_url", "broker")
    expires = datetime.fromtimestamp(_token_entry(client)["expires_at"], timezone.utc).astimezone(KST)
    how = "cached" if before else "issued now"
    return passed("token", f"{how}, valid until {expires.isoformat(timespec='minutes')} (KST; shared cache in the "
                           "state dir)")


def check_rest(client: KisClient, now: Callable[[], datetime]) -> tuple[Check, Check]:
    start = now()
    try:
        quote = client.inquire_price(PROBE_SYMBOL)
    except BrokerError as exc:
        fail = failed("REST", f"{client.conn.rest_url}: {exc}", "check the network, rest_url and env", "broker")
        return fail, Check("clock", "skip", "needs a REST reply")
    end = now()
    rest = passed("REST", f"{client.conn.rest_url}: inquire-price {PROBE_SYMBOL} = {quote.current_price:,}")
    return rest, check_clock(client.last_response_headers.get("date"), start + (end - start) / 2)


def check_clock(date_header: str | None, local: datetime) -> Check:
    if not date_header:
        return warned("clock", "the broker sent no Date header", "keep the machine on NTP")
    try:
        offset = (local - parsedate_to_datetime(date_header)).total_seconds()
    except (TypeError, ValueError):
        return warned("clock", f"unreadable Date header {date_header!r}", "keep the machine on NTP")
    detail = f"local clock {offset:+.1f}s against the broker's Date header (1s resolution)"
    if abs(offset) > CLOCK_FAIL:
        return failed("clock", detail, "sync the clock (NTP): signal times and order times depend on it", "broker")
    if abs(offset) > CLOCK_WARN:
        return warned("clock", detail, "sync the clock (NTP)")
    return passed("clock", detail)


async def _subscribed(stream: NoticeStream, timeout: float) -> str:
    async def first_connect() -> str:
        async for item in stream:
            if isinstance(item, ConnectionState) and item.kind == "connected":
                return item.detail or "subscribed"
            if isinstance(item, ConnectionState) and item.kind == "disconnected":
                raise BrokerError(item.detail)
        raise BrokerError("the stream ended before the subscribe reply")

    try:
        return await asyncio.wait_for(first_connect(), timeout)
    finally:
        await stream.close()


def check_websocket(client: KisClient) -> Check:
    conn = client.conn
    if not conn.ws_url:
        return failed("WebSocket", "no ws_url", "set ws_url", "usage")
    stream = NoticeStream(conn, client.issue_approval_key)
    try:
        detail = asyncio.run(_subscribed(stream, conn.connect_timeout + conn.read_timeout))
    except (BrokerError, OSError, asyncio.TimeoutError) as exc:
        return failed("WebSocket", f"{conn.ws_url}: {type(exc).__name__}: {exc}"[:300],
                      "check the network and ws_url; watch falls back to polling meanwhile", "broker")
    return passed("WebSocket", f"{conn.ws_url}: approval key taken, subscribed to {stream.tr_id} ({detail})")


def _broker_trading_day(client: KisClient, moment: datetime) -> bool | None:
    """KIS's holiday inquiry (real env only); None where it is unavailable or fails."""
    if client.conn.env != "real":
        return None
    params = {"BASS_DT": kst_ymd(moment), "CTX_AREA_NK": "", "CTX_AREA_FK": ""}
    try:
        rows = client._inquire(HOLIDAY_PATH, HOLIDAY_TR_ID, "chk-holiday", params).get("output") or []
    except BrokerError:
        return None
    day = next((r for r in rows if isinstance(r, dict) and r.get("bass_dt") == params["BASS_DT"]), None)
    return None if day is None else day.get("opnd_yn") == "Y"


def check_session(client: KisClient | None, moment: datetime) -> Check:
    from_broker = _broker_trading_day(client, moment) if client is not None else None
    session = session_at(moment, is_trading_day=from_broker)
    source = "KIS holiday inquiry" if from_broker is not None else "shipped KRX holiday table"
    year = moment.astimezone(KST).year
    if from_broker is None and year > HOLIDAYS_KNOWN_THROUGH:
        return warned("session", f"KRX {session.name}: {session.detail} ({source}, which ends with "
                      f"{HOLIDAYS_KNOWN_THROUGH}: {year}'s closures are unknown, so every weekday counts as open)",
                      "upgrade kisoms for this year's KRX holiday table")
    return passed("session", f"KRX {session.name}: {session.detail} ({source})")


# ------------------------------------------------------------------------------------------------- all

def check_identity(ledger: Ledger, settings: Settings) -> Check:
    row = ledger.conn.execute("SELECT env, accounts FROM ledger_identity WHERE id = 1").fetchone()
    if row is None:
        return warned("ledger env", "no env record yet", "any command that opens the ledger records it")
    detail = f"env {row[0]}, accounts {', '.join(json.loads(row[1])) or 'none'}; this config: env {settings.env}"
    return passed("ledger env", detail + (f" ({'; '.join(ledger.warnings)})" if ledger.warnings else ""))


def _local_checks(settings: Settings, ledger_flag: str | None) -> list[Check]:
    path = ledger_path(settings, ledger_flag)
    try:
        with open_ledger(settings, ledger_flag) as ledger:
            return [check_identity(ledger, settings), *check_ledger(ledger, path, settings), check_halts(ledger),
                    check_unresolved(ledger), check_alerts(ledger, settings)]
    except LedgerEnvMismatch as exc:
        return [failed("ledger env", f"{path}: {exc}", "use this env's own ledger (or the config it belongs to)",
                       "usage")]
    except KisomsError as exc:
        return [failed("ledger", f"{path}: {exc}", "see the message; `kisoms verify-audit`", "ledger")]


def _broker_checks(settings: Settings, clock: Clock) -> list[Check]:
    try:
        client = KisClient(connection_for(settings))
    except KisomsError as exc:
        return [failed("broker", str(exc), "fix the configuration named", "usage")]
    with client:
        checks = [check_rate(settings, client.conn.rate_per_sec), check_token(client)]
        if checks[-1].status == "fail":
            return checks + [check_session(None, clock.now())]
        checks += [*check_rest(client, clock.now), check_websocket(client), check_session(client, clock.now())]
    return checks


def run_checks(config_flag: str | None = None, ledger_flag: str | None = None, *, env_flag: str | None = None,
               clock: Clock | None = None) -> list[Check]:
    """Every check, in order."""
    config, settings = check_config(config_flag, ledger_flag, env_flag)
    if settings is None:
        return [config]
    clock = clock or clock_for(settings.env)
    checks = [config, check_credentials(settings)]
    checks += _local_checks(settings, ledger_flag)
    if checks[1].status == "fail":
        return checks
    return checks + _broker_checks(settings, clock)
