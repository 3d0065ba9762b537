"""`python -m kisoms` = the `kisoms` command."""

from kisoms.cli.app import run

run()
