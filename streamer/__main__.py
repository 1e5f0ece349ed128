"""``python -m streamer``: the same as the ``streamer`` command."""

import sys

from streamer.cli import main

sys.exit(main())
