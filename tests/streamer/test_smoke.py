import orjson
from websockets.asyncio.client import connect

from tests.conftest import wait_for, ws_url


async def test_a_symbol_subscriber_gets_the_ack_then_consecutive_ticks(server):
    async with connect(ws_url(server)) as ws:
        await ws.send('{"op": "subscribe", "id": 1, "symbol": "BOLT"}')
        ack = orjson.loads(await wait_for(ws.recv()))[0]
        assert ack["type"] == "subscribed" and ack["id"] == 1 and ack["symbol"] == "BOLT"
        seqs: list[int] = []
        while len(seqs) < 5:
            seqs += [e["seq"] for e in orjson.loads(await wait_for(ws.recv()))]
        assert seqs[:5] == list(range(ack["seq"] + 1, ack["seq"] + 6))
