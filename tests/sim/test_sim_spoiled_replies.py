"""The order is booked, then HTTP 200 comes back with a body that does not parse: garbled bytes, or the
real JSON reply cut in half. KIS's headers are kept; the next call is answered normally."""

from __future__ import annotations

import json

import httpx
import pytest

from sim_helpers import client

OPEN_BUY = 60_000


def arm(sim, kind: str, **params) -> None:
    response = httpx.post(f"{sim.rest_url}/_sim/faults", json={"kind": kind, "path": "order-cash", **params})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("kind", ["garbled_after_accept", "truncated_after_accept"])
def test_the_order_is_booked_and_the_200_reply_does_not_parse(sim, kis, kind):
    arm(sim, kind)
    response = kis.order("005930", 1, OPEN_BUY)
    assert response.status_code == 200 and response.headers["tr_id"] and response.headers["gt_uid"]
    with pytest.raises(ValueError):
        json.loads(response.content)
    assert len(kis.orders()) == 1
    assert [e["kind"] for e in sim.admin.fault_log()] == [kind]
    assert kis.order("005930", 1, OPEN_BUY).json()["rt_cd"] == "0"  # count=1: the next reply is whole
    assert len(kis.orders()) == 2


def test_a_truncated_reply_is_the_first_half_of_the_real_one(sim, kis):
    arm(sim, "truncated_after_accept")
    cut = kis.order("005930", 1, OPEN_BUY).content
    whole = kis.order("005930", 1, OPEN_BUY).content
    assert cut and whole[:len(cut) // 2] == cut[:len(cut) // 2]  # the replies differ only in number and time
    assert abs(len(cut) - len(whole) // 2) <= 1
