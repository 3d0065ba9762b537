"""kisoms: an order management and execution system for the KIS Open API (domestic stocks)."""

__version__ = "0.1.0"
