"""What a client does when the server refuses a subscribe: one table, keyed by the error's
``code`` and ``field``, for the first subscribe of a stream and for a resume (a subscribe
with the ``t0`` of an earlier ack, and ``fromSeq``).

The Python client follows it (:mod:`clients.feed.protocol`), the dashboard follows the same
table through ``wire.js``, and docs/protocol.md publishes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from wire.names import ErrorCode

ANY = "*"
"""In a row's ``field``: whatever field the error names (or none)."""


class Action(StrEnum):
    RETRY = "retry"
    """Send the same subscribe again after a delay: the refusal passes (a rate limit refills;
    a restarted server's clock catches up with ``fromSeq``)."""
    SKIP_GAP = "skip_gap"
    """The missed ticks are beyond what the server replays: subscribe again with the same
    ``t0`` and no ``fromSeq``, tell the application which seqs are lost, and go on."""
    RESTART = "restart"
    """The stream cannot be continued (a symbol's session changed, or a private stream is too
    old to catch up): subscribe afresh without ``t0``; seq numbering starts over, and the
    application is told."""
    FAIL = "fail"
    """Report the error to the application; the subscription ends."""


class When(StrEnum):
    FIRST = "first"
    """The first subscribe of a stream."""
    RESUME = "resume"
    """A subscribe that continues a stream it was acked before."""
    ANY = "any"


@dataclass(frozen=True, slots=True)
class Rule:
    when: When
    code: ErrorCode
    field: str
    action: Action
    why: str


#: The first matching row decides; no match means :attr:`Action.FAIL`.
TABLE: tuple[Rule, ...] = (
    Rule(When.ANY, ErrorCode.RATE_LIMITED, ANY, Action.RETRY,
         "too many operations a second; the bucket refills within a second"),
    Rule(When.RESUME, ErrorCode.INVALID_PARAMS, "fromSeq", Action.RETRY,
         "fromSeq is ahead of a restarted server whose clock is a little behind"),
    Rule(When.RESUME, ErrorCode.LIMIT_EXCEEDED, "fromSeq", Action.SKIP_GAP,
         "the gap is longer than the server's replay limit"),
    Rule(When.RESUME, ErrorCode.INVALID_PARAMS, "t0", Action.RESTART,
         "the symbol's session changed (a new market t0), or the stream cannot reach t0"),
    Rule(When.RESUME, ErrorCode.LIMIT_EXCEEDED, "t0", Action.RESTART,
         "catching a private stream up from its t0 is beyond the server's limit"),
)


def recover(code: str, field: str | None, resuming: bool) -> Action:
    """What to do about an ``error`` answering a subscribe."""
    for rule in TABLE:
        if (rule.code == code and rule.field in (ANY, field)
                and (rule.when == When.ANY or (rule.when == When.RESUME) == resuming)):
            return rule.action
    return Action.FAIL
