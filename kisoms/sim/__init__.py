"""A KIS-faithful protocol simulator: REST + WebSocket venue with matching and fault injection."""
