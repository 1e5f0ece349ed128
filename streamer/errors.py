"""Errors of the streamer.

Exception tree::

    StreamerError
    └── ProtocolError        a client's operation was refused; becomes an ``error`` event
                             with a stable ``code`` (PROTOCOL.md section 5) and the ``field``
                             it names, and never escapes into the network code.
"""

from __future__ import annotations

#: The stable error codes of the wire protocol.
ERROR_CODES = (
    "bad_json", "bad_request", "invalid_params", "unknown_symbol", "unknown_subscription",
    "limit_exceeded", "rate_limited",
)


class StreamerError(Exception):
    """Base class of the streamer's own errors."""


class ProtocolError(StreamerError):
    """The peer sent something the protocol refuses.

    The message is lowercase and names the bad value:
    ``sigma must be a finite number >= 0 and <= 10, got -1.0``.
    """

    def __init__(self, code: str, message: str, field: str | None = None,
                 id: int | str | None = None) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.id = id
        """The ``id`` of the operation this error answers, when it could be read."""
