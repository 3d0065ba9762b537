"""inquire-balance is read page by page until KIS says the last one; missing fields stay None."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from kisoms.errors import BrokerProtocolError
from kisoms.kis.balance import fetch_balance
from kisoms.kis.models import Page


class PagedClient:
    """Stands in for KisClient's page call: three pages, the cursor echoed back as KIS expects."""

    tr = SimpleNamespace(balance="VTTC8434R")

    def __init__(self, pages: list[Page]):
        self.pages, self.calls = pages, []

    def _page(self, path, tr_id, what, params, tr_cont):
        self.calls.append((params["CTX_AREA_NK100"], tr_cont))
        return self.pages[len(self.calls) - 1]

    def inquire_psbl_order(self, account, symbol, ord_dvsn, price):
        return {"output": {"ord_psbl_cash": "1234"}}


def _row(code: str, qty: int, **extra) -> dict:
    return {"pdno": code, "prdt_name": code, "hldg_qty": str(qty), "ord_psbl_qty": str(qty), "prpr": "100", **extra}


def test_every_page_is_read_and_the_last_summary_kept():
    client = PagedClient([
        Page([_row("000001", 1, pchs_avg_pric="90.5000")], None, True, "f", "n1"),
        Page([_row("000002", 0)], None, True, "f", "n2"),
        Page([_row("000003", 3, evlu_pfls_amt="-30")], [{"dnca_tot_amt": "500", "tot_evlu_amt": "900"}], False, "f", ""),
    ])
    balance = fetch_balance(client, "50000001-01")
    assert client.calls == [("", ""), ("n1", "N"), ("n2", "N")]
    assert [h.symbol for h in balance.holdings] == ["000001", "000003"]  # a zero row is left out
    first, third = balance.holdings
    assert (first.avg_price, first.valuation, first.unrealised_pnl) == (90.5, 100, 10)  # 100 - 90.5, rounded
    assert (third.avg_price, third.unrealised_pnl) == (None, -30)
    assert (balance.cash, balance.total_valuation, balance.buying_power) == (500, 900, 1234)


def test_a_cursor_that_does_not_advance_is_a_protocol_error():
    client = PagedClient([Page([], None, True, "", "")])
    with pytest.raises(BrokerProtocolError):
        fetch_balance(client, "50000001-01")


def test_a_number_that_is_not_one_is_a_protocol_error():
    client = PagedClient([Page([_row("000001", 1, prpr="abc")], None, False, "", "")])
    with pytest.raises(BrokerProtocolError, match="prpr"):
        fetch_balance(client, "50000001-01")
