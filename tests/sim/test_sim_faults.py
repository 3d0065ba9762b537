"""Every fault kind, armed through the admin endpoint, targeted by path / tr_id and the Nth call."""

from __future__ import annotations

import ast
import time

import httpx
import pytest

from kisoms.sim.scenario import FaultSpec
from sim_helpers import BALANCE, F, SELL, assert_kis_error, client, simulator

OPEN_BUY = 60_000
BAL = {"CANO": "50000001", "ACNT_PRDT_CD": "01"}


def arm(sim, kind: str, path: str | None = "order-cash", **params) -> None:
    """POST /_sim/faults directly (the admin API, not a Python hook)."""
    response = httpx.post(f"{sim.rest_url}/_sim/faults", json={"kind": kind, "path": path, **params})
    assert response.status_code == 200, response.text


def fired(sim) -> list[str]:
    return [entry["kind"] for entry in sim.admin.fault_log()]


def test_unknown_fault_kind_is_refused_and_the_known_ones_are_all_covered_here(sim):
    response = httpx.post(f"{sim.rest_url}/_sim/faults", json={"kind": "gremlins"})
    assert response.status_code == 400
    known = ast.literal_eval(response.json()["error"].split("known: ", 1)[1])
    assert set(known) == {"delay", "drop_response", "error_before_accept", "error_after_accept",
                          "reset_before_accept", "reset_after_accept", "rate_limit", "token_expired",
                          "garbled_after_accept", "truncated_after_accept",  # see test_sim_spoiled_replies.py
                          "notice_duplicate", "notice_drop", "notice_reorder"}


# ------------------------------------------------------------------ REST kinds


def test_delay_answers_late_but_answers(sim, kis):
    arm(sim, "delay", seconds=0.4)
    start = time.monotonic()
    assert kis.order("005930", 1, OPEN_BUY).json()["rt_cd"] == "0"
    assert time.monotonic() - start >= 0.4
    start = time.monotonic()
    kis.place("005930", 1, OPEN_BUY)
    assert time.monotonic() - start < 0.4  # count=1: only one call delayed


def test_dropped_response_order_exists_though_client_timed_out(sim, kis):
    arm(sim, "drop_response", seconds=5)
    with pytest.raises(httpx.ReadTimeout):
        kis.order("005930", 1, OPEN_BUY, timeout=0.3)
    rows = kis.orders()
    assert len(rows) == 1 and next(iter(rows.values()))["ord_qty"] == "1"


def test_error_before_accept_is_an_html_500_and_no_order(sim, kis):
    arm(sim, "error_before_accept")
    response = kis.order("005930", 1, OPEN_BUY)
    assert response.status_code == 500 and "html" in response.headers["content-type"]
    assert kis.orders() == {}


def test_error_after_accept_is_an_html_502_and_the_order_exists(sim, kis):
    arm(sim, "error_after_accept")
    response = kis.order("005930", 1, OPEN_BUY)
    assert response.status_code == 502 and "html" in response.headers["content-type"]
    assert len(kis.orders()) == 1


def test_reset_before_accept_leaves_no_order(sim, kis):
    arm(sim, "reset_before_accept")
    with pytest.raises(httpx.TransportError):
        kis.order("005930", 1, OPEN_BUY)
    assert kis.orders() == {}


def test_reset_after_accept_leaves_the_order(sim, kis):
    arm(sim, "reset_after_accept")
    with pytest.raises(httpx.TransportError):
        kis.order("005930", 1, OPEN_BUY)
    assert len(kis.orders()) == 1


def test_rate_limit_burst_refuses_count_calls_then_recovers(sim, kis):
    arm(sim, "rate_limit", count=2)
    for _ in range(2):
        assert_kis_error(kis.order("005930", 1, OPEN_BUY), "EGW00201", 500)
    kis.place("005930", 1, OPEN_BUY)
    assert len(kis.orders()) == 1


def test_token_expired_then_a_new_token_is_issued_at_once(sim, kis):
    arm(sim, "token_expired")
    assert_kis_error(kis.order("005930", 1, OPEN_BUY), "EGW00123", 500)
    assert_kis_error(kis.get(BALANCE, "TTTC8434R", BAL), "EGW00123", 500)  # the old token stays expired
    old = kis.token
    kis.login()  # no EGW00133: the expired token's issuance counts as long past
    assert kis.token != old
    kis.place("005930", 1, OPEN_BUY)
    assert len(kis.orders()) == 1


# ------------------------------------------------------------------ targeting


def test_nth_matching_call_is_hit(sim, kis):
    arm(sim, "error_before_accept", nth=3)
    statuses = [kis.order("005930", 1, OPEN_BUY).status_code for _ in range(4)]
    assert statuses == [200, 200, 500, 200]
    assert len(kis.orders()) == 3


def test_count_hits_that_many_calls_from_nth(sim, kis):
    arm(sim, "error_before_accept", nth=2, count=2)
    assert [kis.order("005930", 1, OPEN_BUY).status_code for _ in range(4)] == [200, 500, 500, 200]


def test_other_paths_are_not_hit(sim, kis):
    arm(sim, "error_before_accept", path="order-rvsecncl")
    assert kis.get(BALANCE, "TTTC8434R", BAL).status_code == 200
    kis.place("005930", 1, OPEN_BUY)
    assert fired(sim) == []


def test_tr_id_targeting_hits_only_that_tr_id(sim, kis):
    arm(sim, "error_before_accept", tr_id=SELL)
    assert kis.order("005930", 1, OPEN_BUY).status_code == 200
    assert kis.order("005930", 1, 80_000, tr_id=SELL).status_code == 500
    assert kis.order("005930", 1, 80_000, tr_id=SELL).status_code == 200


def test_fault_log_records_what_fired(sim, kis):
    arm(sim, "rate_limit")
    kis.order("005930", 1, OPEN_BUY)
    assert sim.admin.fault_log() == [{"kind": "rate_limit", "path": "/uapi/domestic-stock/v1/trading/order-cash",
                                      "tr_id": "TTTC0012U"}]


def test_cleared_faults_do_not_fire(sim, kis):
    arm(sim, "error_before_accept")
    assert httpx.delete(f"{sim.rest_url}/_sim/faults").status_code == 200
    assert kis.order("005930", 1, OPEN_BUY).status_code == 200


def test_fault_from_the_scenario_fires_deterministically():
    with simulator(faults=[FaultSpec(kind="error_after_accept", path="order-cash", nth=2)]) as sim:
        kis = client(sim).login()
        assert [kis.order("005930", 1, OPEN_BUY).status_code for _ in range(3)] == [200, 502, 200]
        assert len(kis.orders()) == 3
        kis.close()


# ---------------------------------------------------------------- notice kinds


def test_notice_duplicate_sends_it_twice(sim, kis, notices):
    arm(sim, "notice_duplicate", path=None)
    out = kis.place("005930", 1, OPEN_BUY)
    first, second = notices.next_notice(), notices.next_notice()
    assert first == second and first[F["ODER_NO"]] == out["ODNO"]
    assert notices.barrier() == []


def test_notice_drop_loses_it(sim, kis, notices):
    arm(sim, "notice_drop", path=None)
    kis.place("005930", 1, OPEN_BUY)
    assert notices.barrier() == []
    out = kis.place("005930", 1, OPEN_BUY)
    assert notices.next_notice()[F["ODER_NO"]] == out["ODNO"]


def test_notice_reorder_sends_it_after_the_next(sim, kis, notices):
    arm(sim, "notice_reorder", path=None)
    first = kis.place("005930", 1, OPEN_BUY)["ODNO"]
    assert notices.barrier() == []  # held back
    second = kis.place("005930", 1, OPEN_BUY)["ODNO"]
    assert [notices.next_notice()[F["ODER_NO"]] for _ in range(2)] == [second, first]


def test_notice_fault_on_the_nth_notice(sim, kis, notices):
    arm(sim, "notice_drop", path=None, nth=2)
    kis.place("005930", 2, 72_000)  # notice 1 = ack, notice 2 = fill (dropped)
    assert notices.next_notice()[F["CNTG_YN"]] == "1"
    assert notices.barrier() == []
