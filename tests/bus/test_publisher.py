"""``streamer publish`` against a real NATS server: every tick on the bus is the path's, bit
for bit, with its message id; two publishers side by side store each tick once, and killing
one (SIGKILL) loses none; publishers agree on the market through the bus."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nats
import pytest

from simulation import path_and_vols
from simulation.market import load_market
from streamer import bus, publisher
from tests.bus.nats_node import NatsNode
from tests.conftest import ROOT, timeout


def market_file(directory: Path, now: float, acme_seed: int = 1) -> Path:
    t0 = float(int(now) - 5)
    path = directory / "market.toml"
    path.write_text(f"""
t0 = {t0!r}
[symbols.ACME]
startPrice = 70.0
mu = 0.05
sigma = 0.3
delta = 1.0
interval = 0.02
seed = {acme_seed}
[symbols.VOLT]
model = "heston"
startPrice = 50.0
mu = 0.05
delta = 1.0
v0 = 0.04
kappa = 2.0
theta = 0.05
xi = 0.6
rho = -0.7
interval = 0.05
seed = 7
""")
    return path


@pytest.fixture
async def nc(nats_node: NatsNode) -> AsyncIterator[object]:
    client = await nats.connect(nats_node.url)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def js(nc: object) -> object:
    return nc.jetstream()  # type: ignore[attr-defined]


async def stored(js: object, symbol: str) -> list[tuple[int, float, float | None, str]]:
    """``(seq, price, vol, message id)`` of every message the stream holds for ``symbol``."""
    info = await js.stream_info(bus.STREAM)  # type: ignore[attr-defined]
    out = []
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(bus.STREAM, sequence)  # type: ignore[attr-defined]
        if msg.subject == bus.subject(symbol):
            tick = bus.decode_tick(msg.subject, msg.data)
            out.append((tick.seq, tick.price, tick.vol, (msg.headers or {})[bus.MSG_ID]))
    return out


def assert_the_paths(path: Path, symbol: str,
                     ticks: list[tuple[int, float, float | None, str]]) -> None:
    spec = load_market(path, time.time()).get(symbol)
    assert spec is not None and ticks
    prices, vols = path_and_vols(spec.params, spec.seed, max(t[0] for t in ticks) + 1)
    for seq, price, vol, msg_id in ticks:
        assert price == prices[seq], (symbol, seq)
        assert vol == (None if vols is None else vols[seq]), (symbol, seq)
        assert msg_id == bus.msg_id(symbol, spec.t0, seq)


async def test_every_published_tick_is_the_paths_with_its_message_id(
        nc: object, js: object, tmp_path: Path) -> None:
    now = time.time()
    path = market_file(tmp_path, now)
    await publisher.ensure_stream(js, 1000, 1)
    market = await publisher.agree_market(js, load_market(path, now), load_market(path, now),
                                          replace=False, replicas=1, now=now)
    runner = publisher.Publisher(nc, market, time.time())
    await asyncio.wait_for(runner.run(until=time.time() + 1.0), timeout(15))

    acme, volt = await stored(js, "ACME"), await stored(js, "VOLT")
    assert len(acme) >= 30 and len(volt) >= 10
    assert [t[0] for t in acme] == list(range(acme[0][0], acme[-1][0] + 1))  # no gap
    assert_the_paths(path, "ACME", acme)
    assert_the_paths(path, "VOLT", volt)
    assert runner.counts.published == len(acme) + len(volt)
    info = await js.stream_info(bus.STREAM)  # type: ignore[attr-defined]
    assert info.config.max_msgs_per_subject == 1000
    assert info.config.duplicate_window == bus.DUPLICATE_WINDOW


async def test_a_publisher_started_after_a_pause_fills_the_hole_on_the_bus(
        nc: object, js: object, tmp_path: Path) -> None:
    now = time.time()
    path = market_file(tmp_path, now)
    market = load_market(path, now)
    await publisher.ensure_stream(js, 10_000, 1)
    await publisher.agree_market(js, market, market, replace=False, replicas=1, now=now)
    first = publisher.Publisher(nc, market, time.time())
    await asyncio.wait_for(first.run(until=time.time() + 0.5), timeout(15))
    await asyncio.sleep(0.5)  # no publisher for half a second: ACME misses about 25 ticks
    second = publisher.Publisher(nc, market, time.time())
    assert await second.backfill() >= 20
    await asyncio.wait_for(second.run(until=time.time() + 0.5), timeout(15))
    for symbol in ("ACME", "VOLT"):
        ticks = await stored(js, symbol)
        seqs = [t[0] for t in ticks]
        assert seqs == list(range(seqs[0], seqs[-1] + 1)), symbol  # no hole, no duplicate
        assert_the_paths(path, symbol, ticks)
    assert second.counts.duplicates == 0


async def test_a_publish_the_bus_refuses_is_sent_again_until_it_is_stored(
        nc: object, js: object, tmp_path: Path) -> None:
    """No stream takes the subjects yet (every publish is answered 503): the publisher keeps
    each tick and sends it again, and once the stream exists every one is stored, once."""
    now = time.time()
    path = market_file(tmp_path, now)
    market = load_market(path, now)
    runner = publisher.Publisher(nc, market, time.time())
    acme_stream = runner.hub.symbol("ACME")
    assert acme_stream is not None
    start = runner.hub.current(acme_stream)[0]
    task = asyncio.create_task(runner.run(until=time.time() + 1.5))
    deadline = time.monotonic() + timeout(10)
    while not runner.counts.failures.get("status 503"):
        assert time.monotonic() < deadline, runner.counts
        await asyncio.sleep(0.02)
    assert runner.counts.published == 0
    await publisher.ensure_stream(js, 10_000, 1)
    await asyncio.wait_for(task, timeout(15))
    acme = await stored(js, "ACME")
    assert [t[0] for t in acme] == list(range(start + 1, acme[-1][0] + 1))  # all, in order
    assert_the_paths(path, "ACME", acme)
    assert runner.counts.retried > 0 and runner.counts.duplicates == 0


async def start_publisher(url: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streamer", "publish", "--nats", url, *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def banner(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout(20))
    assert b"publishing" in line, line
    return line.decode()


async def seen(sub: object, symbol: str, seq: int) -> None:
    """Wait until the stream delivers tick ``seq`` of ``symbol`` or a later one."""
    while True:
        msg = await sub.next_msg(timeout=timeout(10))  # type: ignore[attr-defined]
        if msg.subject == bus.subject(symbol) and bus.decode_tick(msg.subject,
                                                                   msg.data).seq >= seq:
            return


async def test_two_publishers_store_each_tick_once_and_a_killed_one_loses_none(
        js: object, nats_node: NatsNode, tmp_path: Path) -> None:
    path = market_file(tmp_path, time.time())
    first = await start_publisher(nats_node.url, "--market", str(path))
    second = await start_publisher(nats_node.url, "--market", str(path))
    try:
        await banner(first)
        await banner(second)
        sub = await js.subscribe(bus.SUBJECTS, ordered_consumer=True)  # type: ignore[attr-defined]
        msg = await sub.next_msg(timeout=timeout(10))
        start = bus.decode_tick(msg.subject, msg.data)
        await seen(sub, start.symbol, start.seq + 25)  # both are publishing now
        first.send_signal(signal.SIGKILL)
        await asyncio.wait_for(first.wait(), timeout(10))
        await seen(sub, "ACME", start.seq + 100)  # the survivor goes on
        second.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(second.communicate(), timeout(15))
        assert second.returncode == 0
        # both published the same ticks for a while: the bus already had some of the second's
        already = re.search(rb"published (\d+) ticks \((\d+) already on the bus\)", err)
        assert already is not None and int(already[2]) > 0, err[-500:]
    finally:
        for process in (first, second):
            if process.returncode is None:
                process.kill()
                await process.wait()

    for symbol in ("ACME", "VOLT"):
        ticks = await stored(js, symbol)
        # no gap, no duplicate; the order may differ at the start, where one publisher's
        # backfill of a tick can land after the other's next one (a gateway ignores it then)
        seqs = sorted(t[0] for t in ticks)
        assert seqs == list(range(seqs[0], seqs[-1] + 1)), symbol
        assert_the_paths(path, symbol, ticks)


async def test_a_publisher_takes_the_market_on_the_bus_and_refuses_another(
        js: object, nats_node: NatsNode, tmp_path: Path) -> None:
    now = time.time()
    path = market_file(tmp_path, now)
    await publisher.agree_market(js, load_market(path, now), load_market(path, now),
                                 replace=False, replicas=1, now=now)
    other = tmp_path / "other"
    other.mkdir()
    different = market_file(other, now, acme_seed=2)

    refused = await start_publisher(nats_node.url, "--market", str(different))
    _, err = await asyncio.wait_for(refused.communicate(), timeout(20))
    assert refused.returncode == 2
    assert b"symbol ACME differs" in err and b"--replace-market" in err

    adopting = await start_publisher(nats_node.url)  # no --market: the bus's
    try:
        assert "publishing 2 symbols" in await banner(adopting)
    finally:
        adopting.send_signal(signal.SIGTERM)
        await asyncio.wait_for(adopting.wait(), timeout(15))
    kv = await js.key_value(bus.MARKET_BUCKET)  # type: ignore[attr-defined]
    entry = await kv.get(bus.MARKET_KEY)
    assert bus.decode_market(entry.value, now) == load_market(path, now)


async def test_an_unreachable_bus_is_a_clear_error() -> None:
    process = await start_publisher("nats://127.0.0.1:9")
    _, err = await asyncio.wait_for(process.communicate(), timeout(30))
    assert process.returncode == 1
    assert b"cannot reach NATS at nats://127.0.0.1:9" in err


async def test_a_stream_the_bus_refuses_is_a_clear_error(nats_node: NatsNode) -> None:
    """Three replicas on a single node: one line naming the setting, no traceback, and no
    word of a lost bus when the publisher closes its connection."""
    process = await start_publisher(nats_node.url, "--replicas", "3")
    _, err = await asyncio.wait_for(process.communicate(), timeout(30))
    assert process.returncode == 2, err
    assert b"--replicas 3" in err and b"replicas > 1 not supported" in err, err
    assert b"Traceback" not in err and b"lost the bus" not in err, err


class SilentBus:
    """A stand-in for the NATS client whose bus answers no publish for ``quiet`` seconds,
    then every one it is sent."""

    def __init__(self, quiet: float) -> None:
        self.sent: list[str] = []
        self.answer: Any = None
        self.until = time.monotonic() + quiet

    def jetstream(self) -> None:
        return None

    def new_inbox(self) -> str:
        return "_INBOX.test"

    async def subscribe(self, subject: str, cb: Any) -> Any:
        self.answer = cb
        return SimpleNamespace(unsubscribe=self._nothing)

    async def _nothing(self) -> None:
        return None

    async def publish(self, subject: str, payload: bytes, reply: str,
                      headers: dict[str, str]) -> None:
        self.sent.append(headers[bus.MSG_ID])
        if time.monotonic() >= self.until:
            ack = SimpleNamespace(subject=reply, headers=None,
                                  data=b'{"stream":"TICKS","seq":1}')
            asyncio.get_running_loop().call_soon(asyncio.ensure_future, self.answer(ack))


async def test_publishes_left_unanswered_are_sent_again_and_the_window_stays_bounded(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(publisher, "ACK_TIMEOUT", 0.3)
    monkeypatch.setattr(publisher, "MAX_PENDING", 50)
    now = time.time()
    fake = SilentBus(quiet=1.0)
    runner = publisher.Publisher(fake, load_market(market_file(tmp_path, now), now), now)
    await asyncio.wait_for(runner.run(until=time.time() + 2.0), timeout(20))
    distinct = list(dict.fromkeys(fake.sent))
    assert runner.counts.published == len(distinct) and not runner._unacked
    assert runner.counts.failures.get("no acknowledgement", 0) > 0 and runner.counts.retried > 0
    for symbol in ("ACME", "VOLT"):  # each symbol's ticks were first sent in order
        seqs = [int(i.rpartition(":")[2]) for i in distinct if i.startswith(symbol + ":")]
        assert seqs == sorted(seqs) and seqs == list(range(seqs[0], seqs[-1] + 1))
