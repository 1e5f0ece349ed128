"""The tick streamer: a WebSocket server that pushes simulated prices to its subscribers.

Layers, imports pointing down only::

    cli, server          I/O: sockets, HTTP doors, signals, the timer
    session, hub, batch  protocol state and stream routing, no I/O
    messages, schedule, config, errors
    simulation           the price models (numpy only)
"""

__version__ = "0.1.0"
