"""Live fills (EMS-03): execution notices over the KIS WebSocket, with REST gap-fill and polling.

After every (re)connect the open orders are gap-filled from inquire-daily-ccld, because KIS does not
replay notices missed while disconnected. Without a WebSocket (``--poll``, no ws_url, or paper mode
where KIS may send no notices) the same reconcile runs at a fixed interval within the rate limit.
Every change is published as a ledger event in the same transaction that made it, so any number of
viewers (``kisoms watch``, ``kisoms events``) can follow from the events table.

Notices arrive in bursts, so the watcher applies every notice already received in one transaction (one
fsync; at most ``MAX_BATCH``). A burst of plain fills (the bulk of a busy feed) is written at once, one
statement per table (``notices.apply_fills``); any other burst, or one of which anything is unusual
(an unknown order, a known key, an overfill, an acknowledgement...), is applied one notice at a time,
each a SAVEPOINT inside the transaction: one that fails leaves no trace and the rest are kept, except
that a run of ``MIN_RUN`` or more fill notices in it (between two acknowledgements, say) is written at
once as a burst of its own when it is plain fills. Nothing is
visible to a viewer before the batch commits, so no event is shown that a crash could take back; a crash
before the commit loses the batch's notices from the ledger only, and the gap-fill (reconcile from the
broker's books) that every (re)start runs brings their effect back.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from kisoms.engine.collector import collector_paused
from kisoms.engine.crashpoints import crash_point
from kisoms.engine.notices import apply_fills, apply_notice, fill_runs
from kisoms.engine.reconcile import reconcile
from kisoms.engine.recovery import recover
from kisoms.engine.runtime import Runtime
from kisoms.errors import KisomsError
from kisoms.kis.notices import ExecutionNotice
from kisoms.kis.ws import ConnectionState, NoticeStream

log = logging.getLogger(__name__)
SOURCE = "watch"
MAX_BATCH = 1000  # notices per transaction: bounds the write-lock hold and the memory of one burst
MIN_RUN = 8  # fill notices in a row that a burst with other notices in it writes at once (fewer gain nothing)


@dataclass
class WatchStatus:
    """What the viewer shows about the feed."""

    mode: str = "starting"  # connected | reconnecting | polling
    last_heartbeat: float | None = None
    notices: int = 0
    gap_fills: int = 0


class Watcher:
    """Runs the notice feed (or polling) against one runtime until ``stop`` is set."""

    def __init__(self, rt: Runtime, *, poll: bool = False):
        self.rt = rt
        self.poll = poll or not rt.connection.ws_url
        self.status = WatchStatus()
        self._recheck = False

    def gap_fill(self) -> None:
        """Bring every open order up to the broker's books (notices may have been missed)."""
        try:
            report = reconcile(self.rt)
            self.status.gap_fills += 1
            if not report.in_sync:
                log.info("gap-fill corrected %d orders", len(report.changes))
        except KisomsError as exc:
            self.rt.ledger.publish("watch.gap_fill_failed", {"error": str(exc)})
        except Exception as exc:  # a bug must not silence the feed: say so, keep watching
            log.exception("gap-fill failed")
            self.rt.ledger.publish("watch.gap_fill_failed", {"error": f"{type(exc).__name__}: {exc}"})

    def _state(self, mode: str, detail: str = "") -> None:
        if mode != self.status.mode:
            self.status.mode = mode
            self.rt.ledger.publish("connection." + mode, {"detail": detail})

    async def run(self, stop: asyncio.Event) -> None:
        recover(self.rt, SOURCE)
        if self.poll:
            await self.poll_loop(stop)
        else:
            await self.stream_loop(stop)

    async def poll_loop(self, stop: asyncio.Event) -> None:
        self._state("polling", f"every {self.rt.settings.watch.poll_interval}s")
        while not stop.is_set():
            self.gap_fill()
            self.status.last_heartbeat = self.rt.clock.monotonic()
            try:
                await asyncio.wait_for(stop.wait(), self.rt.settings.watch.poll_interval)
            except asyncio.TimeoutError:
                pass

    async def stream_loop(self, stop: asyncio.Event) -> None:
        stream = NoticeStream(self.rt.connection, self.rt.client.issue_approval_key,
                              max_backoff=self.rt.settings.watch.reconnect_max_delay)
        consumer = asyncio.create_task(self._consume(stream))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({consumer, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if consumer.done() and not stop.is_set():  # the feed ended on its own: say why, do not hide it
            await stream.close()
            consumer.result()
            raise KisomsError("the notice stream ended unexpectedly")
        await stream.close()
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)

    async def _consume(self, stream: NoticeStream) -> None:
        async for item in stream:
            if isinstance(item, ConnectionState):
                self._guarded(self._on_state, item)
            else:
                notices, state = _burst(item, stream.queue)
                self.apply_notices(notices)
                if state is not None:
                    self._guarded(self._on_state, state)
            if self._recheck and stream.queue.empty():  # once per burst, not once per notice
                self._recheck = False
                self.gap_fill()

    def apply_notices(self, notices: list) -> None:
        """Apply a burst of notices in one durable transaction, each on its own (a savepoint)."""
        try:
            with collector_paused(), self.rt.ledger.batch():
                if not self._apply_plain_fills(notices):
                    self._apply_in_runs(notices)
        except Exception as exc:  # the batch did not commit (e.g. the ledger stayed busy): the books decide
            log.exception("could not commit %d notices", len(notices))
            self.rt.ledger.publish("notice.unapplied", {"error": f"{type(exc).__name__}: {exc}",
                                                        "notices": len(notices)})
            self._recheck = True
            return
        crash_point("watch_after_notice")

    def _apply_plain_fills(self, notices: list) -> bool:
        """The whole burst at once when every notice is a plain fill (``apply_fills``: one statement per
        table, the rows the one-by-one path writes). False, with nothing written, when one is not or the
        write fails: the burst is then applied one notice at a time, each failing alone as before."""
        try:
            applied = apply_fills(self.rt, notices)
        except Exception:  # (its savepoint is undone) the one-by-one path will say what fails
            log.warning("could not apply %d fill notices at once; applying them one by one", len(notices),
                        exc_info=True)
            return False
        if applied is None:
            return False
        crash_point("watch_in_fill_batch")  # (the burst written, its transaction not committed)
        self.status.notices += applied
        self.status.last_heartbeat = self.rt.clock.monotonic()
        return True

    def _apply_in_runs(self, notices: list) -> None:
        """A burst not applied at once, in notice order: each run of at least ``MIN_RUN`` fill notices in a
        row (between acknowledgements, say) at once when it is plain fills (``_apply_plain_fills``), every
        other notice one at a time, as before. All in the burst's transaction; the rows are those of the
        one-at-a-time path either way."""
        for is_fills, run in fill_runs(notices):
            if is_fills and MIN_RUN <= len(run) < len(notices) and self._apply_plain_fills(run):
                continue
            for notice in run:
                self._guarded(self._apply_one, notice)

    def _apply_one(self, notice) -> None:
        """One notice of a batch, in its own savepoint: if it fails, none of its writes stay."""
        with self.rt.ledger.savepoint():
            self._on_notice(notice)

    def _guarded(self, handle, item) -> None:
        """One item; a failure must not stop the feed: it is published, and the books get a look."""
        try:
            handle(item)
        except Exception as exc:
            log.exception("could not apply %r", item)
            self.rt.ledger.publish("notice.unapplied", {"error": f"{type(exc).__name__}: {exc}"})
            self._recheck = True

    def _on_state(self, state: ConnectionState) -> None:
        self.status.last_heartbeat = self.rt.clock.monotonic()
        if state.kind == "connected":
            self._state("connected", state.detail)
            self.gap_fill()
        elif state.kind == "heartbeat":
            return
        else:
            self._state("reconnecting", state.detail)

    def _on_notice(self, notice) -> None:
        self.status.notices += 1
        self.status.last_heartbeat = self.rt.clock.monotonic()
        result = apply_notice(self.rt, notice)
        crash_point("watch_after_notice")
        # duplicate/deferred: the cumulative books decide (see notices.py). external: the number may be
        # ours, its reply not recorded yet.
        if result.outcome in ("duplicate", "deferred", "external"):
            self._recheck = True


def _burst(first, queue: asyncio.Queue) -> tuple[list, ConnectionState | None]:
    """``first`` and the notices already waiting behind it (up to ``MAX_BATCH``), and the connection
    state that ended the burst, if one did (it is handled after the burst's notices, in order)."""
    notices = [first]
    while len(notices) < MAX_BATCH and not queue.empty():
        item = queue.get_nowait()
        if isinstance(item, ConnectionState):
            return notices, item
        if not isinstance(item, ExecutionNotice):  # the stream's end marker: leave it for the iterator
            queue.put_nowait(item)
            return notices, None
        notices.append(item)
    return notices, None
