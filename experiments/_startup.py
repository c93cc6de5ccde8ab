"""Imported first by every study entrypoint: Ctrl-C or SIGTERM while the command is still
importing (JAX takes seconds) ends it in one line, before anything is trained or written. The
runner replaces these handlers with its own once it starts."""

import os
import signal
import sys


def _interrupted_while_starting(signum, frame):
    sys.stderr.write(f"interrupted ({signal.Signals(signum).name}) while starting: nothing was trained or written\n")
    sys.stderr.flush()
    os._exit(128 + signum)


# A spawned worker imports the entrypoint again, as __mp_main__: it keeps the handlers it was
# started with (SIGINT ignored; the runner's own for SIGTERM), so nothing is installed there.
if "__mp_main__" not in sys.modules:
    for _signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(_signum, _interrupted_while_starting)
