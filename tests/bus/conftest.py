"""A NATS server with JetStream, started for the test that asks for one and stopped after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bus.nats_node import NatsNode


@pytest.fixture
def nats_node(tmp_path: Path) -> Iterator[NatsNode]:
    node = NatsNode(tmp_path).start()
    try:
        yield node
    finally:
        node.stop()
