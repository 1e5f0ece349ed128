"""The dashboard in a real headless Chromium: ticks arrive and charts draw, a bad parameter is
shown by its field, a server restart leaves no hole, and the page reads well at desktop and
phone widths in light and dark schemes (screenshots go to tests/artifacts/)."""

from __future__ import annotations

import dataclasses
import json
import re
import time
import urllib.request
from typing import Any

from tests.conftest import http_url, timeout
from tests.dashboard.conftest import ARTIFACTS, DESKTOP, PHONE, in_thread, stream, until

#: The browser's own message while the server is down (it logs every failed WebSocket).
WS_REFUSED = r"WebSocket connection to '.*' failed"

#: Parameters of the private stream the form tests start.
PARAMS = {"startPrice": "100", "mu": "0.1", "sigma": "0.4", "delta": "0.5", "interval": "0.01",
          "seed": "18446744073709551615", "periods": "60"}


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout(5)) as response:
        body: bytes = response.read()  # urlopen returns Any in typeshed
        return body


async def fill_form(page, fields: dict[str, str]) -> None:
    for name, value in fields.items():
        await page.fill(f"#f-{name}", value)


#: JavaScript: how many pixels of a stream's chart canvas are in the chart's line colour.
LINE_PIXELS = """(key) => {
    const hex = getComputedStyle(document.documentElement).getPropertyValue('--chart-line');
    const [r, g, b] = hex.trim().match(/[0-9a-f]{2}/gi).map((h) => parseInt(h, 16));
    const canvas = document.querySelector(`.card[data-key='${key}'] canvas`);
    const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) {
        if (d[i + 3] > 150 && Math.abs(d[i] - r) + Math.abs(d[i + 1] - g) + Math.abs(d[i + 2] - b) < 90) n++;
    }
    return n;
}"""


async def line_pixels(page, key: str) -> int:
    pixels: int = await page.evaluate(LINE_PIXELS, key)
    return pixels


async def test_ticks_arrive_and_each_chart_draws_once_per_frame(server, open_page):
    page = await open_page(http_url(server, "/?symbols=ACME,BOLT"))
    await until(page, "() => dashboard.stream('symbol:BOLT').ticks >= 100 && "
                      "dashboard.stream('symbol:ACME').ticks >= 40")
    for key, hz in (("symbol:BOLT", 50), ("symbol:ACME", 20)):
        s = await stream(page, key)
        assert s["shown"] and s["state"] == "live" and s["draws"] >= 10
        assert s["gaps"] == 0 and s["lagging"] == 0 and s["contiguous"]
        assert 0.6 * hz <= s["rate"] <= 1.4 * hz, s
        assert s["p50"] is not None and s["p50"] < 250, s
        assert await line_pixels(page, key) > 300  # the price line is on the canvas
    perf = await page.evaluate("dashboard.perf()")
    assert perf["setData"] <= 2 * perf["frames"], perf  # two charts: at most one call each a frame
    # not one per tick: the history replayed at the start (hundreds of ticks) drew once
    assert perf["setData"] < perf["events_in"] / 2, perf
    # the watch list: every symbol of the market with a price and its change
    rows = await page.locator("#watchlist tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.symbol, r.querySelector('.last').textContent, "
        "r.querySelector('.change').textContent])")
    assert [r[0] for r in rows] == ["ACME", "BOLT", "SLOW"]
    assert all(r[1] not in ("", "–") for r in rows)
    assert all(re.fullmatch(r"[+−]?\d+\.\d\d%", r[2]) for r in rows[:2]), rows
    stats = page.locator(".card[data-key='symbol:BOLT'] [data-stat='gaps']")
    assert await stats.text_content() == "0"
    origin = http_url(server, "/")
    assert all(url.startswith(origin) for url in page.watch.requests), page.watch.requests


async def test_clicking_a_symbol_opens_its_chart_and_the_address_follows(server, open_page):
    page = await open_page(http_url(server, "/"))
    await until(page, "() => document.querySelectorAll('#watchlist tbody tr').length === 3")
    assert await page.locator("#charts-empty").is_visible()
    await page.click("#watchlist tr[data-symbol='SLOW'] button.sym")
    await page.click("#watchlist tr[data-symbol='ACME'] button.sym")
    await until(page, "() => dashboard.stream('symbol:ACME').draws > 0 && "
                      "dashboard.stream('symbol:SLOW').draws > 0")
    assert await page.evaluate("location.search") == "?symbols=SLOW,ACME"
    assert await page.get_attribute("#watchlist tr[data-symbol='ACME'] button.sym",
                                    "aria-pressed") == "true"
    assert not await page.locator("#charts-empty").is_visible()
    await page.click(".card[data-key='symbol:SLOW'] button.close")
    assert await page.evaluate("location.search") == "?symbols=ACME"
    assert await page.locator(".card").count() == 1
    # the sparkline of a watch-list row has been drawn
    ink = await page.evaluate("""() => {
        const c = document.querySelector("#watchlist tr[data-symbol='BOLT'] canvas");
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }""")
    assert ink > 20
    # a switch to the dark scheme redraws the open chart in the dark scheme's line colour
    assert await line_pixels(page, "symbol:ACME") > 50
    await page.emulate_media(color_scheme="dark")
    await until(page, f"() => getComputedStyle(document.documentElement).getPropertyValue("
                      f"'--chart-line').trim() === '#58a6ff' && ({LINE_PIXELS})('symbol:ACME') > 50")


async def test_every_bad_parameter_shows_the_servers_error_next_to_its_field(server, open_page):
    page = await open_page(http_url(server, "/"))
    bad = {"startPrice": "0", "mu": "11", "sigma": "-1", "delta": "0", "interval": "0.0001",
           "seed": "-1", "periods": "0"}
    for field, value in bad.items():
        await fill_form(page, {**PARAMS, field: value})
        await page.click("#private-form button[type=submit]")
        error = page.locator(f"#e-{field}")
        await error.wait_for(state="visible")
        sent = [e for e in page.watch.received if e["type"] == "error" and e["field"] == field]
        assert sent, f"no server error for {field}"
        assert await error.text_content() == sent[-1]["message"]
        assert field in sent[-1]["message"]
        assert await page.get_attribute(f"#f-{field}", "aria-invalid") == "true"
        others = await page.locator(".error:not([hidden])").count()
        assert others == 1, f"{field}: errors are shown by other fields too"
    # text that is not a number never leaves the page
    await fill_form(page, {**PARAMS, "mu": "abc"})
    def subscribes() -> int:  # the page also pings now and then: count what the form sends
        return sum(message.get("op") == "subscribe" for message in page.watch.sent)
    before = subscribes()
    await page.click("#private-form button[type=submit]")
    assert await page.text_content("#e-mu") == 'mu must be a number, got "abc"'
    assert subscribes() == before
    # fixing the field clears its error, and the stream starts
    await fill_form(page, {**PARAMS, "periods": ""})
    assert await page.locator("#e-mu").is_hidden()
    await page.click("#private-form button[type=submit]")
    await until(page, "() => dashboard.stream('private:1')?.ticks > 10")
    assert await page.locator(".error:not([hidden])").count() == 0


async def private_stream_to_its_end(page, server) -> tuple[dict[str, Any], list[float]]:
    """Start the form's private stream (PARAMS); its summary once ended, and the prices
    /gbm gives for the same parameters and seed."""
    await fill_form(page, PARAMS)
    await page.click("#private-form button[type=submit]")
    ended = await until(page, "() => { const s = dashboard.stream('private:1', true); "
                              "return s && s.state === 'ended' && s }")
    query = "&".join(f"{k}={v}" for k, v in PARAMS.items() if k != "interval")
    expected = json.loads(await in_thread(fetch, http_url(server, f"/gbm?{query}")))["result"]
    return ended, expected


async def test_a_private_stream_draws_exactly_the_prices_of_gbm(server, open_page):
    page = await open_page(http_url(server, "/"))
    ended, expected = await private_stream_to_its_end(page, server)
    first = ended["seqs"][0]
    assert ended["seqs"] == list(range(first, 60)) and ended["contiguous"]
    assert ended["prices"] == expected[first:]  # bit for bit, through the page's JSON.parse
    assert ended["seed"] == PARAMS["seed"]  # a seed above 2**53 stays exact
    await until(page, "() => document.querySelector(\".card[data-key='private:1'] .card-sub\")"
                      ".textContent.endsWith('seq 59 · ended')")
    # the address now names the stream: a link to it replays the same prices
    search = await page.evaluate("location.search")
    assert "seed:18446744073709551615" in search and "periods:60" in search
    again = await open_page(http_url(server, "/" + search))
    replay = await until(again, "() => { const s = dashboard.stream('private:1', true); "
                                "return s && s.state === 'ended' && s }")
    assert replay["prices"] == expected[replay["seqs"][0]:]


async def test_lagging_and_unannounced_jumps_are_counted_and_refetched(server, open_page):
    page = await open_page(http_url(server, "/?symbols=BOLT"))
    before = await until(page, "() => { const s = dashboard.stream('symbol:BOLT'); "
                               "return s.ticks >= 20 && s }")
    await page.evaluate("([sub, seq]) => dashboard.inject([{type: 'lagging', sub, skipped: 7, "
                        "seq}])", [before["sub"], before["lastSeq"] + 8])
    after = await until(page, "(old) => { const s = dashboard.stream('symbol:BOLT'); "
                              "return s.sub !== null && s.sub !== old && s.lastSeq > "
                              "s.firstSeq && s.state === 'live' && s }", before["sub"])
    assert after["lagging"] == 1 and after["resumes"] == 1
    resume = [op for op in page.watch.sent if op.get("symbol") == "BOLT" and "fromSeq" in op]
    assert len(resume) == 1 and resume[0]["t0"] == before["t0"]
    assert resume[0]["fromSeq"] >= before["lastSeq"] + 1  # from where the page was
    # a jump that no lagging event announced: counted as a gap, refetched, no hole kept
    s = await stream(page, "symbol:BOLT")
    await page.evaluate("([sub, seq]) => dashboard.inject([{type: 'tick', sub, seq, price: 1, "
                        "time: 0}])", [s["sub"], s["lastSeq"] + 1000])
    final = await until(page, "(old) => { const s = dashboard.stream('symbol:BOLT'); "
                              "return s.sub !== old && s.state === 'live' && s.ticks > 40 && s }",
                        s["sub"])
    assert final["gaps"] == 1 and final["resumes"] == 2 and final["contiguous"]


async def test_a_server_restart_is_survived_without_a_hole(server_process, open_page):
    first = await in_thread(server_process().start)
    origin = f"http://127.0.0.1:{first.port}"
    page = await open_page(f"{origin}/?symbols=DYNA,BOLT", allow=[WS_REFUSED])
    await fill_form(page, {**PARAMS, "interval": "0.02", "periods": ""})
    await page.click("#private-form button[type=submit]")
    keys = ["symbol:DYNA", "symbol:BOLT", "private:1"]
    await until(page, "(keys) => keys.every(k => dashboard.stream(k)?.ticks >= 25)", keys)
    await in_thread(first.kill)
    await until(page, "() => dashboard.status().state !== 'open'")
    assert await page.get_attribute("#status", "data-state") in ("waiting", "connecting")
    before = {k: await stream(page, k) for k in keys}
    second = await in_thread(server_process(port=first.port).start)
    assert second.port == first.port
    await until(page, "([keys, seqs]) => dashboard.status().state === 'open' && "
                      "keys.every((k, i) => dashboard.stream(k).lastSeq >= seqs[i] + 25)",
                [keys, [before[k]["lastSeq"] for k in keys]], seconds=20)
    for key in keys:
        s = await stream(page, key, with_data=True)
        assert s["contiguous"] and s["seqs"] == list(range(s["seqs"][0], s["lastSeq"] + 1)), key
        assert s["seqs"][0] <= before[key]["firstSeq"], key  # nothing was thrown away
        assert s["gaps"] == 0 and s["resumes"] == 1 and s["resets"] == 0, s
    assert (await page.evaluate("dashboard.status()"))["reconnects"] == 1
    await until(page, "() => document.querySelector('#status').textContent"
                      ".includes('reconnected 1×')")
    resumes = [op for op in page.watch.sent if "fromSeq" in op]
    private = [op for op in resumes if "seed" in op]
    assert len(private) == 1 and private[0]["seed"] == int(PARAMS["seed"])  # exact on the wire
    assert private[0]["t0"] == before["private:1"]["t0"]
    assert private[0]["fromSeq"] == before["private:1"]["lastSeq"] + 1


async def test_it_reads_well_at_desktop_and_phone_width_in_light_and_dark(server, open_page):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    colours = {}
    for size_name, size in (("desktop", DESKTOP), ("phone", PHONE)):
        for scheme in ("light", "dark"):
            page = await open_page(http_url(server, "/?symbols=ACME,BOLT"), scheme=scheme,
                                   **size)
            await fill_form(page, {**PARAMS, "sigma": "-1"})
            await page.click("#private-form button[type=submit]")
            await page.locator("#e-sigma").wait_for(state="visible")
            await until(page, "() => dashboard.stream('symbol:BOLT').draws > 20 && "
                              "[...document.querySelectorAll(\"[data-stat='rate']\")]"
                              ".every(e => e.textContent !== '–')")  # the figures are shown
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{size_name}/{scheme}: {overflow}px wider than the screen"
            assert await page.locator("#status").is_visible()
            colours[size_name, scheme] = await page.evaluate(
                "() => { const s = getComputedStyle(document.body); return [s.color, "
                "s.backgroundColor] }")
            await page.evaluate("window.scrollTo(0, 0)")  # the error focused its field
            await page.screenshot(path=ARTIFACTS / f"dashboard-{size_name}-{scheme}.png",
                                  full_page=True)
            await page.context.close()
    for size_name in ("desktop", "phone"):
        light, dark = colours[size_name, "light"], colours[size_name, "dark"]
        assert light != dark and light[0] != light[1] and dark[0] != dark[1]


async def test_a_new_market_session_after_a_restart_restarts_the_chart(server_process,
                                                                       open_page, tmp_path):
    def market(t0: float) -> str:
        path = tmp_path / f"market-{int(t0)}.json"
        path.write_text(json.dumps({"t0": t0, "symbols": {"FAST": {
            "startPrice": 20.0, "mu": 0.0, "sigma": 0.5, "delta": 0.01, "interval": 0.02,
            "seed": 9}}}))
        return str(path)

    now = float(int(time.time()))
    first = await in_thread(server_process("--market", market(now - 60)).start)
    page = await open_page(f"http://127.0.0.1:{first.port}/?symbols=FAST", allow=[WS_REFUSED])
    await until(page, "() => dashboard.stream('symbol:FAST').ticks >= 10")
    await in_thread(first.kill)
    await until(page, "() => dashboard.status().state !== 'open'")
    await in_thread(server_process("--market", market(now - 30), port=first.port).start)
    s = await until(page, "() => { const s = dashboard.stream('symbol:FAST'); "
                          "return s.resets === 1 && s.state === 'live' && s.ticks >= 20 && s }")
    # the server refused to resume (its t0 changed): the chart starts again from the new session
    assert s["t0"] == now - 30 and s["contiguous"] and s["gaps"] == 0
    assert s["firstSeq"] <= 30 / 0.02 - 25  # a full window of the new session's history
    await until(page, "() => document.querySelector(\".card[data-key='symbol:FAST'] .card-sub\")"
                      ".textContent.includes('restarted 1×')")


async def test_the_page_works_behind_a_token_and_an_origin_allow_list(server, open_page):
    # a server that needs a token and allows one foreign origin: the page, served by the server
    # itself, passes on the token of its own address and is its own origin
    server.config = dataclasses.replace(server.config, token="pass-7",
                                        allow_origins=("https://dashboards.example",))
    page = await open_page(http_url(server, "/?symbols=BOLT&token=pass-7"))
    await until(page, "() => dashboard.stream('symbol:BOLT').ticks >= 20")
    s = await stream(page, "symbol:BOLT")
    assert s["state"] == "live" and s["gaps"] == 0
    assert server.io.refused[401] == 0 and server.io.refused[403] == 0


async def test_the_form_offers_each_model_and_its_fields_with_errors_under_them(server,
                                                                                open_page):
    page = await open_page(http_url(server, "/"))
    assert await page.locator("#f-xi").is_hidden()  # GBM first: no Heston field shown
    await page.select_option("#f-model", "heston")
    assert await page.locator("#f-xi").is_visible() and await page.locator("#f-sigma").is_hidden()
    # the server's bound, under the field it names; GBM's sigma (hidden, still filled) not sent
    await fill_form(page, {"xi": "9", "interval": "0.01", "seed": "5", "periods": "40"})
    await page.click("#private-form button[type=submit]")
    await page.locator("#e-xi").wait_for(state="visible")
    error = [e for e in page.watch.received if e["type"] == "error"][-1]
    assert (error["field"], await page.text_content("#e-xi")) == ("xi", error["message"])
    assert error["message"] == "xi must be a finite number >= 0.001 and <= 5, got 9"
    sent = [m for m in page.watch.sent if m.get("op") == "subscribe" and "xi" in m]
    assert sent[-1]["model"] == "heston" and "sigma" not in sent[-1] and "mu" in sent[-1]
    # fixed, it streams Heston's prices, which /path gives for the ack's parameters
    await fill_form(page, {"xi": "0.8"})
    await page.click("#private-form button[type=submit]")
    ended = await until(page, "() => { const s = dashboard.stream('private:1', true); "
                              "return s && s.state === 'ended' && s }")
    [ack] = [e for e in page.watch.received
             if e["type"] == "subscribed" and e["symbol"] is None]
    assert ack["params"]["model"] == "heston" and ack["params"]["xi"] == 0.8
    query = "&".join(f"{k}={v}" for k, v in ack["params"].items() if k not in ("interval",))
    expected = json.loads(await in_thread(fetch, http_url(server, f"/path?{query}")))["result"]
    first = ended["seqs"][0]
    assert ended["prices"] == expected[first:]
    assert ended["vol"] == json.loads(await in_thread(fetch, http_url(
        server, f"/path?{query}")))["vol"][-1]  # the last tick's
    # the card names the model and its fields, and shows the last tick's volatility (its text
    # is refreshed a few times a second)
    vol = f"vol {100 * ended['vol']:.1f} %"
    await until(page, "() => document.querySelector(\".card[data-key='private:1'] .card-sub\")"
                      f".textContent.includes('{vol}')")
    sub = await page.text_content(".card[data-key='private:1'] .card-sub")
    assert "heston μ 0.05 δ 1 v0 0.09 κ 2 θ 0.09 ξ 0.8 ρ -0.7" in sub, sub
    # and the address bar names the model, so a reload opens the same stream
    assert "model:heston" in await page.evaluate("location.search")
