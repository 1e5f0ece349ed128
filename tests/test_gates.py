"""The gates: ``ruff`` and ``mypy`` pass on the whole tree, with the settings in pyproject.toml.

They run as part of the test suite, so the README's test command (and CI, which runs it) fails
on a lint error or a new type error. Each prints the tool's own report when it fails.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, timeout

BIN = Path(sys.executable).parent


def run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / tool), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout(480))


def test_ruff_finds_nothing():
    done = run("ruff", "check", "--output-format", "concise", ".")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.timeout(600)
def test_mypy_finds_no_type_error():
    done = run("mypy", "--no-incremental")  # a cold check, as on a clean clone
    assert done.returncode == 0, done.stdout + done.stderr
