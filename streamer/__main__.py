"""``python -m streamer serve ...``: the server alone (the ``streamer`` command adds ``tail`` and
``load``)."""

import sys

from streamer.cli import main

sys.exit(main())
