"""Rendering and JSON shapes of orders, trades and reports. No business logic.

On a terminal: tables that never cut a key column (less important columns are dropped first to fit the
width), the env badge in colour (NO_COLOR honoured). Not on a terminal: plain tab-separated rows with a
header, no box drawing, no colour. Messages are never hard-wrapped. Times are KST with the offset.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable

from rich.console import Console
from rich.text import Text

if TYPE_CHECKING:  # (rich.table loads when a table is shown: "no orders" and plain output need none)
    from rich.table import Table

from kisoms.cli.cells import (NOT_SENT_NOTE, NOTE_MAX, ORDER_CELLS, kst, order_dict,  # noqa: F401  (re-exported)
                              plain_cell, tsv_lines)
from kisoms.cli.report import env_badge, one_line, print_json, with_env  # noqa: F401  (print_json re-exported)

console = Console(soft_wrap=True, highlight=False, emoji=False)

STATUS_STYLE = {
    "FILLED": "green", "PART_FILLED": "cyan", "ACCEPTED": "blue", "SENT": "blue", "CANCELLED": "dim",
    "REJECTED": "red", "ERROR": "bold red", "UNKNOWN": "bold yellow", "SENDING": "yellow",
    "PENDING_MODIFY": "magenta", "PENDING_CANCEL": "magenta", "NEW": "white",
}


def event_dict(event) -> dict[str, Any]:
    """A ledger event as JSON-ready data (its time in KST)."""
    return {**event.as_dict(), "ts": kst(event.ts)}


def print_json_lines(items: Iterable[dict]) -> None:
    """A list: JSON Lines, one object per line, each naming the env."""
    for item in items:
        print_json(with_env(item))


# ------------------------------------------------------------------------------------------------ messages

def say(*parts: str | Text, err: bool = False) -> None:
    """One line, led by the env badge ([SIM] ...); never parsed as markup, never wrapped."""
    line = Text("[") + env_badge() + Text("] ")
    for part in parts:
        line += part if isinstance(part, Text) else Text(part)
    (Console(stderr=True, soft_wrap=True, highlight=False) if err else console).print(line)


def styled(text: str, style: str) -> Text:
    return Text(text, style=style)


def show_warnings(warnings: list[str]) -> None:
    """What opening the ledger noticed (loose file modes, a new app key, an old shared ledger): on stderr,
    one line each; they never stop a command or change its exit code."""
    for warning in warnings:
        say(f"warning: {warning}", err=True)


# -------------------------------------------------------------------------------------------------- tables

@dataclass(frozen=True)
class Column:
    """A table column. ``drop`` 0: a key column, never cut or dropped; higher numbers are dropped first."""

    name: str
    cell: Callable[[Any], str | Text]
    drop: int = 0
    right: bool = False


def _text(value: str | Text) -> str:
    return value.plain if isinstance(value, Text) else str(value)


def _plain(value: str | Text) -> str:
    return plain_cell(_text(value))


def _width(column: Column, cells: list) -> int:
    return max([len(column.name)] + [Text(_plain(c)).cell_len for c in cells])


def fitting(columns: list[Column], rows: list, width: int) -> list[Column]:
    """The columns to show in ``width``: all if they fit, else without the least important first."""
    cells = _cells(columns, rows)
    return [columns[n] for n in _fitting(columns, _widths(columns, cells), width)]


def _cells(columns: list[Column], rows: list) -> list[list[Text]]:
    """Each column's cells (column by column), computed once for measuring and showing."""
    return [[_cell(c.cell(r)) for r in rows] for c in columns]


def _widths(columns: list[Column], cells: list[list[Text]]) -> list[int]:
    """The width rich gives each column when nothing is cut: its widest cell or its header, measured by
    rich itself; a key column at least its cells' width on one line (its ``min_width``)."""
    from rich.measure import Measurement

    probe = Console(width=10_000, file=io.StringIO(), highlight=False, emoji=False)
    options = probe.options
    widths = []
    for column, texts in zip(columns, cells):
        widest = max(Measurement.get(probe, options, x).maximum for x in [column.name, *texts])
        widths.append(max(widest, _width(column, texts)) if column.drop == 0 else widest)
    return widths


def _fitting(columns: list[Column], widths: list[int], width: int) -> list[int]:
    """The indexes of the columns to show: the least important dropped first until the table fits, counting
    one space between columns (the table has no edges and no padding)."""
    kept = list(range(len(columns)))
    for victim in sorted((n for n, c in enumerate(columns) if c.drop), key=lambda n: -columns[n].drop):
        if sum(widths[n] for n in kept) + len(kept) - 1 <= width:
            break
        kept.remove(victim)
    return kept


def show_table(title: str, columns: list[Column], rows: list) -> None:
    """Rows as a table on a terminal, as tab-separated lines (env first, after a header) otherwise."""
    if not console.is_terminal:
        cells = [[_text(c.cell(row)) for c in columns] for row in rows]
        write_plain(tsv_lines(env_badge().plain, [c.name for c in columns], cells))
        return
    console.print(table_of(title, columns, rows, console.width, measured=True))


def table_of(title: str, columns: list[Column], rows: list, width: int, *, measured: bool = False) -> Table:
    """A rich table of ``rows`` fitting ``width``: key columns whole, the least important dropped first.
    ``measured``: the table is printed ``width`` wide as it is, so when it fits, each column is given the
    width rich would measure for it (the same table, without rich measuring every cell again)."""
    cells = _cells(columns, rows)
    widths = _widths(columns, cells)
    shown = _fitting(columns, widths, width)
    fits = sum(widths[n] for n in shown) + len(shown) - 1 <= width
    return _build(title, [(columns[n], cells[n], widths[n] if measured and fits else None) for n in shown],
                  len(rows))


def _build(title: str, shown: list[tuple[Column, list[Text], int | None]], count: int) -> Table:
    """The table of ``count`` rows, from the shown columns, their cells and their widths (None: measured by
    rich)."""
    from rich import box
    from rich.table import Table

    table = Table(title=Text("[") + env_badge() + Text(f"] {title}") if title else None, header_style="bold",
                  box=box.SIMPLE_HEAD, padding=(0, 0), show_edge=False)
    for c, cells, width in shown:
        if c.drop == 0:
            table.add_column(c.name, justify="right" if c.right else "left", no_wrap=True,
                             min_width=_width(c, cells), overflow="fold", width=width)
        else:
            table.add_column(c.name, justify="right" if c.right else "left", overflow="ellipsis", width=width)
    for n in range(count):
        table.add_row(*[cells[n] for _, cells, _ in shown])
    return table


def write_plain(lines: list[str]) -> None:
    """Lines as they are (rich would expand tabs): for tab-separated output."""
    stream = console.file
    stream.write("".join(line + "\n" for line in lines))
    stream.flush()


def _cell(value: str | Text) -> Text:
    return value if isinstance(value, Text) else Text(str(value))


def _status(text: str) -> Text:
    return Text(text, style=STATUS_STYLE.get(text, "white"))


ORDER_COLUMNS = [Column(name, (lambda o: _status(o.status.value)) if name == "status" else cell, drop=drop,
                        right=right) for name, cell, drop, right in ORDER_CELLS]


def print_orders(orders: list, title: str = "Orders") -> None:
    """The order list of ``kisoms status`` (and an order after modify/cancel): a table on a terminal, else
    tab-separated lines (the ones ``kisoms.cli.quick`` writes without loading rich)."""
    if orders:
        show_table(title, ORDER_COLUMNS, orders)
    elif console.is_terminal:
        say(styled("no orders", "dim"))
    else:
        show_table(title, ORDER_COLUMNS, [])


def show_halts(halts: list) -> None:
    """The kill switches in force, one line each on stderr (after a listing)."""
    for halt in halts:
        say(styled("HALTED", "bold red"), f" ({halt.scope}): {one_line(halt.reason)}", err=True)


NUMBER_COLUMNS = [
    Column("kind", lambda n: n.kind), Column("number", lambda n: n.broker_order_no or "-"),
    Column("state", lambda n: n.state), Column("sent at", lambda n: kst(n.sent_at), drop=2),
    Column("last attempt", lambda n: kst(n.last_attempt_at), drop=3), Column("owner", lambda n: _owner(n), drop=1),
]
FILL_COLUMNS = [
    Column("number", lambda f: f.broker_order_no), Column("qty", lambda f: f"{f.qty:,}", right=True),
    Column("price", lambda f: f"{f.price:,}", right=True), Column("time", lambda f: f.fill_time),
    Column("source", lambda f: f.source, drop=1),
]
HISTORY_COLUMNS = [
    Column("at", lambda h: kst(h.event_ts)), Column("event", lambda h: h.event or ""),
    Column("status", lambda h: _status(h.status)), Column("source", lambda h: h.source, drop=1),
]


def _owner(number) -> str:
    from kisoms.ledger.control import pid_at_host

    return pid_at_host(number.owner)


def print_trade(order, history: list, fills: list, numbers: list) -> None:
    """An order with its status history, fills and broker numbers (the whole trade)."""
    show_table(f"Order {order.id} ({order.idempotency_key})", ORDER_COLUMNS, [order])
    show_table("Broker numbers", NUMBER_COLUMNS, numbers)
    show_table("Fills", FILL_COLUMNS, fills)
    show_table("History", HISTORY_COLUMNS, history)
