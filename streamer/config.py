"""Every setting of the server, defined once, in one frozen object with visible defaults.

Each field of :class:`ServerConfig` is a setting: its default, its unit and its help live in
the field's declaration (:func:`setting`), and everything else derives from it: the flags of
``streamer serve`` and their ``--help`` (:mod:`streamer.cli`), the one environment variable
(``STREAMER_TOKEN``), and the settings table of the README (``python -m streamer.config``
prints it; a test holds the README to it). Only the CLI reads flags and the environment;
everything else receives a :class:`ServerConfig`.
"""

from __future__ import annotations

import sys
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

from wire.names import HISTORY_MAX

#: Resuming a private stream far back costs one operation of the rate limit per this many
#: steps it makes the server compute, so that CPU per connection stays bounded too.
CATCHUP_STEPS_PER_OP = 100_000

#: The units a setting may have, and the metavar its flag shows.
UNITS = {"s": "SECONDS", "bytes": "BYTES", "ticks": "N", "steps": "STEPS", "/s": "RATE",
         "": "N"}


#: The values of ``--compression``.
COMPRESSIONS = ("none", "deflate")


def setting(default: Any, help: str, *, unit: str = "", flag: str | None = None,
            metavar: str | None = None, env: str | None = None, unset: str | None = None,
            zero_disables: bool = False, cli: bool = True) -> Any:
    """Declare one setting (a dataclass field with its documentation).

    ``help`` is one line; ``unit`` is one of :data:`UNITS`; ``flag`` defaults to the name
    with dashes; ``env`` names an environment variable read when the flag is absent;
    ``unset`` says what ``None`` (or an empty default) means; with ``zero_disables`` a flag
    value of 0 means ``None``; ``cli=False`` keeps a setting off the command line."""
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}")
    meta = {"help": help, "unit": unit, "flag": flag, "metavar": metavar, "env": env,
            "unset": unset, "zero_disables": zero_disables, "cli": cli}
    if isinstance(default, tuple):
        return field(default_factory=lambda: default, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Settings of one server process. Times are in seconds, sizes in bytes; each field's
    declaration says what it does (``python -m streamer.config`` prints them as a table)."""

    host: str = setting("127.0.0.1", "address to listen on (loopback only by default)",
                        metavar="HOST")
    port: int = setting(8765, "TCP port; 0 picks a free one", metavar="PORT")
    market_file: str | None = setting(
        None, "market definition, .toml or .json (see docs/market.md), or a built-in one: demo, "
        "or realtime (the demo's symbols at a trading day per 6.5 hours)", flag="--market",
        metavar="FILE", unset="the built-in demo market of 14 symbols")
    nats: tuple[str, ...] = setting(
        (), "a NATS server to follow (repeatable, one per server of a cluster): the market's "
        "symbols come from the bus (streamer publish), private streams are computed here",
        metavar="URL", unset="no bus: the market runs here")

    min_interval: float = setting(0.001, "smallest tick interval a private stream may ask for",
                                  unit="s")
    max_interval: float = setting(3600.0, "largest tick interval a private stream may ask for",
                                  unit="s")
    max_periods: int = setting(1_000_000, "largest periods of /gbm and of a finite stream")
    max_history: int = setting(HISTORY_MAX, "largest history a subscription may ask for",
                               unit="ticks")
    max_replay: int = setting(100_000, "most ticks one fromSeq resume may replay; further back "
                              "is limit_exceeded", unit="ticks")
    max_catchup: int = setting(10_000_000, "most steps computed to resume a private stream "
                               "from its t0", unit="steps")
    max_subscriptions: int = setting(1_000, "subscriptions one connection may hold")
    max_message_bytes: int = setting(4_096, "largest client message answered; a larger one "
                                     "gets limit_exceeded", unit="bytes")
    max_frame_bytes: int = setting(64 * 1024, "largest client frame read at all (what a "
                                   "connection can make the server buffer); a larger one "
                                   "closes the connection with 1009", unit="bytes")
    max_connections: int = setting(20_000, "open connections (WebSocket and SSE); one more is "
                                   "refused with HTTP 503")
    max_streams: int = setting(100_000, "private streams in the whole server (about 2 KB "
                               "each); one more is limit_exceeded")
    max_ticks_per_second: float = setting(
        500_000.0, "ticks a second all subscriptions together may receive (a subscription "
        "counts 1/interval); a subscribe past it is limit_exceeded; what this server sustains "
        "at p99 < 50 ms on 2 cores (docs/benchmarks.md)", unit="/s")
    max_ops_per_second: float = setting(
        100.0, "sustained operations per second per connection; faster gets rate_limited "
        f"(a resume costs one more per {CATCHUP_STEPS_PER_OP:,} steps it computes)", unit="/s")
    ops_burst: int = setting(1_000, "operations a connection may send at once before the rate "
                             "applies (enough for max_subscriptions in one go)")
    flood_limit: int = setting(100, "rate_limited replies in a row before the connection is "
                               "closed with 1008")
    max_send_buffer: int = setting(
        512 * 1024, "bytes waiting for one connection before its ticks are conflated (newest "
        "per subscription kept, lagging announced); writing resumes below a quarter",
        unit="bytes")
    socket_send_buffer: int | None = setting(
        None, "kernel send buffer of each connection's socket", unit="bytes",
        unset="the OS autotunes it (a stalled reader can then hold megabytes in the kernel)")
    max_lag: float = setting(
        1.0, "seconds what was sent to a connection may wait unread (measured by pings queued "
        "behind the data) before its ticks are conflated, lagging announced", unit="s")
    slow_consumer_timeout: float = setting(10.0, "seconds a connection may stay conflated "
                                           "before it is closed with 4008", unit="s")
    idle_timeout: float | None = setting(60.0, "seconds a connection may stay open without "
                                         "ever subscribing (then closed with 1008)", unit="s",
                                         zero_disables=True)
    token: str | None = setting(
        None, "require ?token= or 'Authorization: Bearer' on every request but the "
        "dashboard's files (HTTP 401 otherwise); compared in constant time, never logged",
        metavar="TOKEN", env="STREAMER_TOKEN", unset="no token")
    allow_origins: tuple[str, ...] = setting(
        (), "browser origin allowed to open /ws (repeatable); others get HTTP 403; the "
        "server's own origin is always allowed", flag="--allow-origin", metavar="ORIGIN",
        unset="any origin")
    handshake_timeout: float = setting(10.0, "seconds a new connection has to send its whole "
                                       "request head (HTTP 408 after)", unit="s")
    send_timeout: float = setting(10.0, "seconds an HTTP response may wait without the client "
                                  "reading any of it before the connection is cut (a slow "
                                  "reader gets all of it)", unit="s")
    max_gbm_requests: int = setting(4, "/gbm requests computed or being sent at once (each up to "
                                    "about 45 MB at max_periods); past it, HTTP 503 at once")
    workers: int = setting(1, "server processes sharing the port (SO_REUSEPORT), each "
                           "computing the same market; /healthz and /metrics describe the "
                           "process that answered")
    worker: int = setting(0, "this process's number among workers (set by the command line)",
                          cli=False)
    report_dir: str | None = setting(None, "where the workers report their figures to each "
                                     "other (made by the command line)", cli=False)
    compression: str = setting("none", "permessage-deflate with clients that offer it "
                               "(browsers do): none or deflate; see docs/operations.md",
                               metavar="none|deflate")
    ping_interval: float | None = setting(20.0, "seconds between keepalive pings", unit="s",
                                          zero_disables=True)
    ping_timeout: float | None = setting(20.0, "seconds to wait for a pong before closing",
                                         unit="s", zero_disables=True)

    def __repr__(self) -> str:  # never print the token
        shown = ", ".join(f"{f.name}={'***' if f.name == 'token' and value else value!r}"
                          for f, value in ((f, getattr(self, f.name)) for f in fields(self)))
        return f"ServerConfig({shown})"

    def __post_init__(self) -> None:
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {', '.join(COMPRESSIONS)}, got "
                             f"{self.compression!r}")
        if not 0 < self.min_interval <= self.max_interval:
            raise ValueError(f"need 0 < min_interval <= max_interval, got {self.min_interval} "
                             f"and {self.max_interval}")
        for name in ("max_periods", "max_replay", "max_catchup", "max_subscriptions",
                     "max_message_bytes", "max_frame_bytes", "max_connections", "max_streams",
                     "ops_burst", "flood_limit", "max_send_buffer", "max_gbm_requests"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_history < 0:
            raise ValueError(f"max_history must be >= 0, got {self.max_history}")
        if self.socket_send_buffer is not None and self.socket_send_buffer < 1024:
            raise ValueError(f"socket_send_buffer must be >= 1024, got {self.socket_send_buffer}")
        if not self.max_ticks_per_second > 0:
            raise ValueError(f"max_ticks_per_second must be > 0, got "
                             f"{self.max_ticks_per_second}")
        if not self.max_ops_per_second > 0:
            raise ValueError(f"max_ops_per_second must be > 0, got {self.max_ops_per_second}")
        for name in ("handshake_timeout", "send_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0 < self.max_lag <= 3600:
            raise ValueError(f"max_lag must be > 0 and <= 3600, got {self.max_lag}")
        if not self.slow_consumer_timeout > 0:
            raise ValueError(f"slow_consumer_timeout must be > 0, got "
                             f"{self.slow_consumer_timeout}")
        if self.token is not None and not self.token:
            raise ValueError("token must not be empty")
        if self.nats and self.market_file is not None:
            raise ValueError("--market and --nats exclude each other: a gateway takes the "
                             "market that is on the bus")
        if not 1 <= self.workers <= 64 or not 0 <= self.worker < self.workers:
            raise ValueError(f"workers must be 1..64 and worker 0..workers-1, got "
                             f"{self.workers} and {self.worker}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, got {self.port}")


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting as its flag and its documentation see it."""

    name: str
    kind: str
    """The annotation: ``int``, ``float | None``, ``tuple[str, ...]``, ..."""
    default: Any
    help: str
    unit: str
    flag: str
    metavar: str
    env: str | None
    unset: str | None
    zero_disables: bool


def settings(cli_only: bool = True) -> list[Setting]:
    """Every setting of :class:`ServerConfig`, in declaration order (those on the command
    line only, unless ``cli_only`` is off)."""
    found = []
    for f in fields(ServerConfig):
        meta = f.metadata
        if cli_only and not meta["cli"]:
            continue
        found.append(Setting(
            name=f.name, kind=str(f.type), default=_default(f), help=meta["help"],
            unit=meta["unit"], flag=meta["flag"] or "--" + f.name.replace("_", "-"),
            metavar=meta["metavar"] or UNITS[meta["unit"]], env=meta["env"],
            unset=meta["unset"], zero_disables=meta["zero_disables"]))
    return found


def _default(f: Field[Any]) -> Any:
    if f.default is not MISSING:
        return f.default
    assert f.default_factory is not MISSING
    return f.default_factory()


def show_default(item: Setting) -> str:
    """The default as the README and ``--help`` show it."""
    value = item.default
    if value is None or value == ():
        text = item.unset or "none"
    elif isinstance(value, float) and value.is_integer():
        text = f"`{int(value)}`"
    else:
        text = f"`{value}`"
    if item.env:
        text = f"`${item.env}`, else {text}"
    return text


def markdown_table() -> str:
    """The README's settings table."""
    rows = ["| option | default | unit | meaning |", "|---|---|---|---|"]
    for item in settings():
        flag = f"`{item.flag} {item.metavar}`" if item.kind != "bool" else f"`{item.flag}`"
        meaning = item.help + ("; `0` disables" if item.zero_disables else "")
        rows.append(f"| {flag} | {show_default(item)} | {item.unit} | {meaning} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown_table())
