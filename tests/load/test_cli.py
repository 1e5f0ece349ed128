"""The command line: wired into the ``streamer`` command's parser, its defaults are
LoadSpec's, its threshold flags become thresholds."""

from __future__ import annotations

import argparse

import pytest

from clients.load import cli
from clients.load.errors import SpecError
from clients.load.spec import LoadSpec, ProtocolSubscriber
from tick_streamer.cli import build_parser


def streamer_parser() -> argparse.ArgumentParser:
    """The ``streamer`` command's parser, with ``load`` among its commands."""
    return build_parser()


def test_the_defaults_are_the_specs() -> None:
    args = streamer_parser().parse_args(["load"])
    assert args.log_level == "warning"  # streamer's main() reads it for every command
    spec = cli.spec_from_args(args)
    assert spec == LoadSpec(cli.DEFAULT_URL)
    assert spec.subscriber == ProtocolSubscriber()


def test_options_reach_the_spec_with_durations_in_seconds() -> None:
    args = streamer_parser().parse_args([
        "load", "--url", "ws://h:1/ws", "-c", "7", "-s", "3", "--kind", "mix",
        "--symbols", "ACME, BOLT", "--interval", "20ms", "-d", "1.5s", "-r", "0", "-w", "2",
        "--params", '{"sigma": 0.5}', "--no-unsubscribe", "--token", "t",
        "--connect-timeout", "250ms"])
    spec = cli.spec_from_args(args)
    assert (spec.url, spec.connections, spec.subscriptions, spec.duration, spec.ramp_rate,
            spec.workers, spec.unsubscribe_at_end, spec.token, spec.connect_timeout) == (
        "ws://h:1/ws", 7, 3, 1.5, 0.0, 2, False, "t", 0.25)
    assert spec.subscriber == ProtocolSubscriber(kind="mix", symbols=("ACME", "BOLT"),
                                                 interval=0.02, params={"sigma": 0.5})


def test_threshold_flags_become_thresholds_in_order() -> None:
    args = streamer_parser().parse_args([
        "load", "--threshold", "worker_cpu.max<0.9", "--max-gaps", "0", "--max-p99", "50ms",
        "--min-ticks-rate", "1000"])
    assert [str(t) for t in cli.thresholds_from_args(args)] == [
        "tick_delay.p99<=50ms", "seq_gaps.count<=0", "ticks_received.rate>=1000",
        "worker_cpu.max<0.9"]


def test_a_threshold_flag_without_a_unit_names_the_flag() -> None:
    args = streamer_parser().parse_args(["load", "--max-p99", "50"])
    with pytest.raises(SpecError, match=r"^--max-p99: threshold 'tick_delay.p99<=50' needs a "):
        cli.thresholds_from_args(args)


def test_help_shows_each_default_once_and_never_none(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        streamer_parser().parse_args(["load", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: None)" not in text
    assert "(default: 10s)" in text and "(default: 10s) (default" not in text
    assert "--max-p99 DURATION" in text


def test_a_bad_duration_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        streamer_parser().parse_args(["load", "-d", "soon"])
    assert caught.value.code == 2
    assert "duration must be a duration such as 50ms, 1s or 250us, got 'soon'" in (
        capsys.readouterr().err)
