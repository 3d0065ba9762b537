"""ApprovedOrderIntent: what a trader or strategy asks for, before any validation against the market."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from kisoms.domain.codes import ACCOUNT_PATTERN, Exchange, OrderType, Side

# Sizes at the boundary: what no real order needs is refused before it reaches the ledger or the broker.
MAX_QTY = 9_999_999_999  # |qty| above this is a usage error; 0 and negatives are validation rejects (exit 3)
MAX_PRICE = 99_999_999  # KRW; with MAX_QTY the notional stays inside SQLite's 64-bit integers
MAX_TAGS = 32
MAX_TAG_KEY = 64
MAX_TAG_VALUE = 256
MAX_STRATEGY = 128

_ENUM_FIELDS = {"side": (Side, str.lower), "order_type": (OrderType, str.lower), "exchange": (Exchange, str.upper)}


class ApprovedOrderIntent(BaseModel):
    """An approved request to trade. Strict: unknown fields and loose types are errors."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    account: str = Field(pattern=ACCOUNT_PATTERN, description="CANO-ACNT_PRDT_CD, e.g. 50000001-01")
    strategy_version: str = Field(min_length=1, max_length=MAX_STRATEGY)
    symbol: str = Field(description="6-character KRX short code (7 for ETN), ASCII letters and digits")
    side: Side
    order_type: OrderType = OrderType.LIMIT
    qty: int = Field(ge=-MAX_QTY, le=MAX_QTY, description="shares; 0 or less is a validation reject")
    price: int | None = Field(default=None, ge=-MAX_PRICE, le=MAX_PRICE)
    signal_ts: datetime
    exchange: Exchange | None = None
    tags: dict[str, str] = Field(default_factory=dict, max_length=MAX_TAGS)

    @field_validator("symbol", mode="before")
    @classmethod
    def _symbol(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().upper()
            if len(value) not in (6, 7) or not (value.isascii() and value.isalnum()):
                raise ValueError("symbol must be a 6-character KRX short code (7 for ETN) in ASCII letters and "
                                 "digits, e.g. 005930")
        return value

    @field_validator("strategy_version")
    @classmethod
    def _printable(cls, value: str) -> str:
        if not value.isprintable() or value != value.strip():
            raise ValueError("strategy_version must be printable text without control characters or edge spaces")
        return value

    @field_validator("tags")
    @classmethod
    def _tag_sizes(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            if not key or len(key) > MAX_TAG_KEY or not key.isprintable():
                raise ValueError(f"tag keys are 1 to {MAX_TAG_KEY} printable characters")
            if len(text) > MAX_TAG_VALUE:
                raise ValueError(f"tag {key[:MAX_TAG_KEY]!r} is longer than {MAX_TAG_VALUE} characters")
        return value

    @field_validator("side", "order_type", "exchange", mode="before")
    @classmethod
    def _enum_text(cls, value: Any, info: ValidationInfo) -> Any:
        """Case-insensitive enum text ("buy", "BUY"; "krx", "KRX"), in JSON and Python input alike."""
        enum, fold = _ENUM_FIELDS[info.field_name]
        if not isinstance(value, str):
            return value
        try:
            return enum(fold(value.strip()))
        except ValueError:
            return value  # let pydantic name the allowed values

    @field_validator("signal_ts")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("signal_ts must carry a time zone (e.g. 2026-11-25T09:00:00+09:00)")
        return value

    @model_validator(mode="after")
    def _price_rule(self) -> "ApprovedOrderIntent":
        if self.order_type.has_price and self.price is None:
            raise ValueError(f"order_type {self.order_type.value} needs a price")
        if not self.order_type.has_price and self.price not in (None, 0):
            raise ValueError(f"order_type {self.order_type.value} takes no price (ORD_UNPR must be 0)")
        return self


def parse_intent(data: dict[str, Any] | str | bytes) -> ApprovedOrderIntent:
    """Build an intent from JSON text or JSON-like data, strictly (no "10" for 10, no naive times)."""
    text = data if isinstance(data, (str, bytes)) else json.dumps(data, default=str)
    return ApprovedOrderIntent.model_validate_json(text)
