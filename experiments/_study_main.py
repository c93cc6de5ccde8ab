"""Every study's entrypoint: flags derived from the study's config -> `runner.run` -> its lines on
stdout; bad input is one line on stderr and a non-zero exit, before anything is trained or written."""

from __future__ import annotations

import functools
import logging
import os
import sys

from experiments import _flags
from jaxact.studies import runner


def define_flags(config_class, defaults=None) -> None:
    _flags.define(config_class, defaults)


def main(study: runner.Study, config_class) -> None:
    runner.quiet_logs()
    config = _flags.config_from_flags(config_class)
    try:
        runner.run(study, config, sink=functools.partial(print, flush=True))
    except ValueError as error:
        fail(error)
    except runner.CommandStopped as stopped:
        print(stopped.line, file=sys.stderr, flush=True)
        sys.exit(stopped.exit_code)
    # Everything is written (reports, journal appends fsynced): skip the interpreter's teardown of
    # JAX, XLA and the report's libraries, ~0.6 s at the end of every command (as the workers do).
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def fail(error: Exception) -> None:
    sys.exit(f"error: {error}")
