"""Removing secrets from anything that may reach logs, audit payloads or error messages.

``redact(payload)`` returns a deep copy of a JSON-like structure (dicts, lists, tuples, scalars) in which

- the value of every secret key is replaced by ``***``. Keys match case-insensitively and ignoring ``-``
  and ``_`` (``appkey``, ``AppKey``, ``app_key`` and ``app-key`` are one key): the names in
  ``SECRET_KEYS``, and any name ending in one of ``SECRET_SUFFIXES`` (``refresh_token``, ``client_secret``);
- a string that is a bearer token (``"Bearer eyJ..."``) becomes ``***``; a bearer token (8+ characters)
  or a JWT inside a longer string (an error message, a log line) is masked in place.

Keys such as ``access_token_token_expired`` (an expiry time) or ``token_type`` ("Bearer") are not secret.
Tuples come back as lists (JSON has no tuples); dict keys are kept as they are.
"""

from __future__ import annotations

import copy
import functools
import re
from typing import Any

MASK = "***"
# Normalised: lower case, without "-" and "_".
SECRET_KEYS = frozenset({
    "appkey", "appsecret", "secretkey", "authorization", "accesstoken", "approvalkey", "token", "hashkey",
    "secret", "password", "passwd", "apikey", "privatekey", "cookie", "setcookie", "proxyauthorization",
})
SECRET_SUFFIXES = ("token", "secret", "password", "appkey", "apikey", "secretkey", "approvalkey")

_WHOLE_BEARER = re.compile(r"\s*bearer\s+\S+\s*", re.IGNORECASE)
_BEARER_IN_TEXT = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}")
# No \b before "eyJ": a JWT glued to a word ("tokeneyJ...", "key_eyJ...") is still a JWT.
_JWT_IN_TEXT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def normalise_key(key: str) -> str:
    """``"App-Key"`` -> ``"appkey"``: the form secret names are compared in."""
    return key.strip().lower().replace("-", "").replace("_", "")


def is_secret_key(key: Any) -> bool:
    """True when the value under ``key`` must never be shown."""
    return isinstance(key, str) and _is_secret_name(key)


@functools.lru_cache(maxsize=4096)  # payload keys repeat endlessly: decide each name once
def _is_secret_name(key: str) -> bool:
    name = normalise_key(key)
    return name in SECRET_KEYS or name.endswith(SECRET_SUFFIXES)


def redact_text(text: str) -> str:
    """``***`` for a bearer token; otherwise the text with embedded bearer tokens and JWTs masked."""
    if "eyJ" not in text and "earer" not in text.lower():
        return text  # the common case: nothing that could be a token
    if _WHOLE_BEARER.fullmatch(text):
        return MASK
    return _JWT_IN_TEXT.sub(MASK, _BEARER_IN_TEXT.sub(rf"\1 {MASK}", text))


_IMMUTABLE_SCALARS = (int, float, type(None))  # bool is an int; nothing to copy or mask in them


def redact(payload: Any) -> Any:
    """A deep copy of JSON-like ``payload`` with secret values replaced by ``***``."""
    if type(payload) in _IMMUTABLE_SCALARS or isinstance(payload, bool):
        return payload
    if isinstance(payload, dict):
        return {k: MASK if is_secret_key(k) else redact(v) for k, v in payload.items()}
    if isinstance(payload, (list, tuple)):
        return [redact(v) for v in payload]
    if isinstance(payload, str):
        masked = redact_text(payload)
        return payload if masked == payload else masked  # keeps str subclasses (enums) intact
    return copy.deepcopy(payload)
