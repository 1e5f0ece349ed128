"""Errors of the load tester (:mod:`clients.load`), in one tree.

Exception tree::

    LoadError              base of every error the load tester raises
    ├── SpecError          YOU: a bad option or LoadSpec field, refused before anything
    │                      runs; also a ValueError; ``name`` is the option (``ramp_rate``)
    └── WorkerError        A WORKER PROCESS failed: it did not start, crashed or did not report
                           in time; the message carries its index and what it said

A server that refuses connections, closes them or sends errors is not an exception: that is
what the tester measures (``ws_connect_failed``, ``ws_closes``, ``errors``).
Messages are lowercase and carry the bad value.
"""

from __future__ import annotations


class LoadError(Exception):
    """Base class of every error of the load tester."""


class SpecError(LoadError, ValueError):
    """A bad option, threshold or :class:`~clients.load.spec.LoadSpec` field."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        """The option or field at fault."""


class WorkerError(LoadError):
    """A worker process failed to start, crashed, or did not report in time."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(f"worker {index}: {message}")
        self.index = index
