"""The ``streamer serve`` command line: every option explained, every setting reachable."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from streamer import cli
from streamer.config import ServerConfig
from tests.conftest import ROOT, timeout


def serve_args(*argv: str):
    return cli.build_parser().parse_args(["serve", *argv])


def test_serve_help_explains_every_setting_with_its_default(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["serve", "--help"])
    text = capsys.readouterr().out
    for flag in ("--host", "--port", "--market", "--log-level", "--max-connections",
                 "--max-subscriptions", "--max-message-bytes", "--max-ops-per-second",
                 "--max-send-buffer", "--slow-consumer-timeout", "--idle-timeout", "--token",
                 "--allow-origin", "--ping-interval", "--ping-timeout", "--min-interval",
                 "--max-periods", "--max-history"):
        assert flag in text
    assert "(default: 127.0.0.1)" in text and "(default: 8765)" in text


def test_the_defaults_of_the_command_are_the_defaults_of_the_config(monkeypatch):
    monkeypatch.delenv("STREAMER_TOKEN", raising=False)
    assert cli.config_from_args(serve_args()) == ServerConfig()


def test_every_flag_reaches_the_config(monkeypatch):
    monkeypatch.delenv("STREAMER_TOKEN", raising=False)
    config = cli.config_from_args(serve_args(
        "--host", "::1", "--port", "0", "--max-connections", "7", "--max-ops-per-second", "2.5",
        "--ops-burst", "3", "--flood-limit", "4", "--max-send-buffer", "65536",
        "--socket-send-buffer", "8192", "--slow-consumer-timeout", "1.5", "--idle-timeout", "0",
        "--token", "t", "--allow-origin", "https://a", "--allow-origin", "https://b",
        "--max-frame-bytes", "2048", "--max-catchup", "99"))
    assert config == dataclasses.replace(
        ServerConfig(), host="::1", port=0, max_connections=7, max_ops_per_second=2.5,
        ops_burst=3, flood_limit=4, max_send_buffer=65536, socket_send_buffer=8192,
        slow_consumer_timeout=1.5, idle_timeout=None, token="t",
        allow_origins=("https://a", "https://b"), max_frame_bytes=2048, max_catchup=99)


def test_the_token_can_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("STREAMER_TOKEN", "from-env")
    assert cli.config_from_args(serve_args()).token == "from-env"
    assert cli.config_from_args(serve_args("--token", "flag")).token == "flag"


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("::1", True),
                                            ("localhost", True), ("0.0.0.0", False),
                                            ("192.0.2.7", False)])
def test_loopback_hosts_are_told_apart(host, loopback):
    assert cli.is_loopback(host) is loopback


def run(*argv: str, seconds: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streamer", *argv], capture_output=True,
                          text=True, cwd=ROOT, timeout=timeout(seconds))


def test_a_bad_setting_exits_2_naming_it():
    result = run("serve", "--port", "0", "--min-interval", "0")
    assert result.returncode == 2
    assert "min_interval" in result.stderr


def test_a_bad_market_file_exits_2_naming_the_file(tmp_path):
    market = tmp_path / "m.toml"
    market.write_text("[symbols.ACME]\nstartPrice = -1\n")
    result = run("serve", "--port", "0", "--market", str(market))
    assert result.returncode == 2
    assert "m.toml" in result.stderr and "ACME" in result.stderr


def test_python_dash_m_streamer_and_the_version_answer():
    result = run("--version")
    assert result.returncode == 0 and result.stdout.startswith("streamer ")


def test_the_banner_says_when_compression_is_on():
    assert "compression" not in cli.banner(ServerConfig(), 8765)
    assert "compression deflate" in cli.banner(ServerConfig(compression="deflate"), 8765)
