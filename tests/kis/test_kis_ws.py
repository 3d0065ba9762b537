"""NoticeStream: against the simulator (subscribe, notice, heartbeat, reconnect) and a tiny crafted server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import websockets

from kisoms.domain.codes import Side
from kisoms.kis.client import KisClient
from kisoms.kis.connection import KisConnection
from kisoms.kis.notices import ExecutionNotice
from kisoms.kis.ws import ConnectionState, NoticeStream

from kis_helpers import IV, KEY, frame, record

ACCOUNT = "50000001-01"
TIMEOUT = 10


async def next_matching(stream: NoticeStream, want, seen: list | None = None):
    """The next item satisfying ``want``; everything before it is appended to ``seen``."""
    async def scan():
        async for item in stream:
            if want(item):
                return item
            if seen is not None:
                seen.append(item)
        raise AssertionError("stream ended")
    return await asyncio.wait_for(scan(), TIMEOUT)


def state(kind: str):
    return lambda item: isinstance(item, ConnectionState) and item.kind == kind


def is_notice(item) -> bool:
    return isinstance(item, ExecutionNotice)


# ------------------------------------------------------------------------------ the simulator


@pytest.fixture
def sim_conn(tmp_path):
    from kisoms.sim.testing import running_simulator

    with running_simulator(pingpong_interval=0.2) as sim:
        key = sim.scenario.app_keys[0]
        conn = KisConnection(env="sim", rest_url=sim.rest_url, ws_url=sim.ws_url, app_key=key.app_key,
                             app_secret=key.app_secret, hts_id="simuser", state_dir=tmp_path, rate_per_sec=1000)
        with KisClient(conn) as client:
            yield sim, conn, client


async def place(client: KisClient) -> str:
    ack = await asyncio.to_thread(client.order_cash, ACCOUNT, "005930", Side.BUY, "00", 2, "71000")
    return ack.odno


def test_subscribe_notice_heartbeat_reconnect(sim_conn):
    sim, conn, client = sim_conn

    async def scenario():
        approvals = []

        def approval() -> str:
            approvals.append(client.issue_approval_key())
            return approvals[-1]

        stream = NoticeStream(conn, approval, base_backoff=0.01)
        try:
            connected = await next_matching(stream, state("connected"))
            assert connected.detail == "SUBSCRIBE SUCCESS"
            odno = await place(client)
            notice = await next_matching(stream, is_notice)
            assert (notice.odno, notice.symbol, notice.side, notice.oder_qty) == (odno, "005930", Side.BUY, 2)
            assert stream.keys["H0STCNI0"][0] and len(stream.keys["H0STCNI0"][0]) == 32

            await next_matching(stream, state("heartbeat"))

            assert await asyncio.to_thread(sim.admin.disconnect_websockets) == 1
            await next_matching(stream, state("disconnected"))
            await next_matching(stream, state("connected"))
            assert len(approvals) == 2
            odno2 = await place(client)
            notices = []
            while not any(n.odno == odno2 for n in notices):
                notices.append(await next_matching(stream, is_notice))
        finally:
            await stream.close()

    asyncio.run(scenario())


def test_subscribe_message(tmp_path):
    from kisoms.kis.ws import subscribe_message

    msg = json.loads(subscribe_message("APPROVAL", "P", "H0STCNI9", "hts01"))
    assert msg == {"header": {"approval_key": "APPROVAL", "custtype": "P", "tr_type": "1", "content-type": "utf-8"},
                   "body": {"input": {"tr_id": "H0STCNI9", "tr_key": "hts01"}}}
    assert json.loads(subscribe_message("A", "B", "H0STCNI0", "x", subscribe=False))["header"]["tr_type"] == "2"


# ------------------------------------------------------------------- a crafted server


def conn_for(url: str, env: str = "real") -> KisConnection:
    return KisConnection(env=env, rest_url="http://unused", ws_url=url, app_key="K" * 36, app_secret="S" * 40,
                         hts_id="hts01", state_dir=Path("."))


def subscribe_reply(tr_id: str = "H0STCNI0") -> str:
    return json.dumps({"header": {"tr_id": tr_id, "tr_key": "hts01", "encrypt": "Y"},
                       "body": {"rt_cd": "0", "msg_cd": "OPSP0000", "msg1": "SUBSCRIBE SUCCESS",
                                "output": {"iv": IV, "key": KEY}}})


class CraftedServer:
    """Runs ``script(ws, subscribe_message)`` for each connection; records connections and messages."""

    def __init__(self, script):
        self.script, self.connections, self.received = script, 0, []

    async def handler(self, ws) -> None:
        self.connections += 1
        first = json.loads(await ws.recv())
        self.received.append(first)
        await self.script(ws, first)

    async def __aenter__(self) -> str:
        self.server = await websockets.serve(self.handler, "127.0.0.1", 0)
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        await self.server.wait_closed()


def test_malformed_frames_are_skipped_and_the_connection_survives(caplog):
    bad = [
        "1|H0STCNI0|1|not*base64!",                                       # bad base64
        frame(record(), key="ZYXWVUTSRQPONMLKJIHGFEDCBA987654"),          # wrong key
        frame(record(16)),                                                # too short
        frame(record(), tr_id="H0STASP0"),                                # unknown tr_id
        "garbage",                                                        # not a frame
        "{not json",                                                      # broken control frame
        json.dumps({"header": "x"}),                                      # header not an object
        json.dumps(["header"]),                                           # not an object at all
        json.dumps({"header": {"tr_id": "H0STCNI0"}, "body": "nope"}),    # body not an object
    ]

    async def script(ws, first):
        await ws.send(subscribe_reply())
        for raw in bad:
            await ws.send(raw)
        await ws.send(frame(record(ODER_NO="GOOD")))
        await ws.wait_closed()

    async def scenario():
        server = CraftedServer(script)
        async with server as url:
            stream = NoticeStream(conn_for(url), lambda: "appr")
            seen: list = []
            try:
                notice = await next_matching(stream, is_notice, seen)
            finally:
                await stream.close()
        assert notice.odno == "GOOD"
        assert [s.kind for s in seen] == ["connected"]
        assert server.connections == 1

    asyncio.run(scenario())
    skipped = [r for r in caplog.records if r.name == "kisoms.kis.ws" and "skipped" in r.getMessage()]
    assert len(skipped) == 9


def test_pingpong_is_echoed_unchanged(tmp_path):
    ping = json.dumps({"header": {"tr_id": "PINGPONG", "datetime": "20260102091500"}})
    echoed = asyncio.Queue()

    async def script(ws, first):
        await ws.send(subscribe_reply())
        await ws.send(ping)
        echoed.put_nowait(await ws.recv())
        await ws.wait_closed()

    async def scenario():
        server = CraftedServer(script)
        async with server as url:
            stream = NoticeStream(conn_for(url), lambda: "appr")
            try:
                await next_matching(stream, state("heartbeat"))
                assert await asyncio.wait_for(echoed.get(), TIMEOUT) == ping
            finally:
                await stream.close()
        assert server.received[0]["body"]["input"] == {"tr_id": "H0STCNI0", "tr_key": "hts01"}
        assert server.received[0]["header"]["approval_key"] == "appr"

    asyncio.run(scenario())


def test_paper_subscribes_to_h0stcni9():
    async def script(ws, first):
        await ws.send(subscribe_reply("H0STCNI9"))
        await ws.send(frame(record(), tr_id="H0STCNI9"))
        await ws.wait_closed()

    async def scenario():
        server = CraftedServer(script)
        async with server as url:
            stream = NoticeStream(conn_for(url, "paper"), lambda: "appr")
            try:
                await next_matching(stream, is_notice)
            finally:
                await stream.close()
        assert server.received[0]["body"]["input"]["tr_id"] == "H0STCNI9"

    asyncio.run(scenario())


def test_refused_subscription_reconnects_without_leaking_the_approval_key():
    async def script(ws, first):
        key = first["header"]["approval_key"]
        if key == "appr-1":
            await ws.send(json.dumps({"header": {"tr_id": "H0STCNI0"}, "body": {
                "rt_cd": "1", "msg_cd": "OPSP0011", "msg1": f"invalid approval : {key} NOT FOUND"}}))
            await ws.wait_closed()
        else:
            await ws.send(subscribe_reply())
            await ws.wait_closed()

    async def scenario():
        keys = iter(["appr-1", "appr-2"])
        server = CraftedServer(script)
        async with server as url:
            stream = NoticeStream(conn_for(url), lambda: next(keys), base_backoff=0.01)
            seen: list = []
            try:
                await next_matching(stream, state("connected"), seen)
            finally:
                await stream.close()
        [down] = [s for s in seen if s.kind == "disconnected"]
        assert "OPSP0011" in down.detail and "appr-1" not in down.detail
        assert server.connections == 2

    asyncio.run(scenario())


def test_unreachable_server_backs_off_and_close_ends_the_stream():
    async def scenario():
        stream = NoticeStream(conn_for("ws://127.0.0.1:9"), lambda: "appr", base_backoff=0.01, max_backoff=0.05)
        downs = [await next_matching(stream, state("disconnected")) for _ in range(3)]
        assert all(d.detail for d in downs)
        await asyncio.wait_for(stream.close(), TIMEOUT)
        rest = [item async for item in stream]
        assert all(isinstance(i, ConnectionState) for i in rest)

    asyncio.run(scenario())


def test_close_while_connected_ends_promptly():
    async def script(ws, first):
        await ws.send(subscribe_reply())
        await ws.wait_closed()

    async def scenario():
        async with CraftedServer(script) as url:
            stream = NoticeStream(conn_for(url), lambda: "appr")
            await next_matching(stream, state("connected"))
            await asyncio.wait_for(stream.close(), TIMEOUT)
            with pytest.raises(StopAsyncIteration):
                while True:
                    await asyncio.wait_for(stream.__anext__(), TIMEOUT)

    asyncio.run(scenario())


def test_a_failing_approval_call_ends_the_stream_with_that_error():
    from kisoms.errors import ConfigError

    def approval() -> str:
        raise ConfigError("no app key")

    async def scenario():
        stream = NoticeStream(conn_for("ws://127.0.0.1:9"), approval)
        with pytest.raises(ConfigError):
            await asyncio.wait_for(stream.__aiter__().__anext__(), TIMEOUT)

    asyncio.run(scenario())


def already_subscribed_reply(tr_id: str = "H0STCNI0") -> str:
    return json.dumps({"header": {"tr_id": tr_id, "tr_key": "hts01", "encrypt": "N"},
                       "body": {"rt_cd": "1", "msg_cd": "OPSP0002", "msg1": "ALREADY IN SUBSCRIBE"}})


def until_match(script, predicate, **stream_options):
    """Runs a crafted server with ``script``; returns (the first matching item, the items before it, server)."""
    server = CraftedServer(script)

    async def scenario():
        async with server as url:
            stream = NoticeStream(conn_for(url), lambda: "appr", **stream_options)
            seen: list = []
            try:
                return await next_matching(stream, predicate, seen), seen
            finally:
                await stream.close()

    item, seen = asyncio.run(scenario())
    return item, seen, server


def test_already_subscribed_after_a_reconnect_counts_as_connected_and_keeps_the_key():
    connections = []

    async def script(ws, first):
        connections.append(first)
        if len(connections) == 1:
            await ws.send(subscribe_reply())
            await ws.close()
            return
        await ws.send(already_subscribed_reply())
        await ws.send(frame(record(ODER_NO="AFTER")))
        await ws.wait_closed()

    notice, seen, server = until_match(script, is_notice, base_backoff=0.01)
    assert notice.odno == "AFTER"
    assert [s.kind for s in seen] == ["connected", "disconnected", "connected"]
    assert seen[-1].detail == "already subscribed"
    assert server.connections == 2


def test_already_subscribed_without_a_known_key_is_connected_with_a_warning(caplog):
    async def script(ws, first):
        await ws.send(already_subscribed_reply())
        await ws.send(frame(record(ODER_NO="UNREADABLE")))
        await ws.send(json.dumps({"header": {"tr_id": "PINGPONG", "datetime": "20260102091500"}}))
        await ws.wait_closed()

    _, seen, server = until_match(script, state("heartbeat"))
    assert [s.kind for s in seen] == ["connected"]
    assert server.connections == 1
    warned = [r.getMessage() for r in caplog.records if r.name == "kisoms.kis.ws"]
    assert any("already subscribed" in m for m in warned)
    assert any("skipped" in m for m in warned)
