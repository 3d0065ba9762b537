"""Live fills: `kisoms watch` over the simulator's WebSocket, notice faults, drops, and malformed frames."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import threading

import pytest

from engine_helpers import ACCOUNT, intent, write_config
from kisoms.domain.states import OrderStatus
from kisoms.engine.reconcile import reconcile
from kisoms.engine.submit import submit
from kisoms.engine.watch import Watcher

WAIT = 20.0


class LineReader:
    """Lines of a subprocess's stdout, awaited through a queue (no sleeping)."""

    def __init__(self, stream):
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream):
        for line in stream:
            self.lines.put(line)

    def wait_for(self, predicate, timeout=WAIT) -> dict:
        seen = []
        while True:
            try:
                event = json.loads(self.lines.get(timeout=timeout))
            except queue.Empty:
                raise AssertionError(f"no matching event; saw {seen}") from None
            seen.append(event.get("kind"))
            if predicate(event):
                return event


def watch_process(config, *args, env=None) -> tuple[subprocess.Popen, LineReader]:
    """`kisoms --json watch` in a real process, its stdout read line by line."""
    full_env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "kisoms", "--config", str(config), "--json", "watch", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=full_env)
    return proc, LineReader(proc.stdout)


def test_watch_json_streams_fills_from_the_websocket(sim, tmp_path, rt):
    config = write_config(sim, tmp_path)
    proc, reader = watch_process(config)
    try:
        reader.wait_for(lambda e: e["kind"] == "connection.connected")
        order = submit(rt, intent(price=70000)).order
        sim.admin.set_price("005930", 70000)
        # By a fill notice, or by the books when the notice raced our own reply (then the number is
        # briefly unknown to the ledger and the watcher re-checks the books).
        filled = reader.wait_for(lambda e: e.get("order_id") == order.id and e["kind"] in (
            "order.fill", "order.corrected") and e["payload"].get("status") == "FILLED")
        assert filled["payload"]["filled_qty"] == 10
        assert rt.ledger.get(order.id).status is OrderStatus.FILLED
        assert rt.ledger.external_orders() == []
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=WAIT) == 130  # Ctrl-C: interrupted, like every command


async def _run_watcher(rt, body):
    stop = asyncio.Event()
    watcher = Watcher(rt)
    task = asyncio.create_task(watcher.run(stop))
    try:
        await body(watcher)
    finally:
        stop.set()
        await asyncio.wait_for(task, WAIT)


async def _until(predicate, timeout=WAIT):
    """Wait for a ledger condition the watcher brings about (yielding to its event loop)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("fault", ["notice_duplicate", "notice_reorder", "notice_drop"])
def test_notice_faults_never_double_count(rt, sim, fault):
    sim.admin.configure(fill_slices=5)

    async def body(watcher):
        await _until(lambda: watcher.status.mode == "connected")
        order = submit(rt, intent(price=70000)).order
        for _ in range(3):
            sim.admin.add_fault(fault, count=1, nth=2)
        sim.admin.set_price("005930", 70000)
        await _until(lambda: rt.ledger.get(order.id).filled_qty >= (6 if fault == "notice_drop" else 10))

    asyncio.run(_run_watcher(rt, body))
    reconcile(rt)
    order = rt.ledger.list_orders()[0]
    books = [r for r in sim.admin.orders(ACCOUNT) if r["odno"] == order.broker_order_no][0]
    assert order.filled_qty == int(books["tot_ccld_qty"]) == 10
    assert order.filled_amount == int(books["tot_ccld_amt"])
    assert reconcile(rt).in_sync


def test_websocket_drop_mid_burst_is_gap_filled(rt, sim):
    sim.admin.configure(fill_slices=4, fill_delay=0.05)

    async def body(watcher):
        await _until(lambda: watcher.status.mode == "connected")
        order = submit(rt, intent(price=70000)).order
        sim.admin.set_price("005930", 70000)
        sim.admin.disconnect_websockets()
        await _until(lambda: rt.ledger.get(order.id).status is OrderStatus.FILLED)

    asyncio.run(_run_watcher(rt, body))
    order = rt.ledger.list_orders()[0]
    assert order.filled_qty == 10 and order.filled_amount == 10 * 70000


def test_polling_without_websocket(rt, sim):
    async def body(watcher):
        order = submit(rt, intent(price=70000)).order
        sim.admin.set_price("005930", 70000)
        await _until(lambda: rt.ledger.get(order.id).status is OrderStatus.FILLED)

    async def run():
        stop = asyncio.Event()
        watcher = Watcher(rt, poll=True)
        task = asyncio.create_task(watcher.run(stop))
        await body(watcher)
        stop.set()
        await task

    asyncio.run(run())
