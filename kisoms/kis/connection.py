"""How to reach KIS: URLs, credentials, protocol options. Built by the engine from config."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_RATE = {"real": 20.0, "sim": 20.0, "paper": 2.0}  # requests per second per app key
DEFAULT_RATE_MARGIN = 0.01  # paced at 99% of the rate (smooth, no bursts); the limiter counts each request
# from its grant to its reply, so a late arrival at the server cannot crowd a second (see kis/ratelimit.py)


def default_rate(env: str) -> float:
    """KIS's documented per-app-key request rate for an environment."""
    return DEFAULT_RATE.get(env, 2.0)


@dataclass(frozen=True)
class KisConnection:
    """Everything the client needs. Its repr never shows the secret (nor the whole app key)."""

    env: str
    rest_url: str
    ws_url: str
    app_key: str = field(repr=False)
    app_secret: str = field(repr=False)
    custtype: str = "P"
    hts_id: str = ""
    tr_id_generation: str = "current"
    use_hashkey: bool = False
    rate_per_sec: float = 20.0
    rate_margin: float = DEFAULT_RATE_MARGIN
    connect_timeout: float = 3.0
    read_timeout: float = 7.0
    state_dir: Path = Path(".")

    def __repr__(self) -> str:
        return (f"KisConnection(env={self.env!r}, rest_url={self.rest_url!r}, ws_url={self.ws_url!r}, "
                f"app_key={self.app_key[:4]}…, hts_id={self.hts_id!r})")
