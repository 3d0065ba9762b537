"""mojito2 0.1.6 (PyPI ``mojito2``, ``import mojito``) against the simulator, in real and paper (mock) mode.

Only its base URL is changed (``set_base_url`` picks KIS's real or paper host). mojito sends query names in
lower case (``fid_input_iscd``), no ``custtype`` on most requests, the older order tr_ids (TTTC0802U ...),
and reads the ``tr_cont`` header of every reply.
"""

from __future__ import annotations

import pytest

from outside_helpers import account_of, simulator

mojito = pytest.importorskip("mojito")

SYMBOL, RESTING = "005930", 60_000


def connect(sim, mock: bool, monkeypatch):
    """mojito issues its token in the constructor, after ``set_base_url``: point that at the simulator."""
    hosts = {True: sim.paper_rest_url, False: sim.rest_url}
    monkeypatch.setattr(mojito.KoreaInvestment, "set_base_url",
                        lambda self, mock=True: setattr(self, "base_url", hosts[bool(mock)]))
    key = sim.app_key("paper" if mock else "real")
    return mojito.KoreaInvestment(api_key=key.app_key, api_secret=key.app_secret, acc_no=account_of(sim), mock=mock)


def open_orders(broker) -> dict:
    return broker.fetch_open_order({"CTX_AREA_FK100": "", "CTX_AREA_NK100": "", "INQR_DVSN_1": "0",
                                    "INQR_DVSN_2": "0"})


@pytest.mark.parametrize("mock", [False, True], ids=["real", "paper"])
def test_mojito_trades_against_the_simulator(tmp_path, monkeypatch, mock):
    monkeypatch.chdir(tmp_path)  # mojito keeps its token in ./token.dat
    with simulator() as sim:
        broker = connect(sim, mock, monkeypatch)
        price = broker.fetch_price(SYMBOL)
        assert (price["rt_cd"], price["output"]["stck_prpr"]) == ("0", "71000")
        power = broker.check_buy_order(SYMBOL, 71_000, "00")
        assert (power["rt_cd"], power["tr_cont"]) == ("0", ""), power
        assert power["output"]["max_buy_qty"] == str(100_000_000 // 71_000)

        buy = broker.create_limit_buy_order(SYMBOL, RESTING, 2)
        assert buy["rt_cd"] == "0", buy
        orgno, odno = buy["output"]["KRX_FWDG_ORD_ORGNO"], buy["output"]["ODNO"]
        amend = broker.modify_order(orgno, odno, "00", RESTING + 1_000, 2, True)
        assert amend["rt_cd"] == "0", amend
        listed = open_orders(broker)
        if mock:  # paper has no inquire-psbl-rvsecncl: KIS answers with an error envelope
            assert listed["rt_cd"] != "0" and listed["msg_cd"]
        else:
            assert [(r["odno"], r["psbl_qty"]) for r in listed["output"]] == [(amend["output"]["ODNO"], "2")]
        cancel = broker.cancel_order(orgno, amend["output"]["ODNO"], 2, True)
        assert cancel["rt_cd"] == "0", cancel
        if not mock:
            assert open_orders(broker)["output"] == []

        balance = broker.fetch_balance()
        assert {r["pdno"]: r["hldg_qty"] for r in balance["output1"]}[SYMBOL] == "1000"
        assert balance["output2"][0]["dnca_tot_amt"] == "100000000"
