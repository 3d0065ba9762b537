"""Protocol tests: the simulator spoken to only as PROTOCOL.md describes KIS (see sim_helpers.py)."""

from __future__ import annotations

from typing import Iterator

import pytest

from kisoms.sim.testing import SimHandle
from sim_helpers import Kis, NoticeSocket, client, simulator


@pytest.fixture
def sim() -> Iterator[SimHandle]:
    with simulator() as handle:
        yield handle


@pytest.fixture
def anon(sim) -> Iterator[Kis]:
    """A client with no token yet."""
    kis = client(sim)
    yield kis
    kis.close()


@pytest.fixture
def kis(anon) -> Kis:
    """A client holding an access token."""
    return anon.login()


@pytest.fixture
def hts_id(sim) -> str:
    return sim.scenario.accounts[0].hts_id


@pytest.fixture
def notices(sim, kis, hts_id) -> Iterator[NoticeSocket]:
    """A WebSocket subscribed to H0STCNI0 for the account's HTS ID."""
    sock = NoticeSocket(sim.ws_url, kis.approval_key())
    reply = sock.subscribe("H0STCNI0", hts_id)
    assert reply["body"]["rt_cd"] == "0", reply
    yield sock
    sock.close()
