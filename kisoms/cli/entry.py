"""The console-script entry point: Ctrl-C while kisoms is still importing exits 130 quietly.

Nothing is written during import, so an interrupt that early simply ends the process. Once the app is
loaded, Python's own KeyboardInterrupt takes over and ``kisoms.cli.app.main`` turns it into exit 130
after every open transaction has rolled back.
"""

from __future__ import annotations

import gc
import os
import signal
import sys

INTERRUPTED = 130


def _interrupted_while_loading(signum, frame) -> None:  # pragma: no cover - exercised in a subprocess
    os._exit(INTERRUPTED)


def _answered(rc: int) -> None:
    """Exit once the quick path has answered: its output flushed, then at once (``os._exit``), without the
    interpreter tearing down every module it loaded, a third of a quick answer's time. Nothing is left to
    clean up by then (the ledger is closed; nothing on this path registers an exit handler). A Ctrl-C from
    here on changes nothing, so it is ignored. A reader of stdout that has already left makes it exit
    ``READER_GONE`` quietly (``kisoms.cli.pipes``); any other failed flush takes the usual exit."""
    if signal.getsignal(signal.SIGINT) is _interrupted_while_loading:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    from kisoms.cli.pipes import flushed

    try:
        rc = flushed(rc)
        if sys.stderr is not None:
            sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(rc)
    os._exit(rc)


def run() -> None:
    """Load the app with Ctrl-C ending the process at once, then run it with normal Ctrl-C handling."""
    if sys.argv[1:] == ["--version"]:  # answered before typer and the commands load (the same line they print)
        from kisoms import __version__

        try:
            print(f"kisoms {__version__}", flush=True)
        except BrokenPipeError as exc:  # the reader left first (`| head -c 0`): quietly, its exit code
            from kisoms.cli.pipes import reader_gone

            os._exit(reader_gone(exc) or 1)
        sys.exit(0)
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.default_int_handler:  # leave an ignored SIGINT (nohup, cron &) ignored
        signal.signal(signal.SIGINT, _interrupted_while_loading)
    gc.disable()  # while loading: imports make few cycles, collections would only scan them again and again
    if "status" in sys.argv[1:]:  # a plain listing is answered before typer, pydantic and keyring load
        from kisoms.cli.quick import run_quick

        rc = run_quick(sys.argv[1:])  # (a short run that frees what it drops: still no collection needed)
        if rc is not None:
            _answered(rc)
    from kisoms.cli.app import load_commands, main

    load_commands()
    gc.enable()
    signal.signal(signal.SIGINT, previous)
    sys.exit(main())
