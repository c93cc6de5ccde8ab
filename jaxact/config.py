"""Study configs as documentation: each field's default lives once, here, with the help text
that the entrypoints' flags are derived from (experiments/_flags.py)."""

from __future__ import annotations

import dataclasses
from typing import Any


def option(default: Any, help: str):  # noqa: A002 (the flag's help text)
    """A config field with its flag help."""
    return dataclasses.field(default=default, metadata={"help": help})


def check_at_least(config, minimum: int, *names: str) -> None:
    """ValueError naming the field and the fix when an optional count is below `minimum`."""
    for name in names:
        value = getattr(config, name)
        if value is not None and value < minimum:
            raise ValueError(f"--{name} must be at least {minimum}, got {value}")
