"""Today's price band per symbol (base price, upper and lower limit, instrument kind), fetched once per
symbol per KST day and shared by every kisoms process through a small file in the state dir.

KRX fixes the band for the whole trading day, so one inquire-price per symbol per day is enough to
validate orders against it. Only a complete band is kept (the upper limit known, explicitly or from the
base price): with it, validation never needs the last price, so its results are those of a fresh quote.
A broker refusal for a price-limit reason drops the symbol's band, and the next order fetches it again.
Each process keeps the bands in memory and stats the file per lookup (not a read): when another process
changed it (dropped a band), the memory is dropped and the file read again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from kisoms.domain.codes import InstrumentKind
from kisoms.domain.policy import MarketReference
from kisoms.kis.filestate import locked_state

BANDS_FILE = "price-bands.json"


def _as_entry(ref: MarketReference) -> list:
    return [ref.base_price, ref.upper_limit, ref.lower_limit, ref.kind.value]


def _from_entry(raw: object) -> MarketReference | None:
    """A band read back from the file; anything unreadable is no band."""
    if not (isinstance(raw, list) and len(raw) == 4):
        return None
    try:
        prices = [None if v is None else int(v) for v in raw[:3]]
        ref = MarketReference(base_price=prices[0], upper_limit=prices[1], lower_limit=prices[2],
                              kind=InstrumentKind(raw[3]))
    except (TypeError, ValueError):
        return None
    return ref if complete(ref) else None


def complete(ref: MarketReference) -> bool:
    """A band validation can use without the last price (its upper limit is known)."""
    return ref.limits()[1] is not None


@dataclass
class BandCache:
    """Bands of one venue for one state dir: in memory, backed by ``BANDS_FILE``."""

    state_dir: Path
    venue: str  # e.g. "real|https://openapi..." : bands of different venues never mix
    memory: dict[tuple[str, str], MarketReference] = field(default_factory=dict)
    seen: tuple[int, int, int] | None = None  # the file (inode, mtime, size) ``memory`` agrees with

    @property
    def path(self) -> Path:
        return self.state_dir / BANDS_FILE

    def _day_key(self, day: str) -> str:
        return f"{self.venue}|{day}"

    def _follow_file(self) -> None:
        """Forget the bands held in memory once the shared file changed (another process dropped or added
        one; every write replaces the file): one stat per lookup instead of reading the file."""
        try:
            st = os.stat(self.path)
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if stamp != self.seen:
            self.memory.clear()
            self.seen = stamp

    def get(self, symbol: str, day: str) -> MarketReference | None:
        """Today's band if this process or another has fetched it (and no process has dropped it since)."""
        self._follow_file()
        hit = self.memory.get((symbol, day))
        if hit is None:
            with locked_state(self.path, durable=False) as state:
                hit = _from_entry((state.get(self._day_key(day)) or {}).get(symbol))
            if hit is not None:
                self.memory[(symbol, day)] = hit
        return hit

    def put(self, symbol: str, day: str, ref: MarketReference) -> None:
        """Keep a complete band for the day (older days are dropped from the file)."""
        if not complete(ref):
            return
        band = MarketReference(base_price=ref.base_price, upper_limit=ref.upper_limit,
                               lower_limit=ref.lower_limit, kind=ref.kind)
        self.memory[(symbol, day)] = band
        with locked_state(self.path, durable=False) as state:
            todays = state.get(self._day_key(day))
            todays = todays if isinstance(todays, dict) else {}
            state.clear()
            state[self._day_key(day)] = {**todays, symbol: _as_entry(band)}

    def drop(self, symbol: str) -> None:
        """Forget the symbol's band (the broker refused an order for a price-limit reason)."""
        for key in [k for k in self.memory if k[0] == symbol]:
            del self.memory[key]
        with locked_state(self.path, durable=False) as state:
            for todays in state.values():
                if isinstance(todays, dict):
                    todays.pop(symbol, None)


_caches: dict[tuple[Path, str], BandCache] = {}


def band_cache(state_dir: Path, venue: str) -> BandCache:
    """The process-wide cache for a state dir and venue."""
    key = (Path(state_dir), venue)
    if key not in _caches:
        _caches[key] = BandCache(Path(state_dir), venue)
    return _caches[key]
