"""``python -m tick_streamer``: the same as the ``streamer`` command."""

import sys

from tick_streamer.cli import main

sys.exit(main())
