"""Errors of the wire protocol, in one tree, each saying whose fault it is::

    WireError
    ├── FieldError      a value outside its domain, whoever gave it: ``field`` names it (a
    │                   ValueError; the simulation and the clients raise subclasses of it)
    ├── CommandError    THE CLIENT sent an operation the server refuses: becomes an ``error``
    │                   event with a stable ``code``, the ``field`` it names and the ``id`` of
    │                   the operation; never escapes into the server's network code
    └── EventError      THE SERVER sent an event the schema does not allow (a client reports it
                        as a protocol violation)

Messages are lowercase and carry the bad value: ``sigma must be a finite number >= 0 and
<= 10, got -1.0``.
"""

from __future__ import annotations

from wire.names import ErrorCode


class WireError(Exception):
    """Base class of the protocol's errors."""


class FieldError(WireError, ValueError):
    """A value outside its domain; ``field`` names it, ``value`` is what was given."""

    def __init__(self, field: str, value: object, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.message = message


class CommandError(WireError):
    """A client's operation refused; the server answers it with an ``error`` event."""

    def __init__(self, code: ErrorCode | str, message: str, field: str | None = None,
                 id: int | str | None = None) -> None:
        try:
            code = ErrorCode(code)
        except ValueError:
            raise ValueError(f"unknown error code {code!r}") from None
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        """The wire field the error names, or ``None``."""
        self.id = id
        """The ``id`` of the operation it answers, when that could be read."""

    @classmethod
    def invalid(cls, field: str, message: str, id: int | str | None = None) -> CommandError:
        """``invalid_params`` naming ``field``."""
        return cls(ErrorCode.INVALID_PARAMS, message, field, id)


class EventError(WireError):
    """A server event that breaks the schema: a missing or mistyped field, an unknown shape."""
