"""The wire protocol of the tick streamer: what the server and every client agree on.

Both sides import this package; it imports nothing of either (the standard library, and orjson
for encoding). It holds no I/O and no state:

* :mod:`wire.names`: operation names, event types, error and close codes, the fields of a
  stream, and the bounds a peer can check without asking the server;
* :mod:`wire.values`: the checks of numbers, integers and seeds, with their error messages;
* :mod:`wire.commands`: the client's operations, typed, with their parser (the server's side)
  and encoder (the client's side);
* :mod:`wire.events`: the server's events, typed (in the manner of h11's events), with
  their encoder (the server's side) and reader (the client's side), and the hot path's
  tick texts;
* :mod:`wire.recovery`: what a client does when a subscribe is refused, as one table;
* :mod:`wire.frames`: RFC 6455 frame headers, for the peers that write frames themselves;
* :mod:`wire.pacing`: the token bucket of the operation rate limit, on both sides;
* :mod:`wire.js`: the same names and tables as a JavaScript module, for the dashboard.

docs/protocol.md is the contract in prose; this package is the contract in code.
"""
