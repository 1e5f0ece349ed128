"""Publish your own prices on the market's bus: every gateway serves them to its clients.

    python examples/publish_prices.py --nats nats://127.0.0.1:4222 --symbol BTC --symbol ETH

A gateway (``streamer serve --nats URL``) serves any symbol whose ticks appear on subject
``ticks.<SYMBOL>`` of the JetStream stream ``TICKS`` (created by ``streamer publish``), with
``seq``, conflation, ``history`` and ``fromSeq``, like the market's own symbols. What a tick
needs (docs/deployment.md, "A third party's prices"):

* the subject ``ticks.<SYMBOL>`` (1-16 of A-Z 0-9 . _ -);
* a JSON payload: ``seq`` (from 0, one more each tick), ``price`` (positive), ``time`` (epoch
  seconds), and best also ``t0`` (when this numbering began: a new ``t0`` tells the gateways
  that ``seq`` starts again) and ``interval`` (seconds between ticks; otherwise the gateways
  take the time between the first two); ``vol`` if you have one;
* the header ``Nats-Msg-Id: <SYMBOL>:<t0>:<seq>``, so that JetStream drops a tick published
  twice (a retry; or a second publisher that numbers the same ticks alike, as two relays of
  one upstream feed would: two copies of this script do not, each takes its own ``t0``).

This script walks each symbol's price at random (a log-normal step a tick) and needs only
nats-py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import time

import nats
import nats.js.errors


async def publish(url: str, symbols: list[str], interval: float, count: int | None) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    try:
        await js.stream_info("TICKS")
    except nats.js.errors.NotFoundError:
        await nc.close()
        raise SystemExit(f"no stream TICKS on {url}: start `streamer publish --nats {url}` "
                         "first") from None
    t0 = time.time()  # this run's numbering: seq starts at 0 again under a new t0
    prices = dict.fromkeys(symbols, 100.0)
    seq = 0
    try:
        while count is None or seq < count:
            now = time.time()
            for symbol in symbols:
                if seq:
                    prices[symbol] *= math.exp(random.gauss(0.0, 0.002))
                body = {"seq": seq, "price": prices[symbol], "time": now, "t0": t0,
                        "interval": interval}
                await js.publish(f"ticks.{symbol}", json.dumps(body).encode(),
                                 headers={"Nats-Msg-Id": f"{symbol}:{t0!r}:{seq}"})
            seq += 1
            await asyncio.sleep(max(0.0, t0 + seq * interval - time.time()))
    finally:
        await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nats", default="nats://127.0.0.1:4222", help="a NATS server's URL")
    parser.add_argument("--symbol", action="append", dest="symbols",
                        help="a symbol to publish (repeatable; default EXT1 and EXT2)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between ticks")
    parser.add_argument("--count", type=int, default=None,
                        help="ticks of each symbol, then stop (default: until interrupted)")
    args = parser.parse_args()
    try:
        asyncio.run(publish(args.nats, args.symbols or ["EXT1", "EXT2"], args.interval,
                            args.count))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
