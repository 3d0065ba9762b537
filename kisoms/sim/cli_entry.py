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
                                          "paper_rest_url": sim.paper_rest_url, "paper_ws_url": sim.paper_ws_url,
                                          "admin_url": sim.rest_url + "/_sim", "pid": os.getpid()}))


async def _serve(host, port, ws_port, seed, state_file, ready_file, scenario_path, paper_ports=(0, 0),
                 env=None) -> None:
    scenario = load_scenario(scenario_path) if scenario_path else default_scenario()
    if env:
        scenario = scenario.model_copy(update={"env": env})
    sim = Simulator(scenario, seed=seed, state_file=state_file)
    await sim.start(host, port, ws_port, *paper_ports)
    print(f"KIS simulator REST {sim.rest_url}  WebSocket {sim.ws_url}  (admin {sim.rest_url}/_sim)", flush=True)
    if sim.paper_rest_url != sim.rest_url:
        print(f"paper host: REST {sim.paper_rest_url}  WebSocket {sim.paper_ws_url}", flush=True)
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
          ready_file: str | None = None, scenario_path: str | None = None, paper_port: int = 0,
          paper_ws_port: int = 0, env: str | None = None) -> int:
    """Run until Ctrl-C/SIGTERM; returns the exit code. ``port``/``ws_port`` are the real host's (the only
    one unless the scenario's env is "split"), ``paper_port``/``paper_ws_port`` the paper host's;
    ``env`` overrides the scenario's ("any" = permissive: one host, every key, every tr_id)."""
    asyncio.run(_serve(host, port, ws_port, seed, state_file, ready_file, scenario_path, (paper_port, paper_ws_port),
                       env))
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
    parser.add_argument("--paper-port", type=int, default=0, help="the paper host's REST port (env split)")
    parser.add_argument("--paper-ws-port", type=int, default=0, help="the paper host's WebSocket port (env split)")
    parser.add_argument("--env", choices=["split", "real", "paper", "any"], help="override the scenario's env")
    a = parser.parse_args(argv)
    return serve(a.host, a.port, a.ws_port, a.seed, a.state, a.ready_file, a.scenario, a.paper_port,
                 a.paper_ws_port, a.env)
