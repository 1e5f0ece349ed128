"""Replays (``history`` and ``fromSeq``), produced as the client reads, never queued whole.

A :class:`Replay` is a cursor over one subscription's past ticks. The session asks it for the
next chunk only when the connection has room (see :meth:`Session.data_to_send
<streamer.session.Session.data_to_send>`), so a client that never reads costs the server a
cursor, not the replay: a symbol's ticks are read from the hub's ring of recent prices, a
private stream's are made again by a :class:`~simulation.PathCursor` from a copy of its
generator. While a subscription replays, its live ticks wait: a symbol's are read from the
ring when the cursor gets there; a private stream's are held (up to :data:`HOLD_MAX`, then only
the newest, and the replay ends with ``lagging`` for those dropped).
"""

from __future__ import annotations

import numpy as np

from simulation import PathCursor
from streamer.hub import Hub, Stream
from wire import events

#: Live ticks of a replaying private stream held for after its replay (about 80 bytes each).
HOLD_MAX = 10_000


class Replay:
    """The past ticks ``next .. last`` of subscription ``sub``, then what came meanwhile."""

    __slots__ = ("sub", "head", "stream", "next", "last", "_cursor", "_held", "_newest",
                 "_held_last", "_announce", "end", "done")

    def __init__(self, sub: int, stream: Stream, first: int, last: int,
                 cursor: PathCursor | None, *, announce: bool = False) -> None:
        """``cursor`` makes the past ticks again (a private stream's; a symbol's from before
        its ring); ``announce`` ends the replay with ``replayed`` (``pace: "asap"``)."""
        self.sub = sub
        self.head = events.tick_head(sub)
        self.stream = stream
        self.next = first
        self.last = last
        """The last seq to replay: the ack's. A symbol's replay goes on to its current tick."""
        self._cursor = cursor
        self._held: list[str] = []
        self._held_last = last
        self._newest: tuple[int, str] | None = None
        self._announce = announce
        self.end: str | None = None
        """The subscription's ``end``, sent after everything else."""
        self.done = False

    def hold(self, seq: int, text: str) -> None:
        """A live tick that came while replaying (a symbol's replay goes on to its current
        tick: nothing to do)."""
        if self.stream.symbol is not None:
            return
        if len(self._held) < HOLD_MAX and self._newest is None:
            self._held.append(text)
            self._held_last = seq
        else:
            self._newest = (seq, text)

    def produce(self, hub: Hub, count: int) -> list[str]:
        """Up to ``count`` ticks' texts of what comes next, and at the end, the held ticks,
        any ``lagging`` for ticks dropped, and the ``end``; :attr:`done` says when that was."""
        stream = self.stream
        texts: list[str] = []
        if self._cursor is not None and stream.symbol is None:  # a private stream
            texts = self._made_again(hub, min(count, self.last - self.next + 1))
            if self.next > self.last:
                self._replayed(texts)  # before the live ticks held meanwhile
                texts += self._held
                self._held = []
                if self._newest is not None:
                    seq, text = self._newest
                    if seq > self._held_last + 1:
                        texts.append(events.Lagging(self.sub, seq - self._held_last - 1,
                                                    seq).encode())
                    texts.append(text)
                self._end(texts)
            return texts
        current = hub.current(stream)[0]  # a symbol: up to its current tick
        if self._cursor is not None:  # from before its ring: made again, to the end
            texts = self._made_again(hub, min(count, current - self.next + 1))
            if self.next > current:
                self._replayed(texts)
                self._end(texts)
            return texts
        oldest = hub.oldest_kept(stream)
        if self.next < oldest:  # the reader was so slow that the ring moved past it
            texts.append(events.Lagging(self.sub, oldest - self.next, oldest).encode())
            self.next = oldest
        n = min(count, current - self.next + 1)
        if n > 0:
            last = self.next + n - 1
            texts += self._texts(np.arange(self.next, self.next + n),
                                 hub.recent(stream, self.next, last),
                                 hub.recent_times(stream, self.next, last),
                                 hub.recent_vols(stream, self.next, last))
            self.next += n
        if self.next > current:
            self._replayed(texts)
            self._end(texts)
        return texts

    def _made_again(self, hub: Hub, n: int) -> list[str]:
        """The texts of the next ``n`` ticks, made by the cursor (none when ``n <= 0``)."""
        if n <= 0:
            return []
        assert self._cursor is not None
        first = self.next
        prices, vols = self._cursor.take(n)
        self.next += n
        return self._texts(np.arange(first, first + n), prices,
                           hub.recent_times(self.stream, first, first + n - 1), vols)

    def _texts(self, seqs: np.ndarray, prices: np.ndarray, times: np.ndarray,
               vols: np.ndarray | None) -> list[str]:
        head = self.head
        return [head + body for body in events.tick_bodies(seqs, prices, times, vols)]

    def _replayed(self, texts: list[str]) -> None:
        if self._announce:  # pace "asap": the replay is over, at its last seq
            texts.append(events.Replayed(self.sub, self.next - 1).encode())

    def _end(self, texts: list[str]) -> None:
        if self.end is not None:
            texts.append(self.end)
        self.done = True
