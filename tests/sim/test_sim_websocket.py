"""Execution notices over the WebSocket: subscribe, decrypt, field layouts, heartbeat, refusals."""

from __future__ import annotations

import json
import time

import pytest
from websockets.exceptions import ConnectionClosed

from sim_helpers import CURRENT_FIELDS, F, LEGACY_FIELDS, SELL, Frame, NoticeSocket, client, simulator

OPEN_BUY = 60_000


def test_subscribe_reply_carries_key_and_iv(kis, sim, hts_id):
    sock = NoticeSocket(sim.ws_url, kis.approval_key())
    reply = sock.subscribe("H0STCNI0", hts_id)
    sock.close()
    assert (reply["header"]["tr_id"], reply["header"]["tr_key"]) == ("H0STCNI0", hts_id)
    assert (reply["body"]["rt_cd"], reply["body"]["msg1"]) == ("0", "SUBSCRIBE SUCCESS")
    assert len(reply["body"]["output"]["key"]) == 32 and len(reply["body"]["output"]["iv"]) == 16


def test_acceptance_notice_has_26_fields(kis, notices, hts_id):
    out = kis.place("005930", 3, OPEN_BUY)
    rec = notices.next_notice()
    assert len(rec) == CURRENT_FIELDS
    assert (rec[F["CUST_ID"]], rec[F["ODER_NO"]], rec[F["CNTG_YN"]], rec[F["RCTF_CLS"]]) == \
        (hts_id, out["ODNO"], "1", "0")
    assert (rec[F["STCK_SHRN_ISCD"]], rec[F["SELN_BYOV_CLS"]], rec[F["ODER_QTY"]]) == ("005930", "02", "3")
    assert rec[F["ACNT_NO"]].startswith(kis.cano) and rec[F["ODER_PRC"]] == "60000"


def test_frame_is_encrypted_with_tr_id_and_count(kis, notices):
    kis.place("005930", 1, OPEN_BUY)
    raw = notices.ws.recv(timeout=5)
    enc, tr_id, count, payload = raw.split("|", 3)
    assert (enc, tr_id, count) == ("1", "H0STCNI0", "1")
    assert "^" not in payload and "005930" not in payload  # ciphertext, base64


def test_fill_notice_follows_the_acceptance(kis, notices):
    out = kis.place("005930", 2, 72_000)
    ack, fill = notices.next_notice(), notices.next_notice()
    assert ack[F["CNTG_YN"]] == "1" and fill[F["CNTG_YN"]] == "2"
    assert (fill[F["ODER_NO"]], fill[F["CNTG_QTY"]], fill[F["CNTG_UNPR"]]) == (out["ODNO"], "2", "71000")
    assert len(fill[F["STCK_CNTG_HOUR"]]) == 6


def test_sell_fill_notice_side(kis, notices):
    kis.place("005930", 1, 0, ord_dvsn="01", tr_id=SELL)
    notices.next_notice()
    assert notices.next_notice()[F["SELN_BYOV_CLS"]] == "01"


def test_sliced_fill_sends_one_notice_per_slice(sim, kis, notices):
    sim.admin.configure(fill_slices=3)
    kis.place("005930", 7, 72_000)
    notices.next_notice()
    fills = [notices.next_notice() for _ in range(3)]
    assert [f[F["CNTG_YN"]] for f in fills] == ["2"] * 3
    assert sum(int(f[F["CNTG_QTY"]]) for f in fills) == 7


def test_amend_and_cancel_notices_link_the_original(kis, notices):
    orig = kis.place("005930", 5, OPEN_BUY)["ODNO"]
    amend = kis.rvsecncl(orig, cancel=False, price=61_000).json()["output"]["ODNO"]
    cancel = kis.rvsecncl(amend, cancel=True).json()["output"]["ODNO"]
    recs = [notices.next_notice() for _ in range(3)]
    assert [(r[F["ODER_NO"]], r[F["OODER_NO"]], r[F["RCTF_CLS"]]) for r in recs] == \
        [(orig, "", "0"), (amend, orig, "1"), (cancel, amend, "2")]


def test_legacy_layout_is_kis_old_23_field_one(sim, kis, notices):
    """Not the current layout cut at 23: after ODER_QTY come ACNT_NAME, CNTG_ISNM, CRDT_CLS, CRDT_LOAN_DATE,
    CNTG_ISNM40, ODER_PRC (so the order price is the last field)."""
    sim.admin.configure(notice_layout="legacy")
    out = kis.place("005930", 1, OPEN_BUY)
    rec = notices.next_notice()
    assert len(rec) == LEGACY_FIELDS and rec[F["ODER_NO"]] == out["ODNO"]
    assert rec[F["ODER_QTY"]] == "1"
    assert rec[17:] == [sim.scenario.accounts[0].name, "삼성전자", "10", "", "삼성전자", str(OPEN_BUY)]


def test_paper_tr_id_gets_its_own_key(sim, hts_id):
    paper = client(sim, "paper").login()
    sock = NoticeSocket(sim.paper_ws_url, paper.approval_key())
    assert sock.subscribe("H0STCNI9", hts_id)["body"]["rt_cd"] == "0"
    out = paper.place("005930", 1, OPEN_BUY, tr_id="VTTC0012U")
    message = sock.recv()
    sock.close()
    paper.close()
    assert isinstance(message, Frame) and message.tr_id == "H0STCNI9"
    assert message.records[0][F["ODER_NO"]] == out["ODNO"]


def test_notices_go_only_to_the_subscribed_hts_id(sim, kis):
    sock = NoticeSocket(sim.ws_url, kis.approval_key())
    assert sock.subscribe("H0STCNI0", "someone-else")["body"]["rt_cd"] == "0"
    kis.place("005930", 1, OPEN_BUY)
    assert sock.barrier() == []
    sock.close()


def test_bad_approval_key_is_refused(sim, kis, hts_id):
    sock = NoticeSocket(sim.ws_url, "not-an-approval-key")
    reply = sock.subscribe("H0STCNI0", hts_id)
    assert reply["body"]["rt_cd"] != "0" and reply["body"]["msg_cd"] and reply["body"]["msg1"]
    kis.place("005930", 1, OPEN_BUY)
    sock.send("H0STCNI0", hts_id, "2", approval_key=kis.approval_key())
    assert isinstance(sock.recv(), dict)  # the unsubscribe reply: no notice came before it
    sock.close()


def test_unknown_tr_id_is_refused(sim, kis):
    sock = NoticeSocket(sim.ws_url, kis.approval_key())
    assert sock.subscribe("H0STXXX0", "x")["body"]["rt_cd"] != "0"
    sock.close()


def test_overseas_notice_subscription_is_accepted_as_at_kis(sim, kis, hts_id):
    """python-kis subscribes H0GSCNI0 beside H0STCNI0: KIS accepts it (it just never fires here)."""
    sock = NoticeSocket(sim.ws_url, kis.approval_key())
    reply = sock.subscribe("H0GSCNI0", hts_id)
    assert (reply["body"]["rt_cd"], reply["body"]["msg_cd"]) == ("0", "OPSP0000"), reply
    assert set(reply["body"]["output"]) == {"iv", "key"}
    sock.close()


def test_subscribe_replies_read_as_kis_does(notices, hts_id):
    """Subscribing again: OPSP0002, same key; unsubscribing: OPSP0001; unsubscribing again: OPSP0003."""
    key = notices.keys["H0STCNI0"]
    again = notices.subscribe("H0STCNI0", hts_id)
    assert again["body"]["msg_cd"] == "OPSP0002" and notices.keys["H0STCNI0"] == key
    notices.send("H0STCNI0", hts_id, "2")
    gone = notices.next_json()
    assert (gone["body"]["rt_cd"], gone["body"]["msg_cd"], gone["header"]["tr_key"]) == ("0", "OPSP0001", hts_id)
    notices.send("H0STCNI0", hts_id, "2")
    assert notices.next_json()["body"]["msg_cd"] == "OPSP0003"


def test_malformed_message_gets_an_error_reply(notices):
    notices.ws.send("{nope")
    reply = notices.next_json()
    assert reply["body"]["rt_cd"] != "0" and reply["body"]["msg_cd"]


def test_unsubscribe_stops_notices(kis, notices, hts_id):
    notices.send("H0STCNI0", hts_id, "2")
    reply = notices.next_json()
    assert (reply["body"]["rt_cd"], reply["body"]["msg1"]) == ("0", "UNSUBSCRIBE SUCCESS")
    kis.place("005930", 1, OPEN_BUY)
    assert notices.barrier() == []


def test_paper_no_notices_sends_nothing(sim, kis, notices):
    sim.admin.configure(paper_no_notices=True)
    kis.place("005930", 2, 72_000)
    assert notices.barrier() == []


def test_pingpong_arrives_and_its_echo_gets_no_reply():
    with simulator(pingpong_interval=0.05) as sim:
        kis = client(sim).login()
        sock = NoticeSocket(sim.ws_url, kis.approval_key())
        sock.subscribe("H0STCNI0", sim.scenario.accounts[0].hts_id)
        deadline = time.monotonic() + 5
        while not sock.pingpongs and time.monotonic() < deadline:
            sock.barrier()  # recv() echoes each PINGPONG back unchanged
        assert sock.pingpongs, "no PINGPONG within 5 s"
        assert json.loads(sock.pingpongs[0])["header"]["tr_id"] == "PINGPONG"
        assert sock.barrier() == []  # no error reply to the echo
        sock.close()
        kis.close()


def test_server_disconnect_then_resubscribe(sim, kis, notices, hts_id):
    assert sim.admin.disconnect_websockets() == 1
    with pytest.raises(ConnectionClosed):
        notices.ws.recv(timeout=5)
    again = NoticeSocket(sim.ws_url, kis.approval_key())
    again.subscribe("H0STCNI0", hts_id)
    out = kis.place("005930", 1, OPEN_BUY)
    assert again.next_notice()[F["ODER_NO"]] == out["ODNO"]
    again.close()
