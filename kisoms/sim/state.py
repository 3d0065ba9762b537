"""The optional state file: a restarted simulator keeps its orders, prices, balances, tokens and numbering."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from kisoms.domain.codes import Side
from kisoms.sim.host import SimHost
from kisoms.sim.venue import SimOrder


def snapshot(sim: SimHost) -> dict:
    v = sim.venue
    return {
        "next_no": v.next_no, "prices": v.prices,
        "orders": [{**asdict(o), "side": o.side.value} for o in v.orders.values()],
        "accounts": {k: {"cash": a.cash, "holdings": a.holdings,
                         "costs": {code: v.costs.get((k, code), 0) for code in a.holdings}}
                     for k, a in v.accounts.items()},
        "tokens": {t: {"app_key": d["app_key"], "expires": d["expires"].isoformat()} for t, d in sim.tokens.items()},
        "approval_keys": sorted(sim.approval_keys),
    }


def write_private(path: Path, text: str) -> None:
    """Write ``text`` atomically (temp file, then rename) to a 0600 file, whatever the umask."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def save_state(sim: SimHost, path: Path) -> None:
    """Write atomically: a crash mid-write leaves the previous state."""
    write_private(path, json.dumps(snapshot(sim), ensure_ascii=False))


def load_state(sim: SimHost, path: Path) -> None:
    data = json.loads(path.read_text())
    v = sim.venue
    v.next_no, v.prices = data["next_no"], {**v.prices, **data["prices"]}
    v.orders = {o["odno"]: SimOrder(**{**o, "side": Side(o["side"])}) for o in data["orders"]}
    for key, acct in data["accounts"].items():
        if key in v.accounts:
            v.accounts[key].cash, v.accounts[key].holdings = acct["cash"], acct["holdings"]
            costs = acct.get("costs", {})  # (a state file from before costs: held at base prices)
            for code, qty in acct["holdings"].items():
                v.costs[(key, code)] = costs[code] if code in costs else v.base_cost(code, qty)
    sim.tokens = {t: {"app_key": d["app_key"], "expires": datetime.fromisoformat(d["expires"])}
                  for t, d in data.get("tokens", {}).items()}
    sim.approval_keys = set(data.get("approval_keys", []))
