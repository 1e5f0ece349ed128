"""The tick streamer: a WebSocket server that pushes simulated prices to its subscribers.

Layers, imports pointing down only::

    cli, server, metrics      I/O: sockets, HTTP doors, signals, the timer, flags
    session, hub, batch       protocol state and stream routing, no I/O
    schedule, config, reference
    simulation                the price models (numpy)
    wire                      the protocol, shared with the clients

It imports nothing of the clients; the ``streamer`` command (:mod:`tick_streamer`) puts the
server beside them.
"""

__version__ = "0.1.0"
