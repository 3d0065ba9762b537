"""Dependency ranges are pinned to what the suite runs against: an upper bound on each, and the
installed versions inside the ranges (a new major of typer, click, rich or httpx cannot arrive unseen)."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

PYPROJECT = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
REQUIREMENTS = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]
                + PYPROJECT["project"]["optional-dependencies"]["test"]]


@pytest.mark.parametrize("req", REQUIREMENTS, ids=[r.name for r in REQUIREMENTS])
def test_every_dependency_has_an_upper_bound_and_the_installed_version_is_inside(req):
    assert any(spec.operator in ("<", "<=", "==", "===") for spec in req.specifier), f"{req} has no upper bound"
    assert req.specifier.contains(version(req.name), prereleases=True), f"{req.name} {version(req.name)} not in {req}"


def test_the_ones_that_broke_before_are_pinned():
    assert {"typer", "click", "rich", "httpx"} <= {r.name for r in REQUIREMENTS}
