"""Removing secrets from anything that may reach logs, audit payloads or error messages."""

from __future__ import annotations

from typing import Any

MASK = "***"
SECRET_KEYS = frozenset({
    "appkey", "appsecret", "secretkey", "authorization", "access_token", "approval_key", "token", "hashkey",
    "app_key", "app_secret", "secret", "password",
})


def _is_secret_key(key: Any) -> bool:
    return isinstance(key, str) and key.strip().lower() in SECRET_KEYS


def _looks_like_bearer(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower().startswith("bearer ")


def redact(payload: Any) -> Any:
    """A deep copy of JSON-like ``payload`` with secret values replaced by ``***``."""
    if isinstance(payload, dict):
        return {k: MASK if _is_secret_key(k) else redact(v) for k, v in payload.items()}
    if isinstance(payload, (list, tuple)):
        return [redact(v) for v in payload]
    if _looks_like_bearer(payload):
        return MASK
    return payload
