"""The commands after which alerts are delivered (a module of its own: the CLI reads it on every start)."""

ALERT_COMMANDS = frozenset({"submit", "modify", "cancel", "reconcile", "resolve", "halt", "resume", "watch"})
