"""``streamer tail``: ticks as CSV or JSON lines, until --count, the end, or Ctrl-C."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys

import pytest

from clients.feed.protocol import check_spec
from clients.feed.tail import tail
from clients.feed.cli import run as tail_command
from tick_streamer.cli import build_parser
from tests.conftest import ROOT, timeout, wait_for, ws_url
from wire.commands import StreamSpec


def spec(*args, **kwargs) -> StreamSpec:
    return check_spec(StreamSpec(*args, **kwargs))


async def test_csv_has_a_header_then_one_line_per_tick_in_order(server):
    out = io.StringIO()
    printed = await wait_for(tail(ws_url(server), [spec("BOLT")], count=5, out=out))
    lines = out.getvalue().splitlines()
    assert printed == 5 and lines[0] == "symbol,seed,seq,price,time" and len(lines) == 6
    rows = [line.split(",") for line in lines[1:]]
    assert {row[0] for row in rows} == {"BOLT"} and {row[1] for row in rows} == {"2"}
    seqs = [int(row[2]) for row in rows]
    assert seqs == list(range(seqs[0], seqs[0] + 5))


async def test_json_lines_of_a_private_stream_start_at_its_start_price(server):
    out = io.StringIO()
    await wait_for(tail(ws_url(server), [spec(seed=7, sigma=0.3, interval=0.005)],
                        fmt="json", count=4, out=out))
    ticks = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [t["seq"] for t in ticks] == [0, 1, 2, 3]
    assert ticks[0]["price"] == 70.0 and ticks[0]["symbol"] is None and ticks[0]["seed"] == 7


async def test_json_lines_of_a_heston_stream_carry_its_vol(server):
    from simulation import HestonParams, path_and_vols
    out = io.StringIO()
    await wait_for(tail(ws_url(server), [spec(model="heston", seed=7, interval=0.005)],
                        fmt="json", count=4, out=out))
    ticks = [json.loads(line) for line in out.getvalue().splitlines()]
    _, vols = path_and_vols(HestonParams(70.0, 0.05, 1.0, 0.09, 2.0, 0.09, 0.5, -0.7), 7, 4)
    assert vols is not None and [t["vol"] for t in ticks] == vols.tolist()


def test_a_json_line_has_no_vol_when_its_tick_has_none():
    from types import SimpleNamespace

    from clients.feed.protocol import Tick
    from clients.feed.tail import json_line
    line = json.loads(json_line(Tick(0, 70.0, 1.0, SimpleNamespace(symbol="ACME", seed=1))))
    assert line == {"symbol": "ACME", "seed": 1, "seq": 0, "price": 70.0, "time": 1.0}


async def test_several_symbols_are_printed_as_they_arrive_until_count(server):
    out = io.StringIO()
    await wait_for(tail(ws_url(server), [spec("ACME"), spec("BOLT")],
                        count=30, header=False, out=out))
    symbols = [line.split(",")[0] for line in out.getvalue().splitlines()]
    assert len(symbols) == 30 and set(symbols) == {"ACME", "BOLT"}


async def test_a_finite_stream_ends_the_tail(server):
    out = io.StringIO()
    printed = await wait_for(tail(ws_url(server), [spec(seed=1, interval=0.002,
                                                               periods=6)], out=out))
    assert printed == 6


@pytest.mark.parametrize(("argv", "message"), [
    (["--sigma", "-1"], "streamer tail: error: sigma must be a finite number >= 0, got -1.0"),
    (["ACME", "--seed", "3"], "streamer tail: error: --seed describes a private stream; it "
                              "cannot be combined with SYMBOL"),
    (["ACME", "--count", "0"], "streamer tail: error: --count must be >= 1, got 0"),
    (["ACME", "--pace", "asap"], "streamer tail: error: pace is the pace of a replay: give "
                                 "from_seq or from_time with it"),
    (["--from-seq", "3"], "streamer tail: error: --from-seq takes SYMBOLs (a private "
                          "stream's seq names a tick only with its seed and t0)"),
])
def test_a_bad_argument_fails_before_connecting(argv, message, capsys):
    # the command's function, without main(), which configures logging for the process
    args = build_parser().parse_args(["tail", "--url", "ws://127.0.0.1:9/ws", *argv])
    assert tail_command(args) == 2
    assert capsys.readouterr().err.strip() == message


async def test_a_symbol_from_seq_zero_at_pace_asap_prints_its_whole_history(server):
    out = io.StringIO()
    printed = await wait_for(tail(ws_url(server), [spec("BOLT", from_seq=0, pace="asap")],
                                  fmt="json", count=40, out=out))
    seqs = [json.loads(line)["seq"] for line in out.getvalue().splitlines()]
    assert printed == 40 and seqs == list(range(40))


def test_no_server_is_an_error_not_a_traceback(capsys):
    args = build_parser().parse_args(["tail", "--url", "ws://127.0.0.1:9/ws", "ACME"])
    assert tail_command(args) == 1
    assert capsys.readouterr().err.startswith("streamer tail: error: cannot connect to ")


def test_the_command_prints_count_json_lines(server_process):
    srv = server_process().start()
    done = subprocess.run([sys.executable, "-m", "tick_streamer", "tail", "--url", srv.url,
                           "--format", "json", "--count", "3", "BOLT"],
                          capture_output=True, text=True, cwd=ROOT, timeout=timeout(20))
    assert done.returncode == 0, done.stderr
    seqs = [json.loads(line)["seq"] for line in done.stdout.splitlines()]
    assert len(seqs) == 3 and seqs == list(range(seqs[0], seqs[0] + 3))


def test_ctrl_c_stops_the_command_quietly(server_process):
    srv = server_process().start()
    proc = subprocess.Popen([sys.executable, "-m", "tick_streamer", "tail", "--url", srv.url,
                             "BOLT"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == "symbol,seed,seq,price,time\n"
    assert proc.stdout.readline().startswith("BOLT,2,")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout(10)) == 130
    assert "Traceback" not in proc.stderr.read()
