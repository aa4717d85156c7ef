"""Command-line flags from config dataclasses, shared by the ``python -m rewardlab.ml`` commands.

Each field is a flag: ``batch_size`` -> ``--batch-size``, typed by its annotation (``--x/--no-x`` for a bool,
``KEY=VALUE,...`` for a dict, several values for a list). A flag left out leaves the field to the config's own
default, so adding a field to a config adds its flag, and the CLI cannot drift from the configs that Django and
Celery build.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing


def key_values(text: str) -> dict[str, float]:
    """``"vq=1,mq=1,ta=0.5"`` -> {"vq": 1.0, "mq": 1.0, "ta": 0.5} (also ``--rewards a.mp4=0.3,b.mp4=-1``)."""
    pairs = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"{item!r}: write dimension=weight, e.g. vq=1,mq=1,ta=1")
        pairs[key.strip()] = float(value)
    return pairs


def add_config_arguments(parser: argparse.ArgumentParser, config_class: type,
                         options: dict[str, dict] | None = None) -> None:
    """One flag per field of ``config_class``. ``options[name]`` adjusts a field's flag: ``flags`` (more
    spellings), ``help`` (else the field's ``metadata["help"]``), and any other ``add_argument`` keyword. Choices come
    from the field (config_fields.setting); ranges are checked by the config itself when it is built."""
    hints = typing.get_type_hints(config_class)
    for field in dataclasses.fields(config_class):
        extra = dict((options or {}).get(field.name, {}))
        hint = hints[field.name]
        if isinstance(hint, types.UnionType):  # `int | None` -> int
            hint = next(t for t in typing.get_args(hint) if t is not type(None))
        origin = typing.get_origin(hint)
        kwargs: dict = {"dest": field.name, "default": argparse.SUPPRESS}
        if hint is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif origin is dict:
            kwargs.update(type=key_values, metavar="KEY=VALUE,...")
        elif origin is list:
            kwargs.update(nargs="+", type=typing.get_args(hint)[0])
        else:
            kwargs["type"] = hint
        if "choices" in field.metadata:
            kwargs["choices"] = list(field.metadata["choices"])
        help_text = extra.pop("help", field.metadata.get("help", ""))
        if field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING:
            default = field.default_factory() if field.default is dataclasses.MISSING else field.default
            help_text += "" if default in (None, "") else f" (default: {default})"
        else:
            kwargs["required"] = True
        parser.add_argument("--" + field.name.replace("_", "-"), *extra.pop("flags", []),
                            help=help_text.strip() or None, **{**kwargs, **extra})


def config_from_args(config_class: type, args: argparse.Namespace):
    """The config from the flags given; the others keep the config's defaults. A value outside its range ends
    the command with the config's message, not a traceback."""
    given = vars(args)
    try:
        return config_class(**{f.name: given[f.name] for f in dataclasses.fields(config_class) if f.name in given})
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc
