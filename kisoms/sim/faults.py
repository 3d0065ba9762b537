"""Fault injection: each fault targets a path (and/or tr_id) and the Nth matching call, for ``count`` calls.

REST fault kinds:
- ``delay``: answer after ``seconds``
- ``drop_response``: process the request, then hold the answer for ``seconds`` (the client times out)
- ``error_before_accept`` / ``error_after_accept``: HTTP 500 / 502 with an HTML body, before / after processing
- ``reset_before_accept`` / ``reset_after_accept``: close the connection with no answer, before / after processing
- ``rate_limit``: KIS's EGW00201 gateway error, not processed
- ``token_expired``: KIS's EGW00123, and the token is invalidated
- ``garbled_after_accept`` / ``truncated_after_accept``: process the request, then answer HTTP 200 with a
  body that is not JSON / with the first half of the real JSON body
Notice fault kinds (``path`` ignored; they apply to the next ``count`` notices):
``notice_duplicate``, ``notice_drop``, ``notice_reorder`` (held back and sent after the next one).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from kisoms.sim.scenario import FaultSpec

REST_KINDS = {"delay", "drop_response", "error_before_accept", "error_after_accept", "reset_before_accept",
              "reset_after_accept", "rate_limit", "token_expired", "garbled_after_accept", "truncated_after_accept"}
SPOILED_BODY_KINDS = {"garbled_after_accept", "truncated_after_accept"}
GARBLED_BODY = b"\x8b\x00<<rt_cd=0 \xff\xfe garbled>>"
NOTICE_KINDS = {"notice_duplicate", "notice_drop", "notice_reorder"}


def spoiled_reply(kind: str, response: web.StreamResponse) -> web.Response:
    """HTTP 200 after the request was processed, with a body that does not parse: garbled bytes, or the
    real JSON body cut in half. KIS's headers (tr_id, gt_uid) are kept."""
    body = response.body if isinstance(response, web.Response) and isinstance(response.body, bytes) else b""
    text = GARBLED_BODY if kind == "garbled_after_accept" else body[:len(body) // 2]
    headers = {k: v for k, v in response.headers.items() if k.lower() in ("tr_id", "gt_uid", "tr_cont")}
    return web.Response(body=text, status=200, content_type="application/json", headers=headers)


@dataclass
class ArmedFault:
    spec: FaultSpec
    seen: int = 0
    fired: int = 0

    def matches(self, path: str, tr_id: str) -> bool:
        s = self.spec
        return (s.path is None or path.endswith(s.path)) and (s.tr_id is None or s.tr_id == tr_id)

    def take(self) -> bool:
        """Count a matching call; True if the fault fires on it."""
        self.seen += 1
        if self.seen >= self.spec.nth and self.fired < self.spec.count:
            self.fired += 1
            return True
        return False

    @property
    def spent(self) -> bool:
        return self.fired >= self.spec.count


@dataclass
class FaultBook:
    armed: list[ArmedFault] = field(default_factory=list)
    log: list[dict] = field(default_factory=list)

    def add(self, spec: FaultSpec) -> None:
        if spec.kind not in REST_KINDS | NOTICE_KINDS:
            raise ValueError(f"unknown fault kind {spec.kind!r}; known: {sorted(REST_KINDS | NOTICE_KINDS)}")
        self.armed.append(ArmedFault(spec))

    def clear(self) -> None:
        self.armed.clear()

    def rest_fault(self, path: str, tr_id: str) -> FaultSpec | None:
        """The fault that fires on this call, if any (one at most)."""
        for fault in self.armed:
            if fault.spec.kind in REST_KINDS and not fault.spent and fault.matches(path, tr_id) and fault.take():
                self.log.append({"kind": fault.spec.kind, "path": path, "tr_id": tr_id})
                return fault.spec
        return None

    def notice_fault(self) -> str | None:
        for fault in self.armed:
            if fault.spec.kind in NOTICE_KINDS and not fault.spent and fault.take():
                self.log.append({"kind": fault.spec.kind})
                return fault.spec.kind
        return None

    def as_list(self) -> list[dict]:
        return [{**f.spec.model_dump(), "seen": f.seen, "fired": f.fired} for f in self.armed]
