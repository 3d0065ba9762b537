"""`kisoms sim` / `python -m kisoms.sim`: run the simulator until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from pathlib import Path

from kisoms.sim.scenario import default_scenario, load_scenario
from kisoms.sim.server import Simulator
from kisoms.sim.state import write_private


def _write_ready(path: str, sim: Simulator) -> None:
    write_private(Path(path), json.dumps({"rest_url": sim.rest_url, "ws_url": sim.ws_url,
                                          "admin_url": sim.rest_url + "/_sim", "pid": os.getpid()}))


async def _serve(host, port, ws_port, seed, state_file, ready_file, scenario_path) -> None:
    scenario = load_scenario(scenario_path) if scenario_path else default_scenario()
    sim = Simulator(scenario, seed=seed, state_file=state_file)
    await sim.start(host, port, ws_port)
    print(f"KIS simulator REST {sim.rest_url}  WebSocket {sim.ws_url}  (admin {sim.rest_url}/_sim)", flush=True)
    if ready_file:
        _write_ready(ready_file, sim)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await sim.stop()
    print("simulator stopped", flush=True)


def serve(host: str = "127.0.0.1", port: int = 0, ws_port: int = 0, seed: int = 0, state_file: str | None = None,
          ready_file: str | None = None, scenario_path: str | None = None) -> int:
    """Run until Ctrl-C/SIGTERM; returns the exit code."""
    asyncio.run(_serve(host, port, ws_port, seed, state_file, ready_file, scenario_path))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kisoms.sim", description="KIS protocol simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ws-port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--state")
    parser.add_argument("--ready-file")
    parser.add_argument("--scenario")
    a = parser.parse_args(argv)
    return serve(a.host, a.port, a.ws_port, a.seed, a.state, a.ready_file, a.scenario)
