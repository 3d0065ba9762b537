"""Scenario: who may connect (app keys), accounts with cash and holdings, symbols with prices, behaviour."""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kisoms.domain.codes import InstrumentKind


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AppKey(_Model):
    app_key: str
    app_secret: str
    env: Literal["real", "paper"] = "real"  # which host takes it when the scenario's env is "split"


class SimAccount(_Model):
    cano: str = Field(pattern=r"^\d{8}$")
    acnt_prdt_cd: str = Field(default="01", pattern=r"^\d{2}$")
    hts_id: str
    name: str = "모의고객"
    cash: int = 100_000_000
    holdings: dict[str, int] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.cano}-{self.acnt_prdt_cd}"


class SimSymbol(_Model):
    code: str
    name: str
    base_price: int = Field(gt=0)
    price: int | None = None  # current; default = base
    kind: InstrumentKind = InstrumentKind.STOCK


class FaultSpec(_Model):
    kind: str
    path: str | None = None
    tr_id: str | None = None
    nth: int = 1  # the Nth matching call triggers it
    count: int = 1  # and this many matching calls from there
    seconds: float = 30.0  # for delays and held responses


# Rows per page of the paged inquiries, per host (KIS's docstrings: daily-ccld 100 real / 15 paper, balance
# 50 / 20; psbl-rvsecncl's page size is unconfirmed).
DEFAULT_PAGE_SIZES = {"daily_ccld_real": 100, "daily_ccld_paper": 15, "balance_real": 50, "balance_paper": 20,
                      "psbl_rvsecncl_real": 50, "psbl_rvsecncl_paper": 50}


class Scenario(_Model):
    """``env``: "split" (as KIS: a real host and a paper host, each taking only its own app keys and tr_ids),
    "real" / "paper" (one host, that env's tr_ids), or "any" (permissive: one host, every key, every tr_id)."""

    env: Literal["split", "real", "paper", "any"] = "split"
    app_keys: list[AppKey]
    accounts: list[SimAccount]
    symbols: list[SimSymbol]
    rate_limit_per_sec: float | None = None  # default: 20 real/any, 2 paper
    token_min_interval: float = 60.0  # KIS refuses a second token within a minute (EGW00133)
    token_ttl: int = 86_400
    auto_fill: bool = True  # marketable orders fill on arrival; others when the price moves
    fill_slices: int = 1  # a fill is cut into this many notices
    fill_delay: float = 0.0  # seconds between slices
    random_walk: bool = False
    enforce_hours: bool = False
    notice_layout: Literal["current", "legacy"] = "current"
    paper_no_notices: bool = False
    pingpong_interval: float = 10.0
    page_size: int | None = None  # overrides every page size below when set
    page_sizes: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_PAGE_SIZES))
    faults: list[FaultSpec] = Field(default_factory=list)

    def rate_limit(self, host_env: str | None = None) -> float:
        """Requests per second per app key: the override, else KIS's 20 (real) / 2 (paper)."""
        return self.rate_limit_per_sec or (2.0 if (host_env or self.env) == "paper" else 20.0)

    def rows_per_page(self, inquiry: str, host_env: str) -> int:
        """Page size of ``inquiry`` (daily_ccld, balance, psbl_rvsecncl) on a real or paper host."""
        env = "paper" if host_env == "paper" else "real"
        return self.page_size or self.page_sizes.get(f"{inquiry}_{env}", DEFAULT_PAGE_SIZES[f"{inquiry}_{env}"])

    def key_env(self, app_key: str) -> str | None:
        return next((k.env for k in self.app_keys if k.app_key == app_key), None)


def load_scenario(path: str | Path) -> Scenario:
    """A scenario from TOML or JSON."""
    text = Path(path).read_bytes()
    data = json.loads(text) if str(path).endswith(".json") else tomllib.loads(text.decode())
    return Scenario.model_validate(data)


def default_scenario() -> Scenario:
    """The built-in scenario: one account, five symbols, the credentials kisoms uses for env=sim."""
    text = resources.files("kisoms.sim").joinpath("default_scenario.toml").read_text(encoding="utf-8")
    return Scenario.model_validate(tomllib.loads(text))
