"""The reference tables of docs/protocol.md, made from the code that enforces them: the fields
of a subscribe with their bounds and defaults, the limits of a connection, the error codes,
the close codes and the recovery table. ``python -m streamer.reference`` prints them; a test
holds the page to it, so a bound changed in the code cannot be left wrong in the docs.
"""

from __future__ import annotations

import sys

from simulation.market import INTERVAL_MAX, SYMBOL_PATTERN
from simulation.params import (
    BOUNDS,
    DELTA_MAX,
    DELTA_MIN,
    MU_LIMIT,
    SIGMA_MAX,
    START_PRICE_MAX,
)
from streamer.config import CATCHUP_STEPS_PER_OP, ServerConfig
from streamer.http import MAX_HEAD_BYTES, MAX_HEADERS
from streamer.session import HOLD_AT_MOST
from wire import recovery
from wire.names import (
    GBM,
    ID_MAX_LENGTH,
    MODEL_DEFAULTS,
    MODEL_PARAMS,
    PICKED_SEED_BOUND,
    STREAM_DEFAULTS,
    CloseCode,
    ErrorCode,
)

_D = ServerConfig()


def _n(value: float) -> str:
    """A number as the tables show it: ``1,000,000``, ``0.001``."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:g}"
    return f"{int(value):,}"


def _power_of_two(value: int) -> str:
    assert value & (value - 1) == 0, value
    return "2" + str(value.bit_length() - 1).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


#: What each field of the other models means (GBM's are in the table itself).
_MEANING = {
    "jumpRate": "merton: jumps a year", "jumpMean": "merton: mean of a jump's log size",
    "jumpStd": "merton: standard deviation of a jump's log size",
    "v0": "heston: the variance at `seq` 0", "kappa": "heston, ou: speed of reversion, a year",
    "theta": "heston: the long-run variance", "xi": "heston: volatility of the variance",
    "rho": "heston: correlation of the price's and the variance's shocks",
    "level": "ou: the long-run price"}


def _model_rows() -> list[tuple[str, str, str, str, str]]:
    rows = []
    for name, meaning in _MEANING.items():
        low, high, low_open = BOUNDS[name]
        default = (f"{_n(STREAM_DEFAULTS[name])} (ou: {_n(MODEL_DEFAULTS['ou'][name])})"
                   if name in MODEL_DEFAULTS["ou"] else
                   _n(STREAM_DEFAULTS[name]) if name in STREAM_DEFAULTS else "`startPrice`")
        span = f"> {_n(low)}, ≤ {_n(high)}" if low_open else f"{_n(low)} … {_n(high)}"
        rows.append((f"`{name}`", "number", span, default, meaning))
    return rows


def fields_table() -> str:
    rows = [
        ("`id`", "integer or string", f"−2⁶³ … 2⁶⁴−1, or at most {ID_MAX_LENGTH} characters",
         "none", "echoed by the reply or error"),
        ("`symbol`", "string", f"a symbol of the market (`{SYMBOL_PATTERN.pattern}`)", "none",
         "a shared stream; no model field, `interval`, `seed` or `periods` with it"),
        ("`model`", "string", ", ".join(f"`\"{m}\"`" for m in MODEL_PARAMS), f"`\"{GBM}\"`",
         "the price model ([models.md](models.md)); with `symbol`, only the symbol's own"),
        ("`startPrice`", "number", f"> 0, ≤ {_n(START_PRICE_MAX)}",
         _n(STREAM_DEFAULTS["startPrice"]), "the price at `seq` 0"),
        ("`mu`", "number", f"{_n(-MU_LIMIT)} … {_n(MU_LIMIT)}", _n(STREAM_DEFAULTS["mu"]),
         "annual drift"),
        ("`sigma`", "number", f"0 … {_n(SIGMA_MAX)}", _n(STREAM_DEFAULTS["sigma"]),
         "annual volatility"),
        ("`delta`", "number", f"{DELTA_MIN:g} … {_n(DELTA_MAX)}", _n(STREAM_DEFAULTS["delta"]),
         "model time per step, trading days (252 a year)"),
        *_model_rows(),
        ("`interval`", "number", f"{_n(_D.min_interval)} … {_n(_D.max_interval)} "
         "(`--min-interval`, `--max-interval`)", _n(STREAM_DEFAULTS["interval"]),
         "wall-clock seconds between ticks"),
        ("`seed`", "integer", "0 … 2⁶⁴−1", f"picked by the server, below {_power_of_two(PICKED_SEED_BOUND)}",
         "names the stream's random draws"),
        ("`periods`", "integer or null", f"1 … {_n(_D.max_periods)} (`--max-periods`)",
         "null (no end)", "a finite stream: `end` after tick `periods − 1`"),
        ("`history`", "integer", f"0 … {_n(_D.max_history)} (`--max-history`)", "0",
         "the last ticks before live ones, the current one included"),
        ("`fromSeq`", "integer", f"0 … current `seq` + 1, at most {_n(_D.max_replay)} ticks "
         "back (`--max-replay`) unless `pace` is `asap`", "none",
         "resume: replay from this `seq`; not with `history`"),
        ("`t0`", "number", "epoch seconds, not in the future; a private stream at most "
         f"{_n(_D.max_catchup)} steps old (`--max-catchup`)", "none",
         "names the stream's epoch, with `seed` (private) or `symbol`"),
        ("`fromTime`", "number", "epoch seconds, up to the current tick's time", "none",
         "replay from the first tick at or after this time; not with `fromSeq` or `history`"),
        ("`pace`", "string", "`live`, `asap`; with `fromSeq` or `fromTime`", "`live`",
         "`asap`: any length of history (back to `seq` 0), as fast as the client reads, "
         "then `replayed`"),
    ]
    head = ["| field | type | range | default | meaning |", "|---|---|---|---|---|"]
    return "\n".join(head + [f"| {' | '.join(row)} |" for row in rows]) + "\n"


def limits_table() -> str:
    rows = [
        ("open connections", f"{_n(_D.max_connections)} (`--max-connections`)",
         "HTTP 503 on the upgrade"),
        ("subscriptions per connection", f"{_n(_D.max_subscriptions)} "
         "(`--max-subscriptions`)", "`limit_exceeded`"),
        ("private streams, the whole server", f"{_n(_D.max_streams)} (`--max-streams`)",
         "`limit_exceeded`"),
        ("ticks a second, all subscriptions together (each `1/interval`)",
         f"{_n(_D.max_ticks_per_second)} (`--max-ticks-per-second`)", "`limit_exceeded`"),
        ("message size", f"{_n(_D.max_message_bytes)} bytes (`--max-message-bytes`)",
         "`limit_exceeded`"),
        ("frame size", f"{_n(_D.max_frame_bytes)} bytes (`--max-frame-bytes`)",
         "close 1009, the frame unread"),
        ("operations", f"{_n(_D.ops_burst)} at once, then {_n(_D.max_ops_per_second)} a second "
         "(`--ops-burst`, `--max-ops-per-second`)", "`rate_limited`, the operation not done"),
        ("resume catch-up", f"one more operation per {_n(CATCHUP_STEPS_PER_OP)} steps computed; "
         f"{_n(CATCHUP_STEPS_PER_OP)} steps per turn of the server's loop",
         "`rate_limited` on `t0`; the answer waits for the rest"),
        ("flooding", f"{_n(_D.flood_limit)} `rate_limited` replies in a row (`--flood-limit`)",
         "close 1008"),
        ("bytes waiting to be sent", f"{_n(_D.max_send_buffer)} (`--max-send-buffer`)",
         f"conflation and `lagging` (below); conflated, close 4008 past {HOLD_AT_MOST} times "
         "that (replies are never dropped)"),
        ("time what was sent may wait unread", f"{_n(_D.max_lag)} s (`--max-lag`)",
         "conflation and `lagging` (below)"),
        ("time conflated", f"{_n(_D.slow_consumer_timeout)} s (`--slow-consumer-timeout`)",
         "close 4008"),
        ("time without a subscription", f"{_n(_D.idle_timeout or 0)} s (`--idle-timeout`)",
         "close 1008"),
        ("pong after a ping", f"{_n(_D.ping_timeout or 0)} s, pings every "
         f"{_n(_D.ping_interval or 0)} s (`--ping-timeout`, `--ping-interval`)",
         "the connection is closed"),
        ("an HTTP request head", f"{_n(MAX_HEAD_BYTES)} bytes, {_n(MAX_HEADERS)} header lines, "
         f"complete within {_n(_D.handshake_timeout)} s (`--handshake-timeout`)",
         "HTTP 431; HTTP 408"),
        ("an HTTP response not read", f"{_n(_D.send_timeout)} s without progress "
         "(`--send-timeout`)", "the connection is cut"),
        ("`/gbm` replies computed or being sent at once",
         f"{_n(_D.max_gbm_requests)} (`--max-gbm-requests`)", "HTTP 503"),
        ("open files (`ulimit -n`)", "what the process may open, less a reserve",
         "HTTP 503 on new connections"),
        ("a market file's `interval`", f"up to {_n(INTERVAL_MAX)} s", "the server does not start"),
    ]
    head = ["| what | bound (default) | past it |", "|---|---|---|"]
    return "\n".join(head + [f"| {' | '.join(row)} |" for row in rows]) + "\n"


def error_codes_table() -> str:
    head = ["| code | meaning |", "|---|---|"]
    return "\n".join(head + [f"| `{code.value}` | {code.doc} |" for code in ErrorCode]) + "\n"


def close_codes_table() -> str:
    head = ["| code | meaning |", "|---|---|"]
    return "\n".join(head + [f"| {int(code)} | {code.doc} |" for code in CloseCode]) + "\n"


def recovery_table() -> str:
    head = ["| refused subscribe | `code` | `field` | what the client does | why |",
            "|---|---|---|---|---|"]
    when = {recovery.When.ANY: "any", recovery.When.FIRST: "the first",
            recovery.When.RESUME: "a resume"}
    rows = [f"| {when[rule.when]} | `{rule.code.value}` | "
            f"{'any' if rule.field == recovery.ANY else f'`{rule.field}`'} | "
            f"**{rule.action.value}** | {rule.why} |" for rule in recovery.TABLE]
    rows.append("| any other | | | **fail** | the error is the application's to see |")
    return "\n".join(head + rows) + "\n"


#: The tables of docs/protocol.md, by the name of their markers.
TABLES = {"fields": fields_table, "limits": limits_table, "error codes": error_codes_table,
          "close codes": close_codes_table, "recovery": recovery_table}


def marker(name: str) -> tuple[str, str]:
    """The comments a table stands between in docs/protocol.md."""
    return (f"<!-- {name}: generated by `python -m streamer.reference` -->\n",
            f"<!-- end of {name} -->")


if __name__ == "__main__":
    for name, render in TABLES.items():
        begin, end = marker(name)
        sys.stdout.write(f"{begin}{render()}{end}\n\n")
