"""The dashboard's copy of the protocol's names and tables (clients/dashboard/wire.js) is the
one ``python -m wire.js`` makes from the wire package; tests/dashboard/test_modules.py runs
its ``recover`` against the Python one in the browser."""

from __future__ import annotations

from tests.conftest import ROOT
from wire import js


def test_the_dashboards_wire_module_is_generated_from_the_wire_package():
    on_disk = (ROOT / "clients" / "dashboard" / "wire.js").read_text(encoding="utf-8")
    assert on_disk == js.render(), ("clients/dashboard/wire.js is out of date: run "
                                    "python -m wire.js > clients/dashboard/wire.js")
