"""Admin and fault-injection endpoints (not part of KIS), under ``/_sim`` on the REST port.

- ``GET  /_sim/health``                         → {"ok": true}
- ``POST /_sim/faults`` {kind, path?, tr_id?, nth?, count?, seconds?}  arm a fault (see ``faults.py``)
- ``GET  /_sim/faults`` / ``DELETE /_sim/faults`` list / clear faults; ``GET /_sim/faults/log`` what fired
- ``POST /_sim/price`` {symbol, price}          move a price; open orders that become marketable fill
- ``POST /_sim/fill`` {odno, qty, price?}       force a (partial) fill of one order
- ``GET  /_sim/orders?account=CANO-PRDT``       the broker's books (inquire-daily-ccld rows, all days)
- ``GET  /_sim/notices``                        every notice sent, by field name
- ``POST /_sim/ws/disconnect``                  drop every WebSocket connection
- ``POST /_sim/config`` {auto_fill?, fill_slices?, fill_delay?, notice_layout?, paper_no_notices?,
  token_min_interval?, rate_limit_per_sec?, page_size?, page_sizes?}   change behaviour at run time
"""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from kisoms.sim.host import SimHost
from kisoms.sim.scenario import FaultSpec, Scenario

CONFIG_KEYS = {"auto_fill", "fill_slices", "fill_delay", "notice_layout", "paper_no_notices", "token_min_interval",
               "rate_limit_per_sec", "page_size", "page_sizes"}


def admin_routes(sim: SimHost) -> list[web.RouteDef]:
    async def health(request):
        return web.json_response({"ok": True})

    async def add_fault(request):
        try:
            sim.faults.add(FaultSpec.model_validate(await request.json()))
        except (ValidationError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"faults": sim.faults.as_list()})

    async def list_faults(request):
        return web.json_response({"faults": sim.faults.as_list()})

    async def clear_faults(request):
        sim.faults.clear()
        return web.json_response({"faults": []})

    async def fault_log(request):
        return web.json_response({"log": sim.faults.log})

    async def price(request):
        data = await request.json()
        sim.set_price(str(data["symbol"]), int(data["price"]))
        return web.json_response({"symbol": data["symbol"], "price": sim.venue.prices[str(data["symbol"])]})

    async def fill(request):
        data = await request.json()
        events = sim.force_fill(str(data["odno"]), int(data["qty"]), data.get("price"))
        return web.json_response({"filled": sum(e.qty for e in events)})

    async def orders(request):
        return web.json_response({"orders": sim.books(request.query.get("account", ""), "", "", "", "", "00", "00")})

    async def notices(request):
        return web.json_response({"notices": sim.notices_sent})

    async def disconnect(request):
        return web.json_response({"closed": await sim.disconnect_all()})

    async def config(request):
        data = await request.json()
        unknown = set(data) - CONFIG_KEYS
        if unknown:
            return web.json_response({"error": f"unknown keys {sorted(unknown)}"}, status=400)
        if "page_sizes" in data:
            data["page_sizes"] = {**sim.scenario.page_sizes, **data["page_sizes"]}
        try:
            sim.scenario = Scenario.model_validate({**sim.scenario.model_dump(), **data})
        except ValidationError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        sim.venue.scenario = sim.scenario
        return web.json_response({k: getattr(sim.scenario, k) for k in CONFIG_KEYS})

    return [web.get("/_sim/health", health), web.post("/_sim/faults", add_fault), web.get("/_sim/faults", list_faults),
            web.delete("/_sim/faults", clear_faults), web.get("/_sim/faults/log", fault_log),
            web.post("/_sim/price", price), web.post("/_sim/fill", fill), web.get("/_sim/orders", orders),
            web.get("/_sim/notices", notices), web.post("/_sim/ws/disconnect", disconnect),
            web.post("/_sim/config", config)]
