"""ARCHITECTURE.md stays true: every file or package it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "ARCHITECTURE.md"
PATH = re.compile(r"`((?:kisoms|tests|bench|scripts)/[\w./]*)`")


def named_paths() -> list[str]:
    return sorted(set(PATH.findall(DOC.read_text(encoding="utf-8"))))


def test_architecture_names_modules():
    assert len(named_paths()) >= 20


def test_every_path_in_architecture_exists():
    missing = [p for p in named_paths() if not (ROOT / p).exists()]
    assert missing == []


def test_the_path_pattern_catches_a_missing_module():
    assert PATH.findall("see `kisoms/engine/venue.py` and `kisoms/cli/`") == ["kisoms/engine/venue.py", "kisoms/cli/"]
    assert not (ROOT / "kisoms/engine/venue.py").exists()
