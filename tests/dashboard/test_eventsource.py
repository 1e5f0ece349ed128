"""The SSE door in a real browser: a page's ``EventSource`` streams a symbol and a private
stream, and across a server restart reconnects and resumes by itself (``Last-Event-ID``),
with no gap and no repeat."""

from __future__ import annotations

from tests.dashboard.conftest import in_thread, until

REFUSED = r"ERR_CONNECTION_REFUSED"  # Chromium logs each refused reconnect as a console error

LISTEN = """([name, url]) => {
  const log = window.sse ??= {};
  const entry = log[name] = {seqs: [], prices: [], acks: [], opens: 0, errors: 0};
  const source = new EventSource(url);
  (window.sources ??= {})[name] = source;
  source.onopen = () => { entry.opens += 1; };
  source.onerror = () => { entry.errors += 1; };
  source.addEventListener("subscribed", (e) => entry.acks.push(JSON.parse(e.data)));
  source.addEventListener("tick", (e) => {
    const tick = JSON.parse(e.data);
    if (String(tick.seq) !== e.lastEventId) throw new Error("id is not the seq");
    entry.seqs.push(tick.seq);
    entry.prices.push(tick.price);
  });
}"""


async def test_eventsource_resumes_across_a_server_restart_with_no_gap(server_process,
                                                                      open_page):
    first = await in_thread(server_process().start)
    origin = f"http://127.0.0.1:{first.port}"
    page = await open_page(f"{origin}/", allow=[REFUSED])  # any page of the origin
    await page.evaluate(LISTEN, ["symbol", "/sse?symbol=BOLT"])
    await page.evaluate(LISTEN, ["private", "/sse?interval=0.05&seed=21"])
    ack = await until(page, "() => sse.private.acks[0]")
    # the URL names the private stream fully only once its t0 is known: listen again with it
    await page.evaluate(LISTEN, ["named", f"/sse?interval=0.05&seed=21&t0={ack['t0']!r}"])
    names = ["symbol", "named"]
    await until(page, "(names) => names.every(n => sse[n].seqs.length >= 20)", names)
    await in_thread(first.kill)
    await until(page, "(names) => names.every(n => sse[n].errors >= 1)", names)
    before = await page.evaluate("(names) => names.map(n => sse[n].seqs.length)", names)
    second = await in_thread(server_process(port=first.port).start)
    assert second.port == first.port
    await until(page, "([names, counts]) => names.every((n, i) => sse[n].opens >= 2 && "
                      "sse[n].seqs.length >= counts[i] + 20)", [names, before], seconds=20)
    log = await page.evaluate("() => sse")
    for name in names:
        seqs = log[name]["seqs"]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), name  # no gap, no repeat
        assert log[name]["opens"] == 2, name
    # the named private stream is the same stream after the restart: its acks agree
    acks = log["named"]["acks"]
    assert len(acks) == 2 and acks[0]["t0"] == acks[1]["t0"] == ack["t0"]
    assert acks[0]["params"]["seed"] == acks[1]["params"]["seed"] == 21
    # the one the URL does not name fully starts afresh, and its new ack says so
    fresh = log["private"]["acks"]
    assert len(fresh) == 2 and fresh[1]["seq"] == 0 and fresh[1]["t0"] > ack["t0"]



async def test_eventsource_stops_after_a_finite_streams_end(server, open_page):
    """A finite stream's response ends after its ``end``; the browser reconnects once with the
    end's id, gets 204 and stops (readyState CLOSED): no reconnect loop, every tick once."""
    page = await open_page(f"http://127.0.0.1:{server.port}/")
    await page.evaluate(LISTEN, ["first", "/sse?interval=0.01&periods=30&seed=5"])
    ack = await until(page, "() => sse.first.acks[0]")
    url = f"/sse?interval=0.01&periods=30&seed=5&t0={ack['t0']!r}"  # named: it resumes
    await page.evaluate(LISTEN, ["named", url])
    await until(page, "() => sources.named.readyState === EventSource.CLOSED", seconds=15)
    log = await page.evaluate("() => sse.named")
    start = log["acks"][0]["seq"] + 1  # the stream was already under way: its ack's seq
    assert log["seqs"] == list(range(start, 30))  # then each tick once, to the last
    assert log["opens"] == 1 and len(log["acks"]) == 1
