"""The console-script entry point: Ctrl-C while kisoms is still importing exits 130 quietly.

Nothing is written during import, so an interrupt that early simply ends the process. Once the app is
loaded, Python's own KeyboardInterrupt takes over and ``kisoms.cli.app.main`` turns it into exit 130
after every open transaction has rolled back.
"""

from __future__ import annotations

import os
import signal
import sys

INTERRUPTED = 130


def _interrupted_while_loading(signum, frame) -> None:  # pragma: no cover - exercised in a subprocess
    os._exit(INTERRUPTED)


def _answered(rc: int) -> None:
    """Exit once the quick path has answered. A Ctrl-C from here on changes nothing, so it is ignored:
    left to ``_interrupted_while_loading``, Python would put back the default action while it shuts down,
    and a late Ctrl-C would end the process by the signal (no exit code) instead of 130 or ``rc``."""
    if signal.getsignal(signal.SIGINT) is _interrupted_while_loading:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(rc)


def run() -> None:
    """Load the app with Ctrl-C ending the process at once, then run it with normal Ctrl-C handling."""
    if sys.argv[1:] == ["--version"]:  # answered before typer and the commands load (the same line they print)
        from kisoms import __version__

        print(f"kisoms {__version__}")
        sys.exit(0)
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.default_int_handler:  # leave an ignored SIGINT (nohup, cron &) ignored
        signal.signal(signal.SIGINT, _interrupted_while_loading)
    if "status" in sys.argv[1:]:  # a plain listing to a pipe is answered before typer and rich load
        from kisoms.cli.quick import run_quick

        rc = run_quick(sys.argv[1:])
        if rc is not None:
            _answered(rc)
    from kisoms.cli.app import load_commands, main

    load_commands()
    signal.signal(signal.SIGINT, previous)
    sys.exit(main())
