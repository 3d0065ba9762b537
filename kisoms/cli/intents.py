"""Reading intents from a file or stdin: JSON (one object, pretty-printed or not, or a list) or JSON Lines.

Every way the input can be wrong ends as one UsageError naming the place (file, line or list index) and
the problem; nothing is recorded before the whole input has parsed.
"""

from __future__ import annotations

import json
import sys

from pydantic import ValidationError as PydanticValidationError

from kisoms.domain.intent import ApprovedOrderIntent, parse_intent
from kisoms.errors import UsageError

MAX_INPUT_BYTES = 4 * 1024 * 1024  # a batch of 10,000 intents fits easily
MAX_INTENTS = 10_000


def read_intents(path: str) -> list[ApprovedOrderIntent]:
    """Intents from ``path`` (``-`` = stdin), whole or not at all."""
    text = _text(_read_bytes(path), path)
    items = _json_items(text, path)
    if not items:
        raise UsageError(f"{path}: an empty list: no intent to submit")
    if len(items) > MAX_INTENTS:
        raise UsageError(f"{path}: {len(items)} intents; at most {MAX_INTENTS} per submit")
    return [intent_from_data(item, where) for where, item in items]


def _read_bytes(path: str) -> bytes:
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            with open(path, "rb") as fh:
                data = fh.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read intent file {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise UsageError(f"{path}: larger than {MAX_INPUT_BYTES // (1024 * 1024)} MB; split the batch")
    return data


def _text(data: bytes, path: str) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not a text file (byte {exc.start} is not UTF-8); give JSON or JSON Lines") from None
    if "\x00" in text:
        raise UsageError(f"{path}: not a text file (it contains NUL bytes); give JSON or JSON Lines")
    if not text.strip():
        raise UsageError(f"{path}: no intent in the input")
    return text


def _loads(text: str):
    try:
        return json.loads(text), None
    except RecursionError:
        return None, "nested too deeply"
    except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
        return None, str(exc)


def _json_items(text: str, path: str) -> list[tuple[str, object]]:
    """The input as (where, item) pairs: a JSON document first (so a pretty-printed object is one intent),
    else JSON Lines, one object per non-blank line."""
    whole, whole_error = _loads(text)
    if whole_error is None:
        if isinstance(whole, list):
            return [(f"{path}[{i}]", item) for i, item in enumerate(whole)]
        return [(path, whole)]
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if len(lines) == 1:
        raise UsageError(f"{path}: not valid JSON: {whole_error}")
    items = []
    for n, line in lines:
        item, error = _loads(line)
        if error is not None:
            raise UsageError(f"{path}:{n}: neither one JSON document nor JSON Lines (one object per line): {error}")
        items.append((f"{path}:{n}", item))
    return items


def intent_from_data(item: object, where: str) -> ApprovedOrderIntent:
    """One intent from parsed JSON, or a UsageError naming each bad field."""
    if not isinstance(item, dict):
        raise UsageError(f"{where}: an intent is a JSON object, got {type(item).__name__}")
    try:
        return parse_intent(json.dumps(item, ensure_ascii=False))
    except PydanticValidationError as exc:
        raise UsageError(f"{where}: {pydantic_problems(exc)}") from None


def pydantic_problems(exc: PydanticValidationError) -> str:
    """Each problem as `field: message`, on one line, without echoing huge input back."""
    parts = []
    for e in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(p) for p in e["loc"]) or "intent"
        parts.append(f"{field[:80]}: {e['msg'][:200]}")
    return "; ".join(parts)
