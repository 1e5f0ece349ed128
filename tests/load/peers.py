"""A subscribe step of our own for the tests: importable by the worker processes (which
receive a pickled copy), as a benchmark harness's would be."""

from __future__ import annotations

from dataclasses import dataclass

from clients.load.spec import Operation


@dataclass(frozen=True)
class BareSubscriber:
    """Subscribes with the smallest message a peer might want: no ``id``, raw bytes for
    symbols; nothing to unsubscribe with."""

    symbol: str = "BOLT"

    def subscribe(self, connection: int, index: int, count: int) -> Operation:
        return b'{"op": "subscribe", "symbol": "%s"}' % self.symbol.encode()

    def unsubscribe(self, sub: int) -> Operation | None:
        return None
