"""Numbers read from files and requests: decimal notation only, finite, in range.

Python's ``float()`` also accepts ``"1_000"``, ``"nan"``, ``"inf"``, ``"Infinity"`` and surrounding
whitespace of any kind; :func:`parse_number` accepts plain decimal or scientific notation only.

>>> parse_number("-1.5e-1")
-0.15
>>> parse_number("1_000")
Traceback (most recent call last):
...
ValueError: '1_000' is not a number (expected decimal notation such as -1.25 or 3e-2)
"""
import math
import re

_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def parse_number(text, low=None, high=None, what=None):
    """``text`` (surrounding spaces allowed) as a finite float in ``[low, high]``; ValueError otherwise."""
    name = f"{what} " if what else ""
    stripped = text.strip(" ") if isinstance(text, str) else None
    if stripped is None or not _DECIMAL.fullmatch(stripped):
        raise ValueError(f"{name}{text!r} is not a number (expected decimal notation such as -1.25 or 3e-2)")
    value = float(stripped)
    if not math.isfinite(value):
        raise ValueError(f"{name}{text!r} is too large to be a finite number")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name}{text!r} is outside [{low}, {high}]")
    return value


def is_finite_number(value):
    """True for an int or float (not bool) that is finite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
