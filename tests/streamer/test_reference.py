"""docs/protocol.md's reference tables are the ones ``python -m streamer.reference`` makes from
the code that enforces them (the fields' bounds and defaults, the limits, the error and close
codes, the recovery table)."""

from __future__ import annotations

import pytest

from streamer.reference import TABLES, marker
from tests.conftest import ROOT

PAGE = ROOT / "docs" / "protocol.md"


@pytest.mark.parametrize("name", TABLES)
def test_each_table_of_the_protocol_page_is_made_from_the_code(name):
    text = PAGE.read_text(encoding="utf-8")
    begin, end = marker(name)
    assert begin in text and end in text, f"docs/protocol.md lost the markers of {name!r}"
    table = text.split(begin, 1)[1].split(end, 1)[0]
    assert table == TABLES[name](), (f"the {name} table of docs/protocol.md is out of date: "
                                     "paste it from `python -m streamer.reference`")
