"""Argument checks shared by the subpackages (one definition, one message)."""

from __future__ import annotations

import numbers

__all__ = ["positive_int"]


def positive_int(name: str, value) -> int:
    """Return `value` as an int, or raise ValueError naming the parameter `name`.

    bool is refused although it is an int subclass: `True` is no count.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
