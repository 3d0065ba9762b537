"""The `kisoms` command line: thin typer commands and rich rendering, no business logic."""
