"""The field rules every setting is checked by: one checker for a value from a file, a flag or code.

settings.py declares each field with setting(default, lo=..., hi=...), which keeps the rule in
the field's metadata; check_fields, called by every settings class's __post_init__, enforces
it. The checkers for one kind of value (a number, a threshold, a GPIO pin, a command line, a
text) are here too, for the classes and the command line. NaN and infinity are rejected
everywhere: they pass `lo <= x <= hi` comparisons by failing every one of them.

This module imports nothing of the project but errors.py.
"""

from __future__ import annotations

import math
from dataclasses import field, fields

from .errors import ConfigError

#: BCM numbers of the Raspberry Pi's GPIO header.
GPIO_PIN_MAX = 27


def setting(default, *, lo=None, hi=None, integer=False, lo_open=False, optional=False, choices=None, kind="number"):
    """A dataclass field with its validation rule in the metadata (read by check_fields).

    kind: "number" (int or float; integer=True for whole numbers), "bool", "choice" (one of
    `choices`), "pin" (GPIO number 0-27, a gpiozero pin name, or None), "command" (argument list),
    "any" (checked by the owning class). optional: None is allowed.
    """
    meta = dict(kind=kind, lo=lo, hi=hi, integer=integer, lo_open=lo_open, optional=optional, choices=choices)
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def check_number(value, key: str, lo=None, hi=None, integer=False, lo_open=False, optional=False):
    """value if it is a finite number in range, else ConfigError naming key (bool is not a number)."""
    if value is None and optional:
        return None
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise ConfigError(f"{key} must be {'a whole number' if integer else 'a number'}, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value!r}")
    too_low = lo is not None and (value < lo or (lo_open and value == lo))
    too_high = hi is not None and value > hi
    if too_low or too_high:
        if hi is not None and lo is not None:
            rng = f"between {_bound(lo)} and {_bound(hi)}"
        elif lo is not None:
            rng = f"greater than {_bound(lo)}" if lo_open else f"at least {_bound(lo)}"
        else:
            rng = f"at most {_bound(hi)}"
        raise ConfigError(f"{key} must be {rng}, got {value!r}")
    return value


def _bound(x) -> str:
    """A range bound for a message: whole numbers in full (67108864, not 6.71089e+07)."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def decimal_index(text) -> int | None:
    """int of a string of ASCII digits ("17", " 3 "), else None. str.isdigit is not enough: it
    is true for "²" or "١٧", which int() then refuses or reads as another number."""
    if not isinstance(text, str):
        return None
    t = text.strip()
    return int(t) if t and t.isascii() and t.isdigit() else None


def check_pin(value, key: str):
    """A BCM number 0-27, a gpiozero pin name such as "GPIO17" or "BOARD11", or None."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= GPIO_PIN_MAX):
        return value
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ConfigError(
        f"{key} must be a BCM pin number 0-{GPIO_PIN_MAX}, a gpiozero pin name such as \"GPIO17\", or null, got {value!r}"
    )


def check_command(value, key: str) -> tuple[str, ...]:
    """An argument list (never a shell string) -> tuple of str; None or [] is no command."""
    if value is None:
        return ()
    if isinstance(value, str):
        raise ConfigError(
            f"{key} must be a list of arguments such as [\"/usr/local/bin/on-stop\", \"--fast\"] "
            f"(it is never run through a shell), got {value!r}"
        )
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(a, (str, int, float)) and not isinstance(a, bool) for a in value
    ):
        raise ConfigError(f"{key} must be a list of arguments, got {value!r}")
    command = tuple(str(a) for a in value)
    if command and not command[0].strip():
        raise ConfigError(f"{key} must start with the program to run, got {value!r}")
    return command


def check_fields(obj, section: str) -> None:
    """Validate (and normalise, on frozen dataclasses) every field that carries a `setting` rule.

    Raises ConfigError("section.key ...") for the first field out of its range.
    """
    for f in fields(obj):
        meta = f.metadata
        if "kind" not in meta:
            continue
        key = f"{section}.{f.name}" if section else f.name
        value = getattr(obj, f.name)
        kind = meta["kind"]
        if kind == "number":
            value = check_number(value, key, meta["lo"], meta["hi"], meta["integer"], meta["lo_open"], meta["optional"])
        elif kind == "bool":
            if not isinstance(value, bool):
                raise ConfigError(f"{key} must be true or false, got {value!r}")
        elif kind == "choice":
            if value not in meta["choices"] and not (value is None and meta["optional"]):
                hint = (" (YAML reads a bare on, off, yes or no as true or false: quote the word, e.g. \"on\")"
                        if isinstance(value, bool) else "")
                raise ConfigError(f"{key} must be one of {', '.join(map(str, meta['choices']))}, got {value!r}{hint}")
        elif kind == "pin":
            value = check_pin(value, key)
        elif kind == "command":
            value = check_command(value, key)
        object.__setattr__(obj, f.name, value)


def field_names(cls) -> set[str]:
    return {f.name for f in fields(cls)}


def check_threshold(value, key: str) -> float:
    """A detection threshold: a finite number strictly between 0 and 1."""
    check_number(value, key, 0, 1, lo_open=True)
    if value >= 1:
        raise ConfigError(f"{key} must be between 0 and 1, got {value!r}")
    return float(value)


def check_optional_text(value, key: str) -> str | None:
    """None, or a string that is not blank (surrounding spaces removed)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key} must be a non-empty string or null, got {value!r}")
    return value.strip()
