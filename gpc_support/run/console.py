"""What the command line checks first and prints: the Keras backend, usage errors, integer options, durations, one-line errors."""

from __future__ import annotations

import importlib.util
import os

__all__ = ["UsageError", "EXIT_LOCKED", "BACKEND_PACKAGES", "backend_problem", "int_option",
           "fmt_duration", "short_error"]

# Keras 3 backends -> (the package that must be importable, how to install it)
BACKEND_PACKAGES = {
    "tensorflow": ("tensorflow", "pip install tensorflow"),
    "jax": ("jax", "pip install jax"),
    "torch": ("torch", "pip install torch"),
    "numpy": ("numpy", "pip install numpy"),
    "openvino": ("openvino", "pip install openvino"),
}

EXIT_LOCKED = 75  # EX_TEMPFAIL: another batch holds the results folder


class UsageError(ValueError):
    """A bad command-line value; the message names the option."""


def backend_problem(environ=None, find_spec=importlib.util.find_spec) -> str | None:
    """One line when KERAS_BACKEND names a backend Keras cannot load (unknown, or
    its package not installed), else None.  Checked before Keras is imported:
    Keras would otherwise fail inside its import with a long traceback."""
    name = (os.environ if environ is None else environ).get("KERAS_BACKEND")
    if not name:
        return None  # Keras' own default (keras.json or tensorflow)
    if name not in BACKEND_PACKAGES:
        return (f"KERAS_BACKEND={name} is not a Keras backend; use one of "
                f"{', '.join(BACKEND_PACKAGES)}")
    package, install = BACKEND_PACKAGES[name]
    if find_spec(package) is None:
        return (f"KERAS_BACKEND={name} but the {package} package is not installed; "
                f"install it ({install}) or choose another backend (KERAS_BACKEND=tensorflow)")
    return None


def int_option(name: str, text, minimum: int):
    """`text` as an integer >= `minimum` (None stays None); UsageError naming `name`."""
    if text is None:
        return None
    try:
        value = int(str(text))
    except ValueError:
        raise UsageError(f"{name}: expected an integer >= {minimum}, got {text!r}") from None
    if value < minimum:
        raise UsageError(f"{name}: expected an integer >= {minimum}, got {value}")
    return value


def fmt_duration(seconds: float) -> str:
    """Seconds as H:MM:SS."""
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}"


def short_error(err: Exception) -> str:
    """The useful line of a papermill error: the exception name and message."""
    ename = getattr(err, "ename", None)
    if ename:
        return f"{ename}: {getattr(err, 'evalue', '')}"
    if isinstance(err, OSError) and str(err).startswith("cannot write"):
        return str(err)
    return f"{type(err).__name__}: {err}"
