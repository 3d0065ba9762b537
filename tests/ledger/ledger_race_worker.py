"""One racing process: open the ledger, wait for the start signal, then create or claim. Prints JSON."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from ledger_helpers import make_order  # noqa: E402

from kisoms.errors import TwinPending  # noqa: E402
from kisoms.ledger import Ledger  # noqa: E402


def _wait(go: Path, ready: Path) -> None:
    ready.touch()
    deadline = time.monotonic() + 20
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit("no start signal")
        time.sleep(0.001)


def main(mode: str, path: str, signals: str, name: str, order_id: str) -> None:
    go, ready = Path(signals) / "go", Path(signals) / f"ready-{name}"
    if mode == "fresh":  # open a file nobody created yet, all at once
        _wait(go, ready)
    with Ledger(path) as ledger:
        if mode == "twin":  # each its own order (own key), all with the same terms
            order_id = str(ledger.create(make_order(strategy=name), source=name)[0].id)
        if mode != "fresh":
            _wait(go, ready)
        if mode == "twin":
            try:
                won = ledger.claim(int(order_id), request={"by": name}, tr_id="order-cash", source=name)
                print(json.dumps({"won": won is not None, "twin": False}))
            except TwinPending:
                print(json.dumps({"won": False, "twin": True}))
        elif mode == "claim":
            won = ledger.claim(int(order_id), request={"by": name}, tr_id="order-cash", source=name)
            print(json.dumps({"won": won is not None, "map_id": won[1] if won else None}))
        else:
            order, created = ledger.create(make_order(), source=name)
            print(json.dumps({"id": order.id, "created": created}))


if __name__ == "__main__":
    main(*sys.argv[1:6])
