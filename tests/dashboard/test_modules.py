"""The dashboard's JavaScript modules, run as the page runs them (imported in Chromium): the
bounded tick buffer, the rolling statistics, the form's parser and the address's state."""

from __future__ import annotations

from tests.conftest import http_url
from wire.names import ErrorCode
from wire.recovery import Action, recover


async def test_the_tick_buffer_keeps_the_newest_ticks_in_fixed_memory(server, open_page):
    page = await open_page(http_url(server, "/"))
    result = await page.evaluate("""async () => {
        const { TickBuffer } = await import('/static/buffer.js');
        const buf = new TickBuffer(5);
        const sizes = new Set();
        for (let k = 0; k < 23; k++) {
            buf.push(k, 100 + k / 10, 50 + k);
            sizes.add(buf.seq.length);
        }
        const [times, prices] = buf.view();
        return { length: buf.length, seqs: Array.from(buf.seq.subarray(buf.start, buf.end)),
                 times: Array.from(times), prices: Array.from(prices), sizes: [...sizes],
                 contiguous: buf.contiguous(), at: buf.indexAtOrAfter(102) - buf.start };
    }""")
    assert result["length"] == 5 and result["seqs"] == [18, 19, 20, 21, 22]
    assert result["prices"] == [68, 69, 70, 71, 72]
    assert result["times"] == [100 + k / 10 for k in range(18, 23)]
    assert result["sizes"] == [10] and result["contiguous"]  # never reallocated
    assert result["at"] == 2  # the first tick at or after time 102 is seq 20


async def test_the_rolling_statistics_give_rate_and_delay_quantiles(server, open_page):
    page = await open_page(http_url(server, "/"))
    summary = await page.evaluate("""async () => {
        const { WindowStats } = await import('/static/stats.js');
        const stats = new WindowStats(4000, 1024);
        stats.start(0);
        // 50 ticks a second for 8 s; delays 1..100 ms in turn
        for (let i = 0; i < 400; i++) stats.add(i * 20, 1 + (i % 100));
        return stats.summary(8000);
    }""")
    assert summary["n"] == 200  # only the last 4 seconds
    assert summary["rate"] == 50
    assert summary["p50"] == 50 and summary["p99"] == 99


async def test_the_form_parser_keeps_big_seeds_exact_and_the_address_round_trips(server,
                                                                                 open_page):
    page = await open_page(http_url(server, "/"))
    result = await page.evaluate("""async () => {
        const { readFields } = await import('/static/form.js');
        const { readUrl, writeUrl } = await import('/static/url.js');
        const good = readFields({ startPrice: '70', mu: '-0.5', sigma: '1e-1', delta: ' 1 ',
                                  interval: '.02', seed: '18446744073709551615', periods: '' });
        const bad = readFields({ mu: 'abc', seed: '1.5', periods: '10' });
        const search = writeUrl('?token=t', { symbols: ['ACME', 'BOLT'],
            streams: [{ interval: 0.02, seed: '42' }], window: 300 });
        return { good, bad, search, back: readUrl(search) };
    }""")
    op, raw, errors = result["good"]
    assert op == {"op": "subscribe", "startPrice": 70, "mu": -0.5, "sigma": 0.1, "delta": 1,
                  "interval": 0.02}
    assert raw == {"seed": "18446744073709551615"} and errors == {}
    op, raw, errors = result["bad"]
    assert errors == {"mu": 'mu must be a number, got "abc"',
                      "seed": 'seed must be a whole number, got "1.5"'}
    assert raw == {"periods": "10"}
    assert result["search"] == "?symbols=ACME,BOLT&stream=interval:0.02,seed:42&window=300&token=t"
    assert result["back"] == {"symbols": ["ACME", "BOLT"],
                              "streams": [{"interval": "0.02", "seed": "42"}], "window": 300}


async def test_the_page_recovers_from_a_refused_subscribe_as_the_python_client_does(server,
                                                                                     open_page):
    cases = [(code.value, field, resuming) for code in ErrorCode
             for field in (None, "fromSeq", "t0", "sigma", "history", "symbol")
             for resuming in (False, True)]
    page = await open_page(http_url(server, "/"))
    actions = await page.evaluate("""async (cases) => {
        const { recover } = await import('/static/wire.js');
        return cases.map(([code, field, resuming]) => recover(code, field, resuming));
    }""", cases)
    assert actions == [recover(code, field, resuming) for code, field, resuming in cases]
    assert set(actions) == set(Action)  # every action is among the cases
