"""absl flags derived from a config dataclass: one flag per field, its default and help taken
from the field (jaxact.config.option), so defaults are written once."""

from __future__ import annotations

import dataclasses
import typing

from absl import flags


def define(config_class, defaults=None, skip: tuple[str, ...] = ()) -> None:
    """Defines a flag per field of `config_class`, with the values of `defaults` (an instance) or
    the class defaults. int / float / bool / str fields, optional or not; tuples become lists."""
    hints = typing.get_type_hints(config_class)
    for field in dataclasses.fields(config_class):
        if field.name in skip:
            continue
        default = getattr(defaults, field.name) if defaults is not None else field.default
        kind = hints[field.name]
        args = [a for a in typing.get_args(kind) if a is not type(None)] or [kind]
        base = typing.get_origin(args[0]) or args[0]
        help_text = field.metadata.get("help", field.name)
        if base is tuple:
            flags.DEFINE_list(field.name, list(default) if default else None, help_text)
        elif base is bool:
            flags.DEFINE_bool(field.name, default, help_text)
        elif base is int:
            flags.DEFINE_integer(field.name, default, help_text)
        elif base is float:
            flags.DEFINE_float(field.name, default, help_text)
        else:
            flags.DEFINE_string(field.name, default, help_text)


def config_from_flags(config_class, **fixed):
    """An instance of `config_class` from the parsed flags (fields in `fixed` given directly)."""
    values = {}
    for field in dataclasses.fields(config_class):
        if field.name in fixed:
            continue
        value = flags.FLAGS[field.name].value
        values[field.name] = tuple(value) if isinstance(value, list) else value
    return config_class(**values, **fixed)
