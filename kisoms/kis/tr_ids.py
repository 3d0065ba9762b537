"""Transaction ids (tr_id) per environment and generation: the one table to change when KIS renames one.

``sim`` uses the real ids. KIS's older docs used other ids for the same calls ("old" generation).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrIds:
    buy: str
    sell: str
    rvsecncl: str
    daily_ccld: str
    daily_ccld_old: str  # orders older than 3 months
    psbl_rvsecncl: str | None  # paper does not support it (unconfirmed)
    balance: str
    psbl_order: str
    price: str = "FHKST01010100"


TABLE: dict[tuple[str, str], TrIds] = {
    ("real", "current"): TrIds("TTTC0012U", "TTTC0011U", "TTTC0013U", "TTTC0081R", "CTSC9215R", "TTTC0084R",
                               "TTTC8434R", "TTTC8908R"),
    ("paper", "current"): TrIds("VTTC0012U", "VTTC0011U", "VTTC0013U", "VTTC0081R", "VTSC9215R", None,
                                "VTTC8434R", "VTTC8908R"),
    ("real", "old"): TrIds("TTTC0802U", "TTTC0801U", "TTTC0803U", "TTTC8001R", "CTSC9115R", "TTTC8036R",
                           "TTTC8434R", "TTTC8908R"),
    ("paper", "old"): TrIds("VTTC0802U", "VTTC0801U", "VTTC0803U", "VTTC8001R", "VTSC9115R", None,
                            "VTTC8434R", "VTTC8908R"),
}

NOTICE_TR_ID = {"real": "H0STCNI0", "sim": "H0STCNI0", "paper": "H0STCNI9"}


def tr_ids(env: str, generation: str = "current") -> TrIds:
    """The tr_id table for ``env`` (sim = real)."""
    return TABLE[("paper" if env == "paper" else "real", generation)]
