"""KIS execution notices (체결통보, H0STCNI0/H0STCNI9): decrypt a frame, parse its records by field name.

A data frame is ``<enc>|<tr_id>|<count>|<payload>``; ``enc`` "1" means the payload is base64 of
AES-256-CBC ciphertext (key = the 32-character key string, iv = the 16-character iv string from the
subscribe reply, PKCS#7 padding). Fields are ``^``-separated, ``count`` records back to back.

KIS has changed the field list before (23 → 26 fields, without notice), and the old layout is not the new
one cut short: after ODER_QTY the old one has ACNT_NAME, CNTG_ISNM, CRDT_CLS, CRDT_LOAN_DATE, CNTG_ISNM40,
ODER_PRC. Each record is named against the layout its own field count says (``LAYOUTS``); an unknown count is
read against the current layout (fields beyond it kept in ``extra``), and a record too short for the
required fields is an error. A change of layout is logged once per process.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass, field
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from kisoms.domain.codes import Side
from kisoms.errors import BrokerProtocolError

log = logging.getLogger(__name__)

FIELDS = (
    "CUST_ID", "ACNT_NO", "ODER_NO", "OODER_NO", "SELN_BYOV_CLS", "RCTF_CLS", "ODER_KIND", "ODER_COND",
    "STCK_SHRN_ISCD", "CNTG_QTY", "CNTG_UNPR", "STCK_CNTG_HOUR", "RFUS_YN", "CNTG_YN", "ACPT_YN", "BRNC_NO",
    "ODER_QTY", "ACNT_NAME", "ORD_COND_PRC", "ORD_EXG_GB", "POPUP_YN", "FILLER", "CRDT_CLS", "CRDT_LOAN_DATE",
    "CNTG_ISNM40", "ODER_PRC",
)
LEGACY_FIELDS = FIELDS[:17] + ("ACNT_NAME", "CNTG_ISNM", "CRDT_CLS", "CRDT_LOAN_DATE", "CNTG_ISNM40", "ODER_PRC")
LAYOUTS = {len(FIELDS): FIELDS, len(LEGACY_FIELDS): LEGACY_FIELDS}  # field count -> layout
REQUIRED = FIELDS.index("ODER_QTY") + 1  # everything kisoms acts on (the same first fields in both layouts)
NOTICE_TR_IDS = frozenset({"H0STCNI0", "H0STCNI9"})
_seen_layouts: set[int] = set()
_PERSONAL = frozenset({"ACNT_NAME", "CUST_ID"})  # fields ``as_dict`` leaves out
# per layout (its field names in order): (field, its name in ``as_dict``) of the fields kept, sorted by name
_SORTED = {layout: tuple(sorted(((k, k.lower()) for k in layout if k not in _PERSONAL), key=lambda kn: kn[1]))
           for layout in LAYOUTS.values()}


def decrypt(payload: str, key: str, iv: str) -> str:
    """AES-256-CBC + base64 → text. Bad base64, a wrong key or bad padding is a BrokerProtocolError."""
    try:
        data = base64.b64decode(payload, validate=True)
        decryptor = _cipher(key, iv).decryptor()  # a fresh one per frame: each frame starts at the iv
        return _unpad(decryptor.update(data) + decryptor.finalize()).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise BrokerProtocolError(f"notice payload does not decrypt: {type(exc).__name__}") from None


@lru_cache(maxsize=8)
def _cipher(key: str, iv: str) -> Cipher:
    """The cipher of one subscription's key and iv, built once (building it costs as much as a decryption)."""
    return Cipher(algorithms.AES(key.encode()), modes.CBC(iv.encode()))


def _unpad(data: bytes) -> bytes:
    """``data`` without its PKCS#7 padding (1 to 16 bytes, each holding the count); ValueError if it has none."""
    count = data[-1] if data else 0
    if not 1 <= count <= 16 or data[-count:] != bytes((count,)) * count:
        raise ValueError("bad PKCS#7 padding")
    return data[:-count]


def _int(value: str | None) -> int:
    text = (value or "").strip()
    return int(text) if text.lstrip("-").isdigit() else 0


@dataclass(frozen=True)
class ExecutionNotice:
    """One notice: an acceptance/confirmation/refusal (CNTG_YN=1) or a fill (CNTG_YN=2)."""

    fields: dict[str, str]
    extra: tuple[str, ...] = field(default=())

    def get(self, name: str) -> str:
        return (self.fields.get(name) or "").strip()

    @property
    def odno(self) -> str:
        return self.get("ODER_NO")

    @property
    def orgn_odno(self) -> str:
        return self.get("OODER_NO")

    @property
    def acnt_no(self) -> str:
        return self.get("ACNT_NO")

    @property
    def side(self) -> Side | None:
        return {"01": Side.SELL, "02": Side.BUY}.get(self.get("SELN_BYOV_CLS"))

    @property
    def rctf_cls(self) -> str:
        return self.get("RCTF_CLS")

    @property
    def symbol(self) -> str:
        return self.get("STCK_SHRN_ISCD")

    @property
    def cntg_qty(self) -> int:
        return _int(self.fields.get("CNTG_QTY"))

    @property
    def cntg_unpr(self) -> int:
        return _int(self.fields.get("CNTG_UNPR"))

    @property
    def cntg_hour(self) -> str:
        return self.get("STCK_CNTG_HOUR")

    @property
    def refused(self) -> bool:
        return self.get("RFUS_YN") == "1"

    @property
    def is_fill(self) -> bool:
        return self.get("CNTG_YN") == "2"

    @property
    def oder_qty(self) -> int:
        return _int(self.fields.get("ODER_QTY"))

    @property
    def oder_prc(self) -> int:
        return _int(self.fields.get("ODER_PRC"))

    def fill_terms(self) -> tuple[str, str, int, int] | None:
        """(``odno``, ``cntg_hour``, ``cntg_qty``, ``cntg_unpr``) of a fill notice (``is_fill``) with a quantity
        and a price (both > 0); None for any other notice. One call for what a burst of fills reads of each."""
        if not self.is_fill:
            return None
        qty, price = self.cntg_qty, self.cntg_unpr
        if qty <= 0 or price <= 0:
            return None
        return self.odno, self.cntg_hour, qty, price

    def as_dict(self) -> dict:
        """Every field by name (account name and customer id left out: not needed, personal), names in
        sorted order when the fields are a layout's (the order canonical JSON writes them in: sorting a
        sorted list is one pass)."""
        fields = self.fields
        names = _SORTED.get(tuple(fields))
        if names is None:
            data = {k.lower(): v for k, v in fields.items() if k not in _PERSONAL}
        else:
            data = {name: fields[k] for k, name in names}
        if self.extra:
            data["extra"] = list(self.extra)
        return data


def _note_layout(count: int) -> None:
    if count not in _seen_layouts:
        if _seen_layouts:
            log.warning("execution notice layout changed: %d fields (known layout has %d)", count, len(FIELDS))
        _seen_layouts.add(count)


def parse_records(text: str, count: int) -> list[ExecutionNotice]:
    """Split ``count`` records of ``^``-separated fields and name them."""
    values = text.split("^")
    if count <= 0 or len(values) % count:
        raise BrokerProtocolError(f"notice has {len(values)} fields, not divisible into {count} records")
    width = len(values) // count
    if width < REQUIRED:
        raise BrokerProtocolError(f"notice record has {width} fields; at least {REQUIRED} are needed")
    records = [values[i * width:(i + 1) * width] for i in range(count)]
    return [name_record(r) for r in records]


def name_record(values: list[str]) -> ExecutionNotice:
    """One record named against the layout its field count says (the current one for unknown counts)."""
    _note_layout(len(values))
    layout = LAYOUTS.get(len(values), FIELDS)
    return ExecutionNotice(dict(zip(layout, values)), tuple(values[len(layout):]))


@dataclass(frozen=True)
class Frame:
    """A data frame's header: encrypted flag, tr_id, record count, payload."""

    encrypted: bool
    tr_id: str
    count: int
    payload: str


def split_frame(raw: str) -> Frame:
    parts = raw.split("|", 3)
    if len(parts) != 4 or parts[0] not in ("0", "1") or not parts[2].isdigit():
        raise BrokerProtocolError("not a KIS data frame (want enc|tr_id|count|payload)")
    return Frame(parts[0] == "1", parts[1], int(parts[2]), parts[3])


def parse_frame(raw: str, keys: dict[str, tuple[str, str]]) -> list[ExecutionNotice]:
    """Notices in a data frame; ``keys`` maps tr_id → (key, iv) from the subscribe replies."""
    frame = split_frame(raw)
    if frame.tr_id not in NOTICE_TR_IDS:
        raise BrokerProtocolError(f"unexpected tr_id {frame.tr_id!r} in a data frame")
    text = frame.payload
    if frame.encrypted:
        if frame.tr_id not in keys:
            raise BrokerProtocolError(f"no key/iv for {frame.tr_id}: subscribe reply not seen")
        text = decrypt(frame.payload, *keys[frame.tr_id])
    return parse_records(text, frame.count)
