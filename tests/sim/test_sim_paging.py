"""inquire-daily-ccld paging across more than one page (tr_cont, CTX_AREA_FK100 / CTX_AREA_NK100)."""

from __future__ import annotations

import pytest

N = 130


@pytest.fixture
def placed(kis) -> list[str]:
    return [kis.place("005930", 1, 50_000 + 100 * (i % 50))["ODNO"] for i in range(N)]


def test_every_order_seen_exactly_once_across_pages(kis, placed):
    pages = kis.ccld_pages()
    rows = [r["odno"] for p in pages for r in p.json()["output1"]]
    assert sorted(rows) == sorted(placed) and len(rows) == N
    assert len(pages) >= 2


def test_tr_cont_says_more_then_last(kis, placed):
    pages = kis.ccld_pages()
    assert [p.headers["tr_cont"] in ("F", "M") for p in pages] == [True] * (len(pages) - 1) + [False]
    assert pages[-1].headers["tr_cont"] in ("D", "E")
    assert all(len(p.json()["output1"]) <= 100 for p in pages)


def test_default_order_is_newest_first_and_01_is_oldest_first(kis, placed):
    newest = [r for p in kis.ccld_pages() for r in p.json()["output1"]]
    oldest = [r for p in kis.ccld_pages(INQR_DVSN="01") for r in p.json()["output1"]]
    assert [r["odno"] for r in oldest] == placed
    assert [r["odno"] for r in newest] == placed[::-1]

