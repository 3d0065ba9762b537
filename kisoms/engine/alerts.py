"""Alerts (주문 실패/지연 알림): from the ledger's events to a command and/or a webhook, at least once.

Which events alert: a reject (validation, guard or broker), an outcome unknown, a kill switch set, a
reconcile that left discrepancies, optionally fills; and from timers, an order still SENDING after
``ack_timeout`` or a cancel still PENDING_CANCEL after ``cancel_timeout``. Each alert has a stable ``id``
(``ev:<event id>``, ``ack:<order>:<version>``, ``cancel:<order>:<version>``) for de-duplication.

Delivery never holds up trading: the CLI starts a detached deliverer after a command (``spawn_deliverer``)
and ``watch`` delivers from a thread; one process at a time drains the outbox (a file lock in the state
dir), retrying failures with exponential backoff until ``max_attempts``; doctor shows what is stuck.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx

from kisoms.config import AlertsConfig, Settings
from kisoms.domain.order import Order
from kisoms.domain.states import OrderStatus
from kisoms.engine.alert_commands import ALERT_COMMANDS  # noqa: F401  (re-exported)
from kisoms.engine.clock import Clock
from kisoms.ledger import Ledger
from kisoms.ledger import outbox
from kisoms.ledger.db import to_iso
from kisoms.ledger.records import LedgerEvent

LOCK_FILE = "alerts.lock"
STALE_AFTER = timedelta(days=1)  # events older than this when first scanned are not alerted (a backlog)
MAX_LIFETIME = 3600.0  # a detached deliverer gives up waiting for retries after an hour; the next run resumes


# ------------------------------------------------------------------------------------------------ mapping

def _order_fields(order: Order) -> dict[str, Any]:
    return {"order_id": order.id, "account": order.account, "symbol": order.symbol, "side": order.side.value,
            "qty": order.qty, "price": order.price, "status": order.status.value,
            "broker_order_no": order.broker_order_no, "reject_code": order.reject_code,
            "reason": order.reject_reason, "strategy_version": order.strategy_version}


def _order_kind(event: LedgerEvent, fills: bool) -> str | None:
    p = event.payload
    if event.kind == "order.fill":
        return "fill" if fills else None
    if event.kind not in ("order.transition", "order.corrected") or p.get("status") == p.get("prev_status"):
        return None
    return {"REJECTED": "reject", "UNKNOWN": "outcome_unknown"}.get(p.get("status"))


def _other_kind(event: LedgerEvent) -> str | None:
    if event.kind == "halt.set":
        return "halt"
    if event.kind == "reconcile.finished" and event.payload.get("unresolved"):
        return "discrepancy"
    return None


def _text(alert: dict) -> str:
    env = alert.get("env", "").upper()
    head = f"[kisoms {env}] {alert['kind']}"
    if alert.get("order_id") is not None:
        head += (f": order {alert['order_id']} {alert.get('side')} {alert.get('qty')} {alert.get('symbol')}"
                 f" @ {alert.get('price') or 'market'} ({alert.get('status')})")
    detail = alert.get("reason") or alert.get("detail") or ""
    return f"{head}{': ' + str(detail) if detail else ''}"


def _alert(alert_id: str, kind: str, ts: str, env: str, **fields) -> dict[str, Any]:
    alert = {"id": alert_id, "kind": kind, "ts": ts, "env": env, **fields}
    alert["text"] = _text(alert)
    return alert


def event_mapper(settings: Settings, now: datetime) -> outbox.Mapper:
    """What the outbox scan calls: the alerts a batch of events makes (events older than STALE_AFTER none)."""
    def to_alerts(feed: list[LedgerEvent], load: Callable[[int], Order]) -> list[dict]:
        made = []
        for event in feed:
            kind = _order_kind(event, settings.alerts.fills) if event.order_id else _other_kind(event)
            if kind is None or now - event.ts > STALE_AFTER:
                continue
            fields = _order_fields(load(event.order_id)) if event.order_id else {}
            if kind == "halt":
                fields["detail"] = f"{event.payload.get('account') or 'all accounts'}: {event.payload.get('reason')}"
            elif kind == "discrepancy":
                fields["detail"] = "; ".join(event.payload["unresolved"])[:1000]
            elif kind == "fill":
                fill = event.payload.get("fill") or {}
                fields["detail"] = f"filled {fill.get('qty')} @ {fill.get('price')}"
            made.append(_alert(f"ev:{event.id}", kind, event.ts.isoformat(), settings.env, event_id=event.id, **fields))
        return made
    return to_alerts


def timer_alerts(ledger: Ledger, settings: Settings, now: datetime) -> list[dict]:
    """Orders still SENDING past ack_timeout, cancels still PENDING_CANCEL past cancel_timeout."""
    cfg, made = settings.alerts, []
    for status, kind, prefix, limit in ((OrderStatus.SENDING, "not_acknowledged", "ack", cfg.ack_timeout),
                                        (OrderStatus.PENDING_CANCEL, "cancel_unconfirmed", "cancel", cfg.cancel_timeout)):
        for order in ledger.list_orders(statuses=[status]):
            if order.updated_at and (now - order.updated_at).total_seconds() >= limit:
                made.append(_alert(f"{prefix}:{order.id}:{order.version}", kind, now.isoformat(),
                                   settings.env, detail=f"{status.value} for over {limit:g}s",
                                   **_order_fields(order)))
    return made


# ------------------------------------------------------------------------------------------------ sending

def webhook_body(alert: dict, cfg: AlertsConfig) -> dict:
    """What the webhook is sent: the alert itself, Slack's {"text"} or Telegram's sendMessage {"chat_id", "text"}."""
    if cfg.format == "slack":
        return {"text": alert["text"]}
    if cfg.format == "telegram":
        return {"chat_id": cfg.chat_id, "text": alert["text"]}
    return alert


def send(target: str, alert: dict, cfg: AlertsConfig) -> None:
    """Deliver one alert; any failure raises (OSError, httpx.HTTPError, subprocess errors, RuntimeError)."""
    if target == "webhook":
        response = httpx.post(cfg.webhook, json=webhook_body(alert, cfg), timeout=cfg.timeout,
                              headers={"Idempotency-Key": alert["id"]})
        if response.status_code >= 300:
            raise RuntimeError(f"HTTP {response.status_code}")
        return
    done = subprocess.run(cfg.command, input=json.dumps(alert, ensure_ascii=False), text=True, timeout=cfg.timeout,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {(done.stderr or '').strip()[-200:]}")


def backoff(cfg: AlertsConfig, attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failures."""
    return min(cfg.max_delay, cfg.base_delay * 2 ** max(attempts - 1, 0))


@dataclass
class DeliveryReport:
    queued: int = 0
    delivered: int = 0
    failed: int = 0


def deliver_due(ledger: Ledger, settings: Settings, clock: Clock) -> DeliveryReport:
    """One pass: scan new events and timers into the outbox, then send what is due."""
    cfg, now = settings.alerts, clock.now()
    report = DeliveryReport()
    if not cfg.targets:
        return report
    report.queued = outbox.scan(ledger, event_mapper(settings, now), cfg.targets, to_iso(now))
    report.queued += outbox.enqueue(ledger, timer_alerts(ledger, settings, now), cfg.targets, to_iso(now))
    lease = to_iso(now + timedelta(seconds=cfg.timeout * 2 + 5))
    for row in outbox.lease_due(ledger, to_iso(now), lease, cfg.max_attempts):
        try:
            send(row.target, row.payload, cfg)
        except Exception as exc:  # a receiver's failure of any kind is recorded and retried, never raised
            retry_at = clock.now() + timedelta(seconds=backoff(cfg, row.attempts + 1))
            outbox.failed(ledger, row, f"{type(exc).__name__}: {exc}", to_iso(retry_at))
            report.failed += 1
        else:
            outbox.delivered(ledger, row, to_iso(clock.now()))
            report.delivered += 1
    return report


# ------------------------------------------------------------------------------------------- processes

@contextmanager
def exclusive(state_dir: Path) -> Iterator[bool]:
    """The deliverer lock, taken without waiting: yields False when another process holds it."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(state_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _next_wait(ledger: Ledger, settings: Settings, now: datetime) -> float | None:
    """Seconds until the next retry is due, 0 if work is due now, None when nothing is left to do."""
    count, first = outbox.pending_work(ledger.conn, settings.alerts.max_attempts)
    if outbox.unscanned(ledger.conn):
        return 0.0
    if not count:
        return None
    return max(0.0, (datetime.fromisoformat(first) - now).total_seconds())


def deliver_until_idle(ledger: Ledger, settings: Settings, clock: Clock, *, lifetime: float = MAX_LIFETIME) -> bool:
    """Drain the outbox, waiting out retries, until nothing is left (or ``lifetime`` passes). Only one
    process does this at a time: False when another holds the lock (it will see this process's events:
    after releasing the lock the holder looks once more)."""
    started = clock.monotonic()
    while True:
        with exclusive(settings.state_path) as mine:
            if not mine:
                return False
            while clock.monotonic() - started < lifetime:
                deliver_due(ledger, settings, clock)
                wait = _next_wait(ledger, settings, clock.now())
                if wait is None:
                    break
                clock.sleep(min(wait, lifetime))
        if _next_wait(ledger, settings, clock.now()) != 0.0 or clock.monotonic() - started >= lifetime:
            return True


def spawn_deliverer(config: str | None, ledger_flag: str | None, env: str | None, state_dir: Path) -> None:
    """Start a detached `kisoms alerts deliver --until-idle` (it outlives this process; output to the
    state dir's alerts.log)."""
    cmd = [sys.executable, "-m", "kisoms"]
    cmd += ["--config", config] if config else []
    cmd += ["--ledger", ledger_flag] if ledger_flag else []
    cmd += ["--env", env] if env else []
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    log = os.open(state_dir / "alerts.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        subprocess.Popen([*cmd, "alerts", "deliver", "--until-idle"], stdin=subprocess.DEVNULL, stdout=log,
                         stderr=log, start_new_session=True)
    finally:
        os.close(log)
