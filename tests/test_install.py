"""What ``pip install .`` puts in place works from anywhere: the packages, the ``streamer``
command's modules, and the dashboard's files as package data, served at ``/`` by a server
started in another directory. The tree is copied first, so building leaves nothing behind."""

from __future__ import annotations

import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, timeout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project installed (without its dependencies, which this venv has) into a folder."""
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    source = tmp_path_factory.mktemp("source")
    for name in tracked:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                           "--no-build-isolation", "--target", str(target), str(source)],
                          capture_output=True, text=True, timeout=timeout(300))
    assert done.returncode == 0, done.stderr
    return target


def test_every_package_and_the_dashboard_are_installed(installed):
    for package in ("wire", "simulation", "streamer", "clients", "tick_streamer"):
        assert (installed / package / "__init__.py").is_file(), package
    dashboard = installed / "clients" / "dashboard"
    for name in ("index.html", "app.js", "wire.js", "vendor/uPlot.iife.min.js",
                 "vendor/uPlot.LICENSE.txt"):
        assert (dashboard / name).is_file(), name


def test_an_installed_server_serves_the_dashboard_from_anywhere(installed, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-I", "-c",
         f"import sys; sys.path.insert(0, {str(installed)!r}); "
         "from tick_streamer.cli import main; sys.exit(main())",
         "serve", "--port", "0", "--log-level", "warning"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert "http://127.0.0.1:" in banner, proc.stderr.read() if proc.stderr else banner
        port = int(banner.split("http://127.0.0.1:")[1].split("/")[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=timeout(10)) as reply:
            page = reply.read().decode()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/wire.js",
                                    timeout=timeout(10)) as reply:
            module = reply.read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=timeout(10))
    assert "<title>" in page and "export const PRIVATE_FIELDS" in module


def test_the_installed_modules_are_the_ones_that_ran(installed, tmp_path):
    done = subprocess.run(
        [sys.executable, "-I", "-c",
         f"import sys; sys.path.insert(0, {str(installed)!r}); "
         "import streamer.server as s, wire; print(s.__file__); print(wire.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, timeout=timeout(30))
    assert done.returncode == 0, done.stderr
    assert all(line.startswith(str(installed)) for line in done.stdout.split())
