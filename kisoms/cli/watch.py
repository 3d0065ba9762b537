"""`kisoms watch`: the live view (or a JSON Lines event stream) over the ledger's events."""

from __future__ import annotations

import asyncio
import signal
from collections import deque
from typing import Optional

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table

from kisoms.cli.app import app
from kisoms.cli.commands import _opts, runtime
from kisoms.cli.render import console, orders_table, print_json
from kisoms.domain.states import NON_TERMINAL

REFRESH_SECONDS = 0.5


def _feed_line(watcher) -> str:
    s = watcher.status
    age = "-" if s.last_heartbeat is None else f"{watcher.rt.clock.monotonic() - s.last_heartbeat:.0f}s"
    return f"feed: [bold]{s.mode}[/]  last heartbeat {age} ago  notices {s.notices}  gap-fills {s.gap_fills}"


def _tail_table(tail: deque) -> Table:
    table = Table(title="Recent events", header_style="bold")
    for col in ("id", "at", "kind", "order", "detail"):
        table.add_column(col)
    for e in tail:
        table.add_row(str(e.id), f"{e.ts:%H:%M:%S}", e.kind, str(e.order_id or ""), e.summary()[:70])
    return table


def _view(watcher, tail: deque) -> Group:
    orders = watcher.rt.ledger.list_orders(statuses=list(NON_TERMINAL), limit=30)
    return Group(_feed_line(watcher), orders_table(orders, title="Open orders"), _tail_table(tail))


async def _render(watcher, stop: asyncio.Event, since: int, as_json: bool) -> None:
    tail: deque = deque(maxlen=15)
    last = since
    with Live(console=console, auto_refresh=False, transient=False) if not as_json else _Null() as live:
        while not stop.is_set():
            for event in watcher.rt.ledger.events_since(last, 500):
                last = event.id
                print_json(event.as_dict()) if as_json else tail.append(event)
            if not as_json:
                live.update(_view(watcher, tail), refresh=True)
            try:
                await asyncio.wait_for(stop.wait(), REFRESH_SECONDS)
            except asyncio.TimeoutError:
                pass


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


async def _main(rt, poll: bool, since: int, as_json: bool) -> None:
    from kisoms.engine.watch import Watcher

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watcher = Watcher(rt, poll=poll)
    start = rt.ledger.last_event_id() if since is None else since
    await asyncio.gather(watcher.run(stop), _render(watcher, stop, start, as_json))


@app.command()
def watch(
    ctx: typer.Context,
    poll: bool = typer.Option(False, "--poll", help="Poll REST instead of the WebSocket notices."),
    since: Optional[int] = typer.Option(None, "--since", help="Replay events after this id first (no gaps)."),
) -> None:
    """Live view of open orders, fills and the connection; --json streams events as JSON Lines."""
    opts = _opts(ctx)
    with runtime(ctx) as rt:
        asyncio.run(_main(rt, poll, since, opts.json))
