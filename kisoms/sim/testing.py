"""Run the simulator in a background thread for tests and benchmarks, with a small sync admin client."""

from __future__ import annotations

import asyncio
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import httpx

from kisoms.sim.scenario import Scenario, default_scenario
from kisoms.sim.server import Simulator


class Admin:
    """Synchronous client for the ``/_sim`` admin endpoints."""

    def __init__(self, rest_url: str):
        self.http = httpx.Client(base_url=rest_url, timeout=10)

    def _ok(self, response: httpx.Response) -> dict:
        response.raise_for_status()
        return response.json()

    def add_fault(self, kind: str, path: str | None = None, **params) -> list[dict]:
        return self._ok(self.http.post("/_sim/faults", json={"kind": kind, "path": path, **params}))["faults"]

    def clear_faults(self) -> None:
        self._ok(self.http.delete("/_sim/faults"))

    def fault_log(self) -> list[dict]:
        return self._ok(self.http.get("/_sim/faults/log"))["log"]

    def set_price(self, symbol: str, price: int) -> None:
        self._ok(self.http.post("/_sim/price", json={"symbol": symbol, "price": price}))

    def fill(self, odno: str, qty: int, price: int | None = None) -> int:
        return self._ok(self.http.post("/_sim/fill", json={"odno": odno, "qty": qty, "price": price}))["filled"]

    def orders(self, account: str) -> list[dict]:
        return self._ok(self.http.get("/_sim/orders", params={"account": account}))["orders"]

    def notices_sent(self) -> list[dict]:
        return self._ok(self.http.get("/_sim/notices"))["notices"]

    def disconnect_websockets(self) -> int:
        return self._ok(self.http.post("/_sim/ws/disconnect"))["closed"]

    def configure(self, **settings) -> dict:
        return self._ok(self.http.post("/_sim/config", json=settings))

    def close(self) -> None:
        self.http.close()


@dataclass
class SimHandle:
    rest_url: str
    ws_url: str
    scenario: Scenario
    admin: Admin
    simulator: Simulator


async def _stop(sim: Simulator) -> None:
    """Stop the simulator, then cancel and await what its server left running (a handler still waiting on a
    hung request), so closing the loop never destroys a pending task."""
    await sim.stop()
    current = asyncio.current_task()
    leftovers = [task for task in asyncio.all_tasks() if task is not current]
    for task in leftovers:
        task.cancel()
    await asyncio.gather(*leftovers, return_exceptions=True)


@contextmanager
def running_simulator(scenario: Scenario | None = None, seed: int = 0, state_file=None, port: int = 0,
                      ws_port: int = 0, clock=None, **overrides) -> Iterator[SimHandle]:
    """A simulator on loopback (free ports unless given; ``clock``: its time, KST-aware), until the block ends."""
    scenario = (scenario or default_scenario()).model_copy(update=overrides)
    sim = Simulator(scenario, seed=seed, state_file=state_file, clock=clock)
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(sim.start(port=port, ws_port=ws_port))
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="kisoms-sim", daemon=True)
    thread.start()
    if not started.wait(20):
        raise RuntimeError("simulator did not start")
    admin = Admin(sim.rest_url)
    try:
        yield SimHandle(sim.rest_url, sim.ws_url, scenario, admin, sim)
    finally:
        admin.close()
        asyncio.run_coroutine_threadsafe(_stop(sim), loop).result(20)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(20)
        loop.close()
