"""A table fits the terminal by measuring each cell once (``render._widths``/``render._fitting``) and, when it
fits, hands rich each column's width: it must print exactly what rich prints when it measures everything
itself, the whole table once per column tried (the reference below)."""

from __future__ import annotations

import dataclasses
import io
import random
from datetime import datetime, timezone

import pytest
from rich.console import Console
from rich.measure import Measurement

from kisoms.cli import render
from kisoms.domain.codes import Exchange, OrderType, Side
from kisoms.domain.order import Order
from kisoms.domain.states import OrderStatus

NOTES = ["", "주문가능금액을 초과 했습니다", "a\ttab and a\nnewline", "x" * 90, "한" * 40, "[bold]markup?[/]",
         ":smile: not an emoji"]


def _order(rnd: random.Random, n: int) -> Order:
    order = Order(id=n, idempotency_key=f"k{n}", account="50000001-01", strategy_version="t",
                  symbol=rnd.choice(["005930", "000660", "0009K0"]), side=rnd.choice(list(Side)),
                  order_type=rnd.choice(list(OrderType)), qty=rnd.randint(1, 10 ** rnd.randint(1, 9)),
                  price=rnd.choice([0, rnd.randint(1, 10 ** 7)]), exchange=Exchange.KRX,
                  signal_ts=datetime(2026, 11, 25, tzinfo=timezone.utc))
    return dataclasses.replace(order, status=rnd.choice(list(OrderStatus)), reject_reason=rnd.choice(NOTES) or None,
                               updated_at=rnd.choice([None, datetime(2026, 11, 25, 1, 2, 3, tzinfo=timezone.utc)]),
                               broker_order_no=rnd.choice([None, "0000012345", "한국"]))


def _plain_table(columns: list, rows: list, title: str = ""):
    """The table of these columns with every width left to rich."""
    return render._build(title, [(c, render._cells([c], rows)[0], None) for c in columns], len(rows))


def _reference(columns: list, rows: list, width: int):
    """Drop the least important column while rich's own measurement of the whole table exceeds ``width``."""
    probe = Console(width=10_000, file=io.StringIO())
    kept = list(columns)
    for victim in sorted((c for c in columns if c.drop), key=lambda c: -c.drop):
        if Measurement.get(probe, probe.options, _plain_table(kept, rows)).maximum <= width:
            break
        kept.remove(victim)
    return _plain_table(kept, rows, "Orders")


def _printed(table, width: int) -> str:
    out = io.StringIO()
    Console(file=out, width=width, force_terminal=True, color_system="truecolor", soft_wrap=True, highlight=False,
            emoji=False).print(table)
    return out.getvalue()


@pytest.mark.parametrize("seed", range(6))
def test_the_fitted_table_is_the_one_rich_would_print(seed):
    rnd = random.Random(seed)
    for _ in range(40):
        rows = [_order(rnd, n) for n in range(rnd.randint(0, 8))]
        width = rnd.randint(20, 220)
        fitted = render.table_of("Orders", render.ORDER_COLUMNS, rows, width, measured=True)
        assert _printed(fitted, width) == _printed(_reference(render.ORDER_COLUMNS, rows, width), width)


def test_the_measured_widths_add_up_to_riches_measure_of_the_table():
    rnd = random.Random(42)
    probe = Console(width=10_000, file=io.StringIO())
    for _ in range(30):
        rows = [_order(rnd, n) for n in range(rnd.randint(0, 6))]
        columns = rnd.sample(render.ORDER_COLUMNS, rnd.randint(1, len(render.ORDER_COLUMNS)))
        widths = render._widths(columns, render._cells(columns, rows))
        assert sum(widths) + len(columns) - 1 == Measurement.get(probe, probe.options,
                                                                 _plain_table(columns, rows)).maximum
