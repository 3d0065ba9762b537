"""`python -m kisoms` = the `kisoms` command."""

from kisoms.cli.entry import run

run()
