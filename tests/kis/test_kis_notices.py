"""Execution-notice frames: decrypt, split, name fields; old and new layouts; every malformation is an error."""

from __future__ import annotations

import base64
import logging

import pytest

from kisoms.domain.codes import Side
from kisoms.errors import BrokerProtocolError
from kisoms.kis import notices
from kisoms.kis.notices import FIELDS, REQUIRED, ExecutionNotice, parse_frame, split_frame

from kis_helpers import IV, KEY, KEYS, VALUES, encrypt, frame, old_record, record

@pytest.fixture(autouse=True)
def fresh_layout_memory(monkeypatch):
    monkeypatch.setattr(notices, "_seen_layouts", set())


def test_current_26_field_layout():
    [n] = parse_frame(frame(record()), KEYS)
    assert FIELDS == tuple(VALUES) and len(FIELDS) == 26
    assert (n.odno, n.orgn_odno, n.acnt_no, n.side, n.symbol) == ("0000012345", "0000012300", "5000000101",
                                                                  Side.BUY, "005930")
    assert (n.cntg_qty, n.cntg_unpr, n.cntg_hour, n.oder_qty, n.oder_prc) == (7, 71000, "091502", 10, 71000)
    assert n.is_fill and not n.refused and n.rctf_cls == "0" and n.extra == ()
    assert n.get("CNTG_ISNM40") == "삼성전자"


def test_legacy_23_field_layout():
    """KIS's old layout is read as such: the order price is its last field, not lost."""
    [n] = parse_frame(frame(old_record(SELN_BYOV_CLS="01", CNTG_YN="1", RFUS_YN="1", ODER_PRC="70500")), KEYS)
    assert (n.side, n.is_fill, n.refused, n.oder_qty) == (Side.SELL, False, True, 10)
    assert (n.oder_prc, n.get("CNTG_ISNM40"), n.get("CNTG_ISNM"), n.get("CRDT_CLS")) == (70500, "삼성전자",
                                                                                          "삼성전자", "10")
    assert n.get("ORD_EXG_GB") == "" and n.extra == ()


def test_layout_is_told_per_record():
    """Frames in the old and the current layout, one after the other: each record named by its own layout."""
    [old] = parse_frame(frame(old_record(ODER_NO="1", ODER_PRC="70500")), KEYS)
    [new] = parse_frame(frame(record(ODER_NO="2", ODER_PRC="71000")), KEYS)
    assert [(n.odno, n.oder_prc) for n in (old, new)] == [("1", 70500), ("2", 71000)]
    assert new.get("ORD_EXG_GB") == "1" and old.get("ORD_EXG_GB") == ""


def test_extra_trailing_fields_are_kept():
    [n] = parse_frame(frame(record(29)), KEYS)
    assert n.extra == ("X26", "X27", "X28") and n.oder_prc == 71000
    assert n.as_dict()["extra"] == ["X26", "X27", "X28"]


def test_as_dict_leaves_out_personal_fields():
    data = parse_frame(frame(record()), KEYS)[0].as_dict()
    assert "acnt_name" not in data and "cust_id" not in data and data["oder_no"] == "0000012345"


def test_records_back_to_back():
    out = parse_frame(frame(record(ODER_NO="1"), record(ODER_NO="2"), record(ODER_NO="3")), KEYS)
    assert [n.odno for n in out] == ["1", "2", "3"]


def test_plain_frame_and_paper_tr_id():
    [n] = parse_frame("0|H0STCNI9|1|" + "^".join(record()), {})
    assert n.odno == "0000012345"


def test_a_layout_change_is_logged_once(caplog):
    parse_frame(frame(record()), KEYS)
    with caplog.at_level(logging.WARNING, logger="kisoms.kis.notices"):
        parse_frame(frame(record(23)), KEYS)
        parse_frame(frame(record(23)), KEYS)
    assert [r.getMessage() for r in caplog.records].count(
        "execution notice layout changed: 23 fields (known layout has 26)") == 1


def test_too_short_a_record_is_an_error():
    assert REQUIRED == 17
    with pytest.raises(BrokerProtocolError, match="16 fields; at least 17"):
        parse_frame(frame(record(16)), KEYS)


@pytest.mark.parametrize("raw,named", [
    ("1|H0STCNI0|1|not*base64!", "decrypt"),
    ("1|H0STCNI0|1|", "decrypt"),
    ("1|H0STCNI0|1|" + base64.b64encode(b"short").decode(), "decrypt"),
    ("1|H0STCNA0|1|xxx", "unexpected tr_id 'H0STCNA0'"),
    ("1|H0STCNI0|x|xxx", "not a KIS data frame"),
    ("2|H0STCNI0|1|xxx", "not a KIS data frame"),
    ("just text", "not a KIS data frame"),
    ("0|H0STCNI0|0|a^b", "not divisible"),
    ("0|H0STCNI0|2|" + "^".join(["a"] * 35), "not divisible"),
])
def test_malformed_frames(raw, named):
    with pytest.raises(BrokerProtocolError, match=named):
        parse_frame(raw, KEYS)


def test_wrong_key_is_an_error():
    with pytest.raises(BrokerProtocolError, match="decrypt"):
        parse_frame(frame(record(), key="ZYXWVUTSRQPONMLKJIHGFEDCBA987654"), KEYS)


def test_key_of_the_wrong_length_is_an_error():
    with pytest.raises(BrokerProtocolError, match="decrypt"):
        parse_frame(frame(record()), {"H0STCNI0": ("short-key", IV)})


def test_no_key_yet_is_an_error():
    with pytest.raises(BrokerProtocolError, match="no key/iv for H0STCNI0"):
        parse_frame(frame(record()), {})


def test_split_frame_keeps_pipes_in_the_payload():
    f = split_frame("0|H0STCNI0|1|a|b^c")
    assert (f.encrypted, f.tr_id, f.count, f.payload) == (False, "H0STCNI0", 1, "a|b^c")


def test_frames_from_the_simulator_parse():
    """The simulator's own encoder and ours agree (both follow PROTOCOL.md)."""
    from kisoms.sim.frames import data_frame

    [n] = parse_frame(data_frame("H0STCNI0", ["^".join(record())], KEY, IV), KEYS)
    assert n.odno == "0000012345"


def _raw_cbc(data: bytes, key: str = KEY, iv: str = IV) -> str:
    """``data`` (a multiple of 16 bytes, padding up to the caller) encrypted as KIS does, base64."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    enc = Cipher(algorithms.AES(key.encode()), modes.CBC(iv.encode())).encryptor()
    return base64.b64encode(enc.update(data) + enc.finalize()).decode()


@pytest.mark.parametrize("tail", [b"\x00" * 16, b"A" * 15 + b"\x11", b"A" * 13 + b"\x01\x02\x03", b"A" * 14 + b"\x01\x02"],
                         ids=["zero", "more-than-a-block", "bytes-disagree", "count-byte-wrong"])
def test_bad_padding_is_an_error(tail):
    with pytest.raises(BrokerProtocolError, match="decrypt"):
        notices.decrypt(_raw_cbc(b"x" * 16 + tail), KEY, IV)


def test_a_full_block_of_padding_is_removed():
    assert notices.decrypt(_raw_cbc(b"0123456789abcdef" + bytes((16,)) * 16), KEY, IV) == "0123456789abcdef"


def test_frames_of_two_subscriptions_decrypt_each_with_its_own_key():
    other_key, other_iv = "ZYXWVUTSRQPONMLKJIHGFEDCBA987654", "fedcba9876543210"
    keys = {"H0STCNI0": (KEY, IV), "H0STCNI9": (other_key, other_iv)}
    text = "^".join(record())
    for _ in range(2):  # the second round is served by the ciphers built in the first
        assert parse_frame(f"1|H0STCNI0|1|{encrypt(text)}", keys)[0].odno == VALUES["ODER_NO"]
        assert parse_frame(f"1|H0STCNI9|1|{encrypt(text, other_key, other_iv)}", keys)[0].odno == VALUES["ODER_NO"]
    with pytest.raises(BrokerProtocolError, match="decrypt"):  # a frame under the other key does not decrypt
        parse_frame(f"1|H0STCNI0|1|{encrypt(text, other_key, other_iv)}", keys)


def test_fill_terms_are_what_the_properties_read():
    base = dict(zip(FIELDS, ["x"] * len(FIELDS)))
    cases = [{"CNTG_YN": "2", "CNTG_QTY": "3", "CNTG_UNPR": "70000", "ODER_NO": " 0000000101 ", "STCK_CNTG_HOUR": "093000"},
             {"CNTG_YN": " 2", "CNTG_QTY": " 1 ", "CNTG_UNPR": "1", "ODER_NO": "", "STCK_CNTG_HOUR": ""},
             {"CNTG_YN": "1", "CNTG_QTY": "3", "CNTG_UNPR": "70000"}, {"CNTG_YN": "2", "CNTG_QTY": "0", "CNTG_UNPR": "1"},
             {"CNTG_YN": "2", "CNTG_QTY": "1", "CNTG_UNPR": "-5"}, {"CNTG_YN": "2", "CNTG_QTY": "1.5", "CNTG_UNPR": "9"},
             {"CNTG_YN": "2", "CNTG_QTY": None, "CNTG_UNPR": "9"}, {"CNTG_YN": None},
             {"CNTG_YN": "2", "CNTG_QTY": "0012", "CNTG_UNPR": " 9"}, {"CNTG_YN": "2", "CNTG_QTY": "+3", "CNTG_UNPR": "9"}]
    for case in cases:
        notice = ExecutionNotice({**base, **case})
        plain = notice.is_fill and notice.cntg_qty > 0 and notice.cntg_unpr > 0
        expected = (notice.odno, notice.cntg_hour, notice.cntg_qty, notice.cntg_unpr) if plain else None
        assert notice.fill_terms() == expected, case
