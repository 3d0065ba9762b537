"""A request leaves in one write (``kis/wire.py``): httpcore's head and body writes kept until the first read."""

from __future__ import annotations

import httpx
import pytest

from kisoms.kis.wire import CoalescedStream, CoalescingBackend, coalesce_writes

REPLY = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


class RecordingStream:
    """A network stream that records each write and answers every request with ``REPLY``."""

    def __init__(self, log: list) -> None:
        self.log = log
        self.unread = b""

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.log.append(("write", buffer))
        self.unread = REPLY if buffer else self.unread

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.log.append(("read", max_bytes))
        data, self.unread = self.unread[:max_bytes], self.unread[max_bytes:]
        return data

    def close(self) -> None:
        self.log.append(("close", None))

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        self.log.append(("tls", server_hostname))
        return RecordingStream(self.log)

    def get_extra_info(self, info: str):
        return None


class RecordingBackend:
    def __init__(self) -> None:
        self.log: list = []

    def connect_tcp(self, *args, **kwargs) -> RecordingStream:
        return RecordingStream(self.log)

    def sleep(self, seconds: float) -> None:
        pass


def _transport(coalesced: bool) -> tuple[httpx.HTTPTransport, list]:
    transport = httpx.HTTPTransport()
    backend = RecordingBackend()
    transport._pool._network_backend = backend
    if coalesced:
        assert coalesce_writes(transport)
    return transport, backend.log


def _writes(log: list) -> list[bytes]:
    return [data for what, data in log if what == "write" and data]  # (an empty write sends nothing)


@pytest.mark.parametrize("coalesced", [False, True])
def test_a_post_leaves_in_one_write_only_when_coalesced(coalesced):
    transport, log = _transport(coalesced)
    with httpx.Client(transport=transport, base_url="http://broker.test") as http:
        for _ in range(2):  # (a kept-alive connection: each request once)
            reply = http.post("/order-cash", content=b'{"ORD_QTY":"1"}', headers={"tr_id": "T"})
            assert reply.json() == {}
    writes = _writes(log)
    if not coalesced:  # httpcore on its own: the head, then the body
        assert len(writes) == 4
        return
    assert len(writes) == 2
    for data in writes:
        assert data.startswith(b"POST /order-cash HTTP/1.1\r\n") and data.endswith(b'\r\n\r\n{"ORD_QTY":"1"}')
        assert b"tr_id: T\r\n" in data
    assert log.index(("write", writes[0])) < log.index(("read", 65536))  # written before anything is read


def test_a_stream_writes_what_is_pending_before_a_read_or_a_tls_upgrade_and_drops_it_on_close():
    log: list = []
    stream = CoalescedStream(RecordingStream(log))
    stream.write(b"a")
    stream.write(b"")
    stream.write(b"b", timeout=3.0)
    assert log == []
    stream.read(10)
    assert log[:2] == [("write", b"ab"), ("read", 10)]
    log.clear()
    stream.write(b"c")
    upgraded = stream.start_tls(None, "broker.test")
    assert log == [("write", b"c"), ("tls", "broker.test")] and isinstance(upgraded, CoalescedStream)
    log.clear()
    upgraded.write(b"d")
    upgraded.close()
    assert log == [("close", None)]


def test_the_clients_own_transport_coalesces_and_a_given_one_is_left_alone(tmp_path):
    from kisoms.kis.client import KisClient
    from kisoms.kis.connection import KisConnection

    conn = KisConnection(env="sim", rest_url="http://127.0.0.1:9", ws_url="", app_key="k" * 16,
                         app_secret="s" * 32, custtype="P", hts_id="", tr_id_generation="current",
                         use_hashkey=False, rate_per_sec=20.0, connect_timeout=1.0, read_timeout=1.0,
                         state_dir=tmp_path)
    with KisClient(conn) as client:
        assert isinstance(client.http._transport._pool._network_backend, CoalescingBackend)
        assert not coalesce_writes(client.http._transport)  # (once)
    mock = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    with KisClient(conn, transport=mock) as client:
        assert client.http._transport is mock
    assert not coalesce_writes(mock)
