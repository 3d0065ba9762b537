"""The state file: a restarted simulator keeps its orders, balances and numbering."""

from __future__ import annotations

from sim_helpers import client, simulator

OPEN_BUY = 60_000


def test_orders_survive_a_restart_and_numbering_continues(tmp_path):
    state = tmp_path / "sim-state.json"
    with simulator(state_file=state) as sim:
        kis = client(sim).login()
        before = [kis.place("005930", 1, OPEN_BUY)["ODNO"] for _ in range(3)]
        kis.close()
    assert state.exists()
    with simulator(state_file=state) as sim:
        kis = client(sim).login()
        assert set(kis.orders()) == set(before)
        after = kis.place("005930", 1, OPEN_BUY)["ODNO"]
        kis.close()
    assert int(after) > max(int(n) for n in before)


def test_fills_and_cash_survive_a_restart(tmp_path):
    state = tmp_path / "sim-state.json"
    with simulator(state_file=state) as sim:
        kis = client(sim).login()
        odno = kis.place("005930", 2, 72_000)["ODNO"]
        kis.close()
    with simulator(state_file=state) as sim:
        kis = client(sim).login()
        row = kis.orders()[odno]
        cash = kis.get("/uapi/domestic-stock/v1/trading/inquire-balance", "TTTC8434R",
                       {"CANO": kis.cano, "ACNT_PRDT_CD": kis.prdt}).json()["output2"][0]["dnca_tot_amt"]
        kis.close()
    assert row["tot_ccld_qty"] == "2" and cash == str(100_000_000 - 142_000)


def test_amend_link_survives_a_restart(tmp_path):
    state = tmp_path / "sim-state.json"
    with simulator(state_file=state) as sim:
        kis = client(sim).login()
        orig = kis.place("005930", 5, OPEN_BUY)["ODNO"]
        kis.close()
    with simulator(state_file=state) as sim:
        kis = client(sim).login()
        new = kis.rvsecncl(orig, cancel=True).json()["output"]["ODNO"]
        rows = kis.orders()
        kis.close()
    assert rows[new]["orgn_odno"] == orig and rows[orig]["rmn_qty"] == "0"


def test_token_from_before_a_restart_still_works(tmp_path):
    state = tmp_path / "sim-state.json"
    with simulator(state_file=state) as sim:
        token = client(sim).login().token
    with simulator(state_file=state) as sim:
        kis = client(sim)
        kis.token = token
        assert kis.price("005930")["stck_prpr"] == "71000"
        kis.close()


def test_a_holdings_cost_survives_a_restart(tmp_path):
    state = tmp_path / "sim-state.json"
    params = {"CANO": "50000001", "ACNT_PRDT_CD": "01"}
    with simulator(state_file=state) as sim:
        kis = client(sim).login()
        kis.place("005930", 10, 72_000)  # fills at the current price, 71,000
        kis.close()
    with simulator(state_file=state) as sim:
        kis = client(sim).login()
        rows = kis.get("/uapi/domestic-stock/v1/trading/inquire-balance", "TTTC8434R", params).json()["output1"]
        kis.close()
    assert {r["pdno"]: r["pchs_amt"] for r in rows}["005930"] == str(71_000_000 + 710_000)
