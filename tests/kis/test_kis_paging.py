"""inquire-daily-ccld follows tr_cont with CTX_AREA_FK100/NK100, restarts when the data changed, returns each row once."""

from __future__ import annotations

import clocks

from datetime import date

import httpx
import pytest

from kisoms.errors import BrokerApiError, BrokerProtocolError
from kisoms.kis.errors_map import DATA_CHANGED_MARKER

from kis_helpers import ACCOUNT, FakeKis, kis_error, kis_reply

DAY = date(2026, 1, 2)


def row(odno: str) -> dict:
    return {"ord_dt": "20260102", "odno": odno, "orgn_odno": "", "sll_buy_dvsn_cd": "02", "pdno": "005930",
            "ord_qty": "10", "ord_unpr": "71000", "tot_ccld_qty": "0", "rmn_qty": "10", "cncl_yn": "N"}


def page(odnos: list[str], tr_cont: str, nk: str = "") -> httpx.Response:
    return kis_reply(output1=[row(o) for o in odnos], output2={"tot_ord_qty": "0"},
                     ctx_area_fk100="50000001-01         ", ctx_area_nk100=nk.ljust(100) if nk else "",
                     headers={"tr_cont": tr_cont})


def test_follows_tr_cont_until_the_last_page(tmp_path):
    fake = FakeKis()
    fake.script("daily_ccld", page(["1", "2"], "F", "k1"), page(["3", "4"], "M", "k2"), page(["5"], "D"))
    with fake.client(tmp_path) as client:
        rows = client.inquire_daily_ccld(ACCOUNT, DAY, DAY)
    assert [r.odno for r in rows] == ["1", "2", "3", "4", "5"]
    calls = fake.calls("daily_ccld")
    assert [c.headers["tr_cont"] for c in calls] == ["", "N", "N"]
    assert [c.url.params["CTX_AREA_NK100"] for c in calls] == ["", "k1", "k2"]
    assert [c.url.params["CTX_AREA_FK100"] for c in calls] == ["", "50000001-01", "50000001-01"]
    assert calls[0].url.params["INQR_STRT_DT"] == "20260102" and calls[0].url.params["CCLD_DVSN"] == "00"


@pytest.mark.parametrize("last", ["D", "E", ""])
def test_single_page(tmp_path, last):
    fake = FakeKis()
    fake.script("daily_ccld", page(["1"], last))
    with fake.client(tmp_path) as client:
        assert [r.odno for r in client.inquire_daily_ccld(ACCOUNT, DAY, DAY)] == ["1"]
    assert len(fake.calls("daily_ccld")) == 1


def test_blank_rows_are_dropped(tmp_path):
    """KIS pads an empty result with a row of blanks."""
    fake = FakeKis()
    fake.script("daily_ccld", kis_reply(output1=[{k: "" for k in row("x")}], headers={"tr_cont": "D"}))
    with fake.client(tmp_path) as client:
        assert client.inquire_daily_ccld(ACCOUNT, DAY, DAY) == []


def test_data_changed_restarts_from_page_one_without_duplicates(tmp_path):
    fake = FakeKis()
    changed = kis_error("KIER2570", f"{DATA_CHANGED_MARKER}었습니다.", status=200)
    fake.script("daily_ccld", page(["1", "2"], "M", "k1"), changed,
                page(["1", "2"], "M", "k1"), page(["3", "9"], "D"))
    with fake.client(tmp_path) as client:
        rows = client.inquire_daily_ccld(ACCOUNT, DAY, DAY)
    assert [r.odno for r in rows] == ["1", "2", "3", "9"]
    assert [c.headers["tr_cont"] for c in fake.calls("daily_ccld")] == ["", "N", "", "N"]


def test_data_changed_forever_gives_up(tmp_path):
    fake = FakeKis()
    changed = kis_error("KIER2570", DATA_CHANGED_MARKER, status=200)
    fake.default["/uapi/domestic-stock/v1/trading/inquire-daily-ccld"] = changed
    with fake.client(tmp_path) as client, pytest.raises(BrokerApiError, match=DATA_CHANGED_MARKER):
        client.inquire_daily_ccld(ACCOUNT, DAY, DAY)
    assert 2 <= len(fake.calls("daily_ccld")) <= 5


def test_other_errors_do_not_restart(tmp_path):
    fake = FakeKis()
    fake.script("daily_ccld", page(["1"], "M", "k1"), kis_error("OPSQ0001", "bad input", status=200))
    with fake.client(tmp_path) as client, pytest.raises(BrokerApiError) as info:
        client.inquire_daily_ccld(ACCOUNT, DAY, DAY)
    assert info.value.msg_cd == "OPSQ0001"
    assert len(fake.calls("daily_ccld")) == 2


def test_more_pages_without_a_new_context_is_an_error_not_a_loop(tmp_path):
    fake = FakeKis()
    fake.default["/uapi/domestic-stock/v1/trading/inquire-daily-ccld"] = page(["1"], "M", "k1")
    with fake.client(tmp_path) as client, pytest.raises(BrokerProtocolError, match="CTX_AREA|context"):
        client.inquire_daily_ccld(ACCOUNT, DAY, DAY)
    assert len(fake.calls("daily_ccld")) <= 3


def test_rate_limit_mid_paging_retries_that_page(tmp_path):
    fake = FakeKis()
    fake.script("daily_ccld", page(["1"], "M", "k1"), kis_error("EGW00201"), page(["2"], "D"))
    with fake.client(tmp_path) as client:
        assert [r.odno for r in client.inquire_daily_ccld(ACCOUNT, DAY, DAY)] == ["1", "2"]
    calls = fake.calls("daily_ccld")
    assert [(c.headers["tr_cont"], c.url.params["CTX_AREA_NK100"]) for c in calls] == [("", ""), ("N", "k1"),
                                                                                      ("N", "k1")]


def test_paging_against_the_simulator_returns_every_order_once(tmp_path):
    from kisoms.domain.codes import Side
    from kisoms.kis.client import KisClient
    from kisoms.kis.connection import KisConnection
    from kisoms.sim.testing import running_simulator

    with running_simulator(page_size=3, auto_fill=False) as sim:
        key = sim.scenario.app_keys[0]
        conn = KisConnection(env="sim", rest_url=sim.rest_url, ws_url=sim.ws_url, app_key=key.app_key,
                             app_secret=key.app_secret, state_dir=tmp_path, rate_per_sec=1000)
        with KisClient(conn) as client:
            odnos = [client.order_cash(ACCOUNT, "005930", Side.BUY, "00", 1, "60000").odno for _ in range(8)]
            today = clocks.now().astimezone(clocks.KST).date()
            rows = client.inquire_daily_ccld(ACCOUNT, today.replace(day=1), today)
    assert sorted(r.odno for r in rows) == sorted(odnos)
