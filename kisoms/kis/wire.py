"""One write per request: the client's HTTP/1.1 requests leave in one ``send`` (one TCP segment, one TLS
record) instead of two.

httpcore writes a request's head and its body separately, and it sets ``TCP_NODELAY``, so an order-cash
request crosses the network as two segments and the server wakes twice for it. Here the connections'
streams keep what is written until the client first reads (an HTTP/1.1 client reads only once the whole
request is written) and then write it at once. What goes on the wire is the same bytes, in the same
order; a failure of that write is raised from the read as the write error it is, which the client counts
as "may have reached KIS" (``errors_map.transport_error``), as it counts any failure after connecting.
"""

from __future__ import annotations

from typing import Any


class CoalescedStream:
    """A network stream (httpcore's interface) whose writes wait for the next read, close or TLS upgrade."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._pending: list[bytes] = []
        self._timeout: float | None = None

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:
            self._pending.append(buffer)
            self._timeout = timeout

    def flush(self) -> None:
        """Write what is pending, at once."""
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self._stream.write(data, self._timeout)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.flush()
        return self._stream.read(max_bytes, timeout)

    def close(self) -> None:
        self._pending.clear()  # (a request not read for was abandoned: nothing more of it leaves)
        self._stream.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> "CoalescedStream":
        self.flush()
        return CoalescedStream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class CoalescingBackend:
    """A network backend (httpcore's interface) whose TCP streams are ``CoalescedStream``s."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def connect_tcp(self, *args: Any, **kwargs: Any) -> CoalescedStream:
        return CoalescedStream(self._backend.connect_tcp(*args, **kwargs))

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> CoalescedStream:
        return CoalescedStream(self._backend.connect_unix_socket(*args, **kwargs))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def coalesce_writes(transport: Any) -> bool:
    """Make ``transport`` (an ``httpx.HTTPTransport``: its httpcore pool's network backend, set before the
    pool opens a connection; private, pinned httpx) write each request at once. False, with nothing
    changed, for any other transport (a test's mock, a wrapped one) or one already done."""
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if backend is None or isinstance(backend, CoalescingBackend) or not hasattr(backend, "connect_tcp"):
        return False
    pool._network_backend = CoalescingBackend(backend)
    return True
