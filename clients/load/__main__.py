"""``python -m clients.load``: the load tester without the ``streamer`` command."""

from clients.load.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
