"""Errors raised by the price models."""

from __future__ import annotations

from wire.errors import FieldError


class SimulationError(Exception):
    """Base class of every error the ``simulation`` package raises."""


class ParamError(SimulationError, FieldError):
    """A model parameter is out of its domain.

    ``field`` is the parameter's published name (``startPrice``, ``mu``, ...), ``value`` the
    rejected value; the message reads ``sigma must be a finite number >= 0, got -1.0``.
    """


class MarketError(SimulationError, ValueError):
    """A market definition (file or mapping) is malformed; the message says where."""
