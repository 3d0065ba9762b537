"""KIS and KRX codes used by the domain: sides, order types (ORD_DVSN) and exchanges.

``ORDER_TYPES`` is the one table that maps an order type to its KIS ``ORD_DVSN`` code and to the
``ORD_UNPR`` rule (does the type carry a price, or must ``ORD_UNPR`` be "0").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Side(str, Enum):
    """Order side. ``kis_code`` is KIS's SLL_BUY_DVSN_CD / SELN_BYOV_CLS value."""

    BUY = "buy"
    SELL = "sell"

    @property
    def kis_code(self) -> str:
        return "02" if self is Side.BUY else "01"

    @classmethod
    def from_kis_code(cls, code: str) -> "Side":
        return {"02": cls.BUY, "01": cls.SELL}[code.strip()]


class Exchange(str, Enum):
    """Venue routing for EXCG_ID_DVSN_CD."""

    KRX = "KRX"
    NXT = "NXT"
    SOR = "SOR"


@dataclass(frozen=True)
class OrderTypeSpec:
    """One row of the ORD_DVSN table."""

    name: str
    ord_dvsn: str
    has_price: bool
    label: str
    confirmed: bool = True


class OrderType(str, Enum):
    """Order types kisoms accepts. ``spec`` gives the KIS code and the price rule."""

    LIMIT = "limit"
    MARKET = "market"
    CONDITIONAL_LIMIT = "conditional_limit"
    BEST_LIMIT = "best_limit"
    TOP_PRIORITY = "top_priority"
    PRE_MARKET_CLOSE = "pre_market_close"
    AFTER_HOURS_CLOSE = "after_hours_close"
    AFTER_HOURS_SINGLE = "after_hours_single"
    IOC_LIMIT = "ioc_limit"
    FOK_LIMIT = "fok_limit"
    IOC_MARKET = "ioc_market"
    FOK_MARKET = "fok_market"
    IOC_BEST = "ioc_best"
    FOK_BEST = "fok_best"
    MID_POINT = "mid_point"
    STOP_LIMIT = "stop_limit"

    @property
    def spec(self) -> OrderTypeSpec:
        return ORDER_TYPES[self]

    @property
    def ord_dvsn(self) -> str:
        return ORDER_TYPES[self].ord_dvsn

    @property
    def has_price(self) -> bool:
        return ORDER_TYPES[self].has_price

    @classmethod
    def from_ord_dvsn(cls, code: str) -> "OrderType":
        for order_type, spec in ORDER_TYPES.items():
            if spec.ord_dvsn == code:
                return order_type
        raise KeyError(f"unknown ORD_DVSN {code!r}")


def _row(t: OrderType, code: str, has_price: bool, label: str, confirmed: bool = True) -> tuple:
    return t, OrderTypeSpec(t.value, code, has_price, label, confirmed)


ORDER_TYPES: dict[OrderType, OrderTypeSpec] = dict(
    [
        _row(OrderType.LIMIT, "00", True, "지정가 limit"),
        _row(OrderType.MARKET, "01", False, "시장가 market"),
        _row(OrderType.CONDITIONAL_LIMIT, "02", True, "조건부지정가 conditional limit"),
        _row(OrderType.BEST_LIMIT, "03", False, "최유리지정가 best limit"),
        _row(OrderType.TOP_PRIORITY, "04", False, "최우선지정가 top priority"),
        _row(OrderType.PRE_MARKET_CLOSE, "05", False, "장전 시간외 pre-market close price"),
        _row(OrderType.AFTER_HOURS_CLOSE, "06", False, "장후 시간외 after-hours close price"),
        _row(OrderType.AFTER_HOURS_SINGLE, "07", True, "시간외 단일가 after-hours single price"),
        _row(OrderType.IOC_LIMIT, "11", True, "IOC 지정가 IOC limit"),
        _row(OrderType.FOK_LIMIT, "12", True, "FOK 지정가 FOK limit"),
        _row(OrderType.IOC_MARKET, "13", False, "IOC 시장가 IOC market"),
        _row(OrderType.FOK_MARKET, "14", False, "FOK 시장가 FOK market"),
        _row(OrderType.IOC_BEST, "15", False, "IOC 최유리 IOC best"),
        _row(OrderType.FOK_BEST, "16", False, "FOK 최유리 FOK best"),
        _row(OrderType.MID_POINT, "21", True, "중간가 mid-point (NXT)", confirmed=False),
        _row(OrderType.STOP_LIMIT, "22", True, "스톱지정가 stop-limit", confirmed=False),
    ]
)


def ord_unpr(order_type: OrderType, price: int | None) -> str:
    """The ORD_UNPR string KIS expects: the price for priced types, "0" otherwise."""
    if not order_type.has_price:
        return "0"
    if price is None or price <= 0:
        raise ValueError(f"{order_type.value} needs a positive price")
    return str(price)


class InstrumentKind(str, Enum):
    """Which KRX tick table applies."""

    STOCK = "stock"
    ETF = "etf"  # ETF, ETN and ELW share one table


ACCOUNT_PATTERN = r"^[0-9]{8}-[0-9]{2}$"  # ASCII digits only: \d would admit "５" or "²"


def split_account(account: str) -> tuple[str, str]:
    """"50000001-01" -> ("50000001", "01"): KIS's CANO and ACNT_PRDT_CD."""
    cano, _, prdt = account.partition("-")
    if len(cano) != 8 or len(prdt) != 2 or not (cano + prdt).isascii() or not (cano + prdt).isdigit():
        raise ValueError(f"account must look like 12345678-01, got {account!r}")
    return cano, prdt
