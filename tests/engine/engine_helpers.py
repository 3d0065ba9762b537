"""Helpers for engine tests: settings pointed at a simulator, intents, the broker's books, faults."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from kisoms.config import Settings
from kisoms.domain.intent import parse_intent

ACCOUNT = "50000001-01"
BASE_TS = datetime(2026, 11, 25, 0, 0, tzinfo=timezone.utc)


def settings_dict(sim, tmp_path: Path, **overrides) -> dict:
    data = {
        "env": "sim", "rest_url": sim.rest_url, "ws_url": sim.ws_url, "hts_id": "simuser",
        "state_dir": str(tmp_path / "state"), "ledger": str(tmp_path / "ledger.db"),
        "default_account": ACCOUNT, "accounts": {ACCOUNT: {}},
        "retry": {"max_attempts": 5, "base_delay": 0.01, "max_delay": 0.05, "deadline": 5.0,
                  "connect_timeout": 1.0, "read_timeout": 1.0},
        "ambiguity": {"lookup_window": 1.0, "lookup_interval": 0.1},
        "watch": {"poll_interval": 0.2, "reconnect_max_delay": 0.5},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def make_settings(sim, tmp_path: Path, **overrides) -> Settings:
    return Settings.model_validate(settings_dict(sim, tmp_path, **overrides))


def write_config(sim, tmp_path: Path, **overrides) -> Path:
    """A TOML config file for subprocess tests."""
    data = settings_dict(sim, tmp_path, **overrides)
    path = tmp_path / "config.toml"
    path.write_text(_toml(data))
    return path


def _toml(data: dict, prefix: str = "") -> str:
    scalars, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            scalars.append(f"{key} = {json.dumps(value)}")
    out = "\n".join(scalars) + "\n"
    for key, value in tables:
        name = f'{prefix}.{json.dumps(key)}' if prefix else json.dumps(key)
        out += f"\n[{name}]\n" + _toml(value, name)
    return out


def intent(n: int = 0, **overrides):
    data = {"account": ACCOUNT, "strategy_version": "test-1", "symbol": "005930", "side": "buy",
            "order_type": "limit", "qty": 10, "price": 70000,
            "signal_ts": (BASE_TS + timedelta(seconds=n)).isoformat()}
    data.update(overrides)
    return parse_intent(data)




ORDER_CASH = "/uapi/domestic-stock/v1/trading/order-cash"
RVSECNCL = "/uapi/domestic-stock/v1/trading/order-rvsecncl"


def broker_orders(sim, originals_only: bool = True) -> list[dict]:
    """The simulator's books for the test account (new orders only, by default)."""
    rows = sim.admin.orders(ACCOUNT)
    if originals_only:
        rows = [r for r in rows if not str(r.get("orgn_odno") or "").strip("0")]
    return rows


def inject(sim, kind: str, path: str = ORDER_CASH, **params) -> None:
    """Arm one fault in the simulator."""
    sim.admin.add_fault(kind=kind, path=path, **params)
