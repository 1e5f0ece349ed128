"""Checks of the values a peer sends or takes, each with one error message.

Every check raises :class:`FieldError` (or the subclass a caller names with ``error=``), whose
message is lowercase and carries the value: ``sigma must be a finite number >= 0 and <= 10,
got -1.0``. The simulation checks its parameters with these, the server its settings-bound
fields, and the clients their arguments, so all three word a refusal alike.
"""

from __future__ import annotations

import math

from wire.errors import FieldError
from wire.names import SEED_MAX


def show(value: object, limit: int = 40) -> str:
    """``repr`` of a rejected value, shortened so that an error message stays readable."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_number(value: object) -> bool:
    """True for an ``int`` or ``float`` (not a ``bool``)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_number(field: str, value: object, *, low: float | None = None,
                 high: float | None = None, low_open: bool = False,
                 error: type[FieldError] = FieldError) -> float:
    """``value`` as a float if it is a finite number in ``[low, high]`` (``(low, high]`` with
    ``low_open``; either bound may be absent), else raise ``error``."""
    domain = "a finite number"
    if low is not None:
        domain += f" {'>' if low_open else '>='} {low:g}"
    if high is not None:
        domain += f"{' and' if low is not None else ''} <= {high:g}"
    if is_number(value):
        try:
            number = float(value)  # type: ignore[arg-type]  # is_number checked it
        except OverflowError:  # an integer beyond any double
            number = math.nan
        if (math.isfinite(number) and (high is None or number <= high)
                and (low is None or number > low or (number == low and not low_open))):
            return number
    raise error(field, value, f"{field} must be {domain}, got {show(value)}")


def check_integer(field: str, value: object, *, low: int | None = None,
                  high: int | None = None, domain: str | None = None,
                  error: type[FieldError] = FieldError) -> int:
    """``value`` if it is an ``int`` (not a ``bool``) in ``[low, high]``, else raise ``error``.
    ``domain`` words the range when the bounds alone would read badly (``from 0 to 2**64-1``)."""
    if (isinstance(value, int) and not isinstance(value, bool)
            and (low is None or value >= low) and (high is None or value <= high)):
        return value
    if domain is None:
        if low is not None and high is not None:
            domain = f"from {low} to {high}"
        elif low is not None:
            domain = f">= {low}"
        elif high is not None:
            domain = f"<= {high}"
    where = f" {domain}" if domain else ""
    raise error(field, value, f"{field} must be an integer{where}, got {show(value)}")


def check_seed(value: object, field: str = "seed",
               error: type[FieldError] = FieldError) -> int:
    """``value`` if it is an unsigned 64-bit integer, else raise ``error``."""
    return check_integer(field, value, low=0, high=SEED_MAX, domain="from 0 to 2**64-1",
                         error=error)
