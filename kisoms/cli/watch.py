"""`kisoms watch`: the live view (or a JSON Lines event stream) over the ledger's events. Ctrl-C exits 130.

asyncio and rich's live view load when watch runs, not with every other command."""

from __future__ import annotations

import signal
import sys
from collections import deque
from typing import TYPE_CHECKING, Optional

import typer

from kisoms.cli.context import app, options, runtime
from kisoms.cli.exit_codes import ExitCode
from kisoms.cli.render import ORDER_COLUMNS, Column, console, event_dict, kst, table_of, write_plain
from kisoms.cli.report import env_badge, json_line, with_env
from kisoms.domain.states import NON_TERMINAL

if TYPE_CHECKING:
    import asyncio

    from rich.console import Group
    from rich.text import Text

REFRESH_SECONDS = 0.5  # the live view's redraw
FOLLOW_SECONDS = 0.05  # a caught-up stream (--json, or not a terminal) looks again after this
PAGE = 1000  # events read at a time

EVENT_COLUMNS = [
    Column("id", lambda e: str(e.id), right=True), Column("at", lambda e: kst(e.ts)[11:19]),
    Column("kind", lambda e: e.kind), Column("order", lambda e: str(e.order_id or "")),
    Column("detail", lambda e: e.summary()[:70], drop=1),
]


def _feed_line(watcher) -> Text:
    from rich.text import Text

    s = watcher.status
    age = "-" if s.last_heartbeat is None else f"{watcher.rt.clock.monotonic() - s.last_heartbeat:.0f}s"
    return Text("feed: ") + Text(str(s.mode), style="bold") + Text(
        f"  last heartbeat {age} ago  notices {s.notices}  gap-fills {s.gap_fills}")


def _view(watcher, tail: deque) -> Group:
    from rich.console import Group

    orders = watcher.rt.ledger.list_orders(statuses=list(NON_TERMINAL), limit=30)
    return Group(_feed_line(watcher), table_of("Open orders", ORDER_COLUMNS, orders, console.width),
                 table_of("Recent events", EVENT_COLUMNS, list(tail), console.width))


async def _render(watcher, stop: asyncio.Event, since: int, as_json: bool) -> None:
    """Follow the events table by id: every page already committed is shown at once (the feed gets the loop
    between pages); only a caught-up view waits, and a JSON stream waits less than the live view."""
    import asyncio

    from rich.live import Live

    tail: deque = deque(maxlen=15)
    last = since
    live_view = not as_json and console.is_terminal
    pause = FOLLOW_SECONDS if not live_view else REFRESH_SECONDS
    with Live(console=console, auto_refresh=False, transient=False) if live_view else _Null() as live:
        while not stop.is_set():
            page = watcher.rt.ledger.events_since(last, PAGE)
            last = _show(page, tail, as_json, live_view) or last
            if live_view:
                live.update(_view(watcher, tail), refresh=True)
            if len(page) == PAGE:
                await asyncio.sleep(0)  # more is waiting: let the feed run, then carry on
                continue
            try:
                await asyncio.wait_for(stop.wait(), pause)
            except asyncio.TimeoutError:
                pass
        while as_json and (page := watcher.rt.ledger.events_since(last, PAGE)):  # committed before the stop
            last = _show(page, tail, as_json, live_view)


def _show(page: list, tail: deque, as_json: bool, live_view: bool) -> int | None:
    """A page of events; returns the last one's id (None for an empty page). JSON Lines go out in one
    write and one flush per page: a stream that keeps up with the ledger costs the feed little."""
    if as_json and page:
        sys.stdout.write("".join(json_line(with_env(event_dict(event))) + "\n" for event in page))
        sys.stdout.flush()
    elif not as_json:
        for event in page:
            _emit(event, tail, live_view)
    return page[-1].id if page else None


def _emit(event, tail: deque, live_view: bool) -> None:
    """One event: a row of the live view, or (not on a terminal) a plain tab-separated line."""
    if live_view:
        tail.append(event)
    else:
        write_plain(["\t".join([env_badge().plain] + [" ".join(c.cell(event).split()) for c in EVENT_COLUMNS])])


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


async def _main(rt, poll: bool, since: int, as_json: bool) -> bool:
    """Run until SIGINT or SIGTERM; True when it was SIGINT (Ctrl-C)."""
    import asyncio

    from kisoms.engine.watch import Watcher

    stop = asyncio.Event()
    interrupted: list[int] = []
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda s=sig: (interrupted.append(s), stop.set()))
    watcher = Watcher(rt, poll=poll)
    start = rt.ledger.last_event_id() if since is None else since
    await asyncio.gather(watcher.run(stop), _render(watcher, stop, start, as_json))
    return signal.SIGINT in interrupted


@app.command()
def watch(
    ctx: typer.Context,
    poll: bool = typer.Option(False, "--poll", help="Poll REST instead of the WebSocket notices."),
    since: Optional[int] = typer.Option(None, "--since", min=0, help="Replay events after this id first (no gaps)."),
) -> None:
    """Live view of open orders, fills and the connection; --json streams events as JSON Lines.
    Ctrl-C stops it (exit 130), SIGTERM too (exit 0)."""
    import asyncio

    opts = options(ctx)
    with runtime(ctx) as rt:
        interrupted = asyncio.run(_main(rt, poll, since, opts.json))
    if interrupted:
        raise typer.Exit(int(ExitCode.INTERRUPTED))
