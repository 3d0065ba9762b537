"""Replies whose keys KIS documents in another case or spelling parse the same."""

from __future__ import annotations

import pytest

from kisoms.kis.models import DailyOrderRow, OrderAck


@pytest.mark.parametrize("output", [
    {"KRX_FWDG_ORD_ORGNO": "91252", "ODNO": "0000000007", "ORD_TMD": "091500"},
    {"krx_fwdg_ord_orgno": "91252", "odno": "0000000007", "ord_tmd": "091500"},  # KIS's order-rvsecncl docs
    {"Krx_Fwdg_Ord_Orgno": "91252", "Odno": "0000000007", "Ord_Tmd": "091500"},
])
def test_order_ack_output_keys_in_either_case(output):
    ack = OrderAck.parse({"rt_cd": "0", "msg_cd": "APBK0013", "msg1": "ok", "output": output}, "TTTC0013U")
    assert (ack.krx_fwdg_ord_orgno, ack.odno, ack.ord_tmd) == ("91252", "0000000007", "091500")


def test_daily_row_reads_kis_documented_spellings():
    """KIS's field list spells excg_id_dvsn_Cd; either spelling is read."""
    row = {"ord_dt": "20260102", "odno": "1", "sll_buy_dvsn_cd": "02", "pdno": "005930", "ord_qty": "3",
           "excg_id_dvsn_Cd": "NXT"}
    assert DailyOrderRow.parse(row).excg_id_dvsn_cd == "NXT"
    assert DailyOrderRow.parse({**row, "excg_id_dvsn_cd": "KRX"}).excg_id_dvsn_cd == "KRX"
