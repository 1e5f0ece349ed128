// The dashboard: a watch list of the market, live charts, a form to try private streams.
//
// Data flow: Connection (one WebSocket, reconnecting) -> onEvents -> Stream.tick (bounded
// buffers, counters) -> marks the stream dirty -> one requestAnimationFrame redraws every dirty
// chart with one setData each. Numbers (prices, rates, delays) and sparklines are refreshed on
// a 200 ms timer, not per tick. After a reconnect every stream is subscribed again with fromSeq
// = its next expected seq, so its chart has no hole.
//
// window.dashboard exposes a read-only summary for tests, the benchmark and the console.

import { Chart, drawSparkline, formatPrice, readTheme } from "./chart.js";
import { Connection, socketUrl } from "./connection.js";
import { StreamForm, readFields } from "./form.js";
import { Stream } from "./stream.js";
import { DEFAULT_WINDOW, readUrl, writeUrl } from "./url.js";
import { ACTION, MODEL_PARAMS, recover } from "./wire.js";

const TEXT_EVERY_MS = 200; // refresh of numbers, sparklines and the status line
const SYMBOLS_EVERY_MS = 5000; // the market asked again: a third party's symbols come and grow
const SPARK_SECONDS = 60; // what a watch-list sparkline shows
const RETRY_DELAY_MS = 1000; // a subscribe refused for a passing reason is tried again

const $ = (selector, root = document) => root.querySelector(selector);

function fixed(value, digits) {
  return value === null || value === undefined ? "–" : value.toFixed(digits);
}

function ms(value) {
  if (value === null || value === undefined) return "–";
  return Math.abs(value) < 10 ? `${value.toFixed(1)} ms` : `${Math.round(value)} ms`;
}

/** A stream's model and fields in a few symbols: "μ 0.05 σ 0.3 δ 1", "heston v0 0.09 …". */
const SYMBOLS = { mu: "μ", sigma: "σ", delta: "δ", jumpRate: "λ", jumpMean: "m", jumpStd: "s",
  kappa: "κ", theta: "θ", xi: "ξ", rho: "ρ" };
function describeModel(params) {
  const model = params.model ?? "gbm";
  const fields = (MODEL_PARAMS[model] ?? []).filter((name) => name !== "startPrice")
    .map((name) => `${SYMBOLS[name] ?? name} ${params[name]}`);
  return [model === "gbm" ? "" : model, ...fields].filter(Boolean).join(" ");
}

function clock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour12: false });
}

class Dashboard {
  constructor() {
    this.streams = new Map(); // key -> Stream ("symbol:ACME", "private:1")
    this.bySub = new Map(); // subscription number on this connection -> Stream
    this.pending = new Map(); // request id -> {onReply, onError, onLost}
    this.market = null; // the last `symbols` reply's list
    this.rows = new Map(); // symbol -> its watch-list row's elements
    this.shown = []; // keys of the streams with a chart, in the order they were opened
    this.privateCount = 0;
    this.url = readUrl(location.search);
    this.windowSeconds = this.url.window;
    this.theme = readTheme();
    this.frameQueued = false;
    this.urlApplied = false; // the address's symbols were charted (after the first `symbols`)
    this.urlStreamsStarted = false; // the address's private streams were subscribed
    this.perf = { frames: 0, setData: 0, frames_in: 0, events_in: 0 };

    this.conn = new Connection(socketUrl(location), {
      onOpen: () => this.onOpen(),
      onClose: () => this.onClose(),
      onEvents: (events, arrivalMs) => this.onEvents(events, arrivalMs),
      onStatus: () => this.showStatus(),
    });
    this.form = new StreamForm($("#private-form"), (op, raw) => this.startPrivate(op, raw, "form"));

    const select = $("#window");
    select.value = String(this.windowSeconds);
    select.addEventListener("change", () => {
      this.windowSeconds = Number(select.value);
      for (const stream of this.streams.values()) stream.dirty = true;
      this.scheduleFrame();
      this.writeUrl();
    });
    $("#retry").addEventListener("click", () => this.conn.retryNow());
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => this.retheme());
    setInterval(() => this.refreshText(), TEXT_EVERY_MS);
    setInterval(() => { if (this.conn.isOpen) this.listSymbols(); }, SYMBOLS_EVERY_MS);
    this.conn.start();
  }

  // --- connection ------------------------------------------------------------------------

  onOpen() {
    this.listSymbols();
    for (const stream of this.streams.values()) {
      if (stream.state !== "ended" && stream.state !== "failed") this.subscribe(stream);
    }
    if (!this.urlStreamsStarted) {
      this.urlStreamsStarted = true;
      for (const fields of this.url.streams) {
        const [op, raw, errors] = readFieldsSafe(fields);
        if (errors) this.notice(`stream in the address: ${errors}`);
        else this.startPrivate(op, raw, "url");
      }
    }
  }

  onClose() {
    this.bySub.clear();
    for (const stream of this.streams.values()) {
      stream.sub = null;
      if (stream.state === "live" || stream.state === "subscribing") stream.state = "waiting";
    }
    const lost = [...this.pending.values()];
    this.pending.clear();
    for (const handlers of lost) handlers.onLost?.();
    this.refreshText();
  }

  /** End a subscription; its late ticks are already ignored (it is no longer in bySub). */
  unsubscribe(sub) {
    this.request({ op: "unsubscribe", sub }, null, { onError: () => {} }); // ended meanwhile
  }

  /** Send an operation and route its reply (matched by id) to handlers. */
  request(op, raw, handlers) {
    const id = this.conn.send(op, raw);
    if (id === null) handlers.onLost?.();
    else this.pending.set(id, handlers);
  }

  onEvents(events, arrivalMs) {
    // the arrival instant on the server's clock, so the delay does not include clock skew
    const arrivalServerMs = performance.timeOrigin + arrivalMs + this.conn.clockOffset;
    this.perf.frames_in++;
    this.perf.events_in += events.length;
    let dirty = false;
    for (const event of events) {
      switch (event.type) {
        case "tick": {
          const stream = this.bySub.get(event.sub);
          if (stream === undefined) break; // an old subscription's last ticks
          const verdict = stream.tick(event.seq, event.price, event.time, arrivalMs,
            arrivalServerMs - event.time * 1000, event.vol);
          if (verdict === "gap") {
            stream.gaps++;
            console.warn(`dashboard: ${stream.label}: seq ${event.seq} after ${stream.lastSeq} ` +
              "without a lagging event; refetching");
            this.refetch(stream);
          }
          dirty = true;
          break;
        }
        case "lagging": {
          const stream = this.bySub.get(event.sub);
          if (stream === undefined) break;
          stream.lagging++;
          this.refetch(stream); // fromSeq gets the skipped ticks back
          break;
        }
        case "end": {
          const stream = this.bySub.get(event.sub);
          if (stream === undefined) break;
          this.bySub.delete(event.sub);
          stream.sub = null;
          stream.state = "ended";
          break;
        }
        case "error": {
          const handlers = this.pending.get(event.id);
          if (handlers) {
            this.pending.delete(event.id);
            handlers.onError(event);
          } else {
            this.notice(`server: ${event.code}: ${event.message}`);
          }
          break;
        }
        default: {
          const handlers = this.pending.get(event.id);
          if (handlers) {
            this.pending.delete(event.id);
            handlers.onReply?.(event);
          }
        }
      }
    }
    if (dirty) this.scheduleFrame();
  }

  // --- streams -----------------------------------------------------------------------------

  /**
   * Subscribe a stream: resume from its next seq when it can, else afresh. A refusal is
   * handled as the protocol's recovery table says (wire.js, docs/protocol.md): retry later,
   * skip the gap (the same stream from its current tick), restart it, or fail.
   * `recovering` is the action a refused resume asked for.
   */
  subscribe(stream, recovering = null) {
    const skipGap = recovering === ACTION.SKIP_GAP;
    const resume = stream.canResume && recovering === null;
    const fresh = !resume;
    const history = fresh && stream.symbol !== null && !stream.noHistory
      ? stream.historyFor(Math.max(this.windowSeconds, SPARK_SECONDS)) : 0; // a full chart at once
    const [op, raw] = stream.subscribeOp({ resume, skipGap, history });
    stream.state = "subscribing";
    this.request(op, raw, {
      onReply: (ack) => {
        if (this.streams.get(stream.key) !== stream) {
          this.unsubscribe(ack.sub); // closed while we waited
          return;
        }
        if (resume) stream.resumes++;
        else if (stream.lastSeq >= 0) stream.reset();
        stream.acknowledged(ack);
        this.bySub.set(ack.sub, stream);
        const replayFollows = resume ? op.fromSeq <= ack.seq : history > 0;
        if (!replayFollows) stream.tick(ack.seq, ack.price, ack.time, 0, 0, ack.vol);
        this.scheduleFrame();
      },
      onError: (error) => {
        if (history > 0 && error.field === "history") {
          // the page asked for history on its own account, to fill the chart; a server with a
          // smaller limit refuses it: ask without (this is the page's choice, not a recovery)
          stream.noHistory = true;
          this.subscribe(stream, recovering);
          return;
        }
        const action = recover(error.code, error.field, resume || skipGap);
        if (action === ACTION.RETRY) {
          stream.state = "waiting";
          setTimeout(() => {
            if (this.streams.get(stream.key) === stream && stream.sub === null &&
                stream.state === "waiting" && this.conn.isOpen) this.subscribe(stream, recovering);
          }, RETRY_DELAY_MS);
        } else if ((action === ACTION.SKIP_GAP || action === ACTION.RESTART) && recovering === null) {
          // the gap is beyond the server's replay, or the stream cannot be continued (a new
          // market session): the chart starts again, and its card says so
          console.warn(`dashboard: ${stream.label}: cannot resume (${error.message}); ${action}`);
          stream.resets++;
          stream.reset();
          if (action === ACTION.RESTART) stream.t0 = null;
          this.subscribe(stream, action);
        } else {
          stream.state = "failed";
          stream.problem = `${error.code}: ${error.message}`;
        }
      },
    });
  }

  /** Drop a subscription that skipped ticks and subscribe again from the next missing seq. */
  refetch(stream) {
    if (stream.sub !== null) {
      this.bySub.delete(stream.sub);
      this.unsubscribe(stream.sub);
      stream.sub = null;
    }
    if (this.conn.isOpen) this.subscribe(stream);
  }

  listSymbols() {
    this.request({ op: "symbols" }, null, {
      onReply: (reply) => this.onSymbols(reply.symbols),
      onError: (error) => this.notice(`symbols: ${error.message}`),
    });
  }

  onSymbols(symbols) {
    this.market = symbols;
    const known = new Set(symbols.map((entry) => entry.symbol));
    for (const entry of symbols) {
      const key = `symbol:${entry.symbol}`;
      let stream = this.streams.get(key);
      if (stream === undefined) {
        stream = new Stream({ key, symbol: entry.symbol, label: entry.symbol });
        stream.interval = entry.params.interval;
        stream.openPrice = entry.price;
        this.streams.set(key, stream);
        this.subscribe(stream);
      }
      stream.entry = entry;
    }
    this.renderWatchlist(symbols);
    for (const stream of this.streams.values()) {
      if (stream.symbol !== null && !known.has(stream.symbol)) {
        stream.state = "failed";
        stream.problem = "no longer in the market";
      }
    }
    if (!this.urlApplied) {
      this.urlApplied = true;
      const unknown = [];
      for (const symbol of this.url.symbols) {
        if (known.has(symbol)) this.showChart(`symbol:${symbol}`);
        else unknown.push(symbol);
      }
      if (unknown.length) this.notice(`not in this market: ${unknown.join(", ")}`);
    }
  }

  /** Subscribe a private stream from the form (or the address); its chart opens on the ack. */
  startPrivate(op, raw, source) {
    const fail = (message, field = null) => {
      if (source === "form") this.form.showError(field, message);
      else this.notice(`stream in the address: ${message}`);
    };
    if (!this.conn.isOpen) {
      fail("not connected to the server; the page is reconnecting, try again then");
      return;
    }
    if (source === "form") this.form.setBusy(true);
    this.request(op, raw, {
      onReply: (ack) => {
        if (source === "form") this.form.setBusy(false);
        const n = ++this.privateCount;
        const p = ack.params;
        const spec = { model: p.model, interval: p.interval, periods: p.periods };
        for (const name of MODEL_PARAMS[p.model] ?? []) spec[name] = p[name];
        const seedText = raw && raw.seed !== undefined ? raw.seed : String(p.seed);
        const stream = new Stream({ key: `private:${n}`, spec, seedText, label: `Private #${n}` });
        stream.acknowledged(ack);
        this.streams.set(stream.key, stream);
        this.bySub.set(ack.sub, stream);
        stream.tick(ack.seq, ack.price, ack.time, 0, 0, ack.vol);
        this.showChart(stream.key);
      },
      onError: (error) => {
        if (source === "form") {
          this.form.setBusy(false);
          this.form.showServerError(error);
        } else {
          fail(`${error.field ?? error.code}: ${error.message}`);
        }
      },
      onLost: () => {
        if (source === "form") this.form.setBusy(false);
        fail("the connection was lost before the server answered; try again");
      },
    });
  }

  // --- charts ------------------------------------------------------------------------------

  showChart(key) {
    const stream = this.streams.get(key);
    if (stream === undefined || stream.chart) return;
    const card = $("#card-template").content.firstElementChild.cloneNode(true);
    card.dataset.key = key;
    $(".card-title", card).textContent = stream.label;
    $(".close", card).setAttribute("aria-label", `close ${stream.label}`);
    $(".close", card).addEventListener("click", () => this.hideChart(key));
    const [op, raw] = stream.subscribeOp({ resume: false });
    const json = $(".card-json", card);
    let text = JSON.stringify(op);
    if (raw) text = text.slice(0, -1) + `,"seed":${raw.seed}}`;
    $("code", json).textContent = text;
    json.hidden = false;
    $("#cards").prepend(card);
    stream.card = card;
    stream.chart = new Chart($(".chart", card), stream, {
      windowSeconds: () => this.windowSeconds,
      readout: $(".readout", card),
      height: () => (window.innerWidth < 600 ? 170 : 220),
    });
    this.shown.push(key);
    this.afterChartsChanged();
  }

  hideChart(key) {
    const stream = this.streams.get(key);
    if (stream === undefined || !stream.chart) return;
    stream.chart.destroy();
    stream.chart = null;
    stream.card.remove();
    stream.card = null;
    this.shown = this.shown.filter((k) => k !== key);
    if (stream.isPrivate) {
      this.streams.delete(key);
      if (stream.sub !== null) {
        this.bySub.delete(stream.sub);
        this.unsubscribe(stream.sub);
      }
    }
    this.afterChartsChanged();
  }

  afterChartsChanged() {
    $("#charts-empty").hidden = this.shown.length > 0;
    for (const [symbol, row] of this.rows) {
      const stream = this.streams.get(`symbol:${symbol}`);
      row.button.setAttribute("aria-pressed", String(Boolean(stream && stream.chart)));
    }
    this.writeUrl();
    this.refreshText();
  }

  writeUrl() {
    const symbols = [];
    const streams = [];
    for (const key of this.shown) {
      const stream = this.streams.get(key);
      if (!stream.isPrivate) {
        symbols.push(stream.symbol);
        continue;
      }
      const fields = {};
      if (stream.spec.model !== "gbm") fields.model = stream.spec.model;
      for (const name of [...MODEL_PARAMS[stream.spec.model], "interval"]) fields[name] = stream.spec[name];
      fields.seed = stream.seedText;
      if (stream.spec.periods !== null) fields.periods = stream.spec.periods;
      streams.push(fields);
    }
    const search = writeUrl(location.search, { symbols, streams, window: this.windowSeconds });
    history.replaceState(null, "", location.pathname + search);
  }

  scheduleFrame() {
    if (this.frameQueued) return;
    this.frameQueued = true;
    requestAnimationFrame(() => this.frame());
  }

  /** One animation frame: one setData per chart that has new ticks. */
  frame() {
    this.frameQueued = false;
    let drew = false;
    for (const key of this.shown) {
      const stream = this.streams.get(key);
      if (stream.dirty) {
        stream.dirty = false;
        stream.chart.update();
        this.perf.setData++;
        drew = true;
      }
    }
    if (drew) this.perf.frames++;
  }

  retheme() {
    this.theme = readTheme();
    for (const key of this.shown) this.streams.get(key).chart.build(this.theme);
    for (const stream of this.streams.values()) stream.sparkDirty = true;
    this.refreshText();
  }

  // --- text --------------------------------------------------------------------------------

  renderWatchlist(symbols) {
    const names = symbols.map((entry) => entry.symbol).join(",");
    if (names === this.watchNames) return;
    this.watchNames = names;
    const body = $("#watchlist tbody");
    body.replaceChildren();
    this.rows.clear();
    for (const entry of symbols) {
      const row = document.createElement("tr");
      row.dataset.symbol = entry.symbol;
      const hz = 1 / entry.params.interval;
      row.innerHTML = `<td><button type="button" class="sym" aria-pressed="false"></button>` +
        `<small class="rate"></small></td><td class="spark-col"><canvas class="spark"></canvas></td>` +
        `<td class="num last"></td><td class="num change"></td>`;
      const button = $(".sym", row);
      button.textContent = entry.symbol;
      button.title = `chart ${entry.symbol}`;
      button.addEventListener("click", () => {
        const key = `symbol:${entry.symbol}`;
        if (this.streams.get(key)?.chart) this.hideChart(key);
        else this.showChart(key);
      });
      $(".rate", row).textContent = hz >= 1 ? `${+hz.toFixed(1)} Hz` : `every ${entry.params.interval} s`;
      body.append(row);
      this.rows.set(entry.symbol, {
        row, button, spark: $(".spark", row), last: $(".last", row), change: $(".change", row),
      });
    }
    this.afterChartsChanged();
  }

  refreshText() {
    const now = performance.now();
    for (const [symbol, row] of this.rows) {
      const stream = this.streams.get(`symbol:${symbol}`);
      if (!stream) continue;
      row.last.textContent = formatPrice(stream.lastPrice ?? stream.entry?.price);
      if (stream.lastPrice !== null && stream.openPrice) {
        const diff = stream.lastPrice - stream.openPrice;
        const pct = Math.abs((diff / stream.openPrice) * 100).toFixed(2);
        const sign = pct === "0.00" ? "flat" : diff > 0 ? "up" : "down";
        row.change.textContent = `${{ flat: "", up: "+", down: "−" }[sign]}${pct}%`;
        row.change.title = `${diff >= 0 ? "+" : "−"}${formatPrice(Math.abs(diff))} since the page opened`;
        row.change.dataset.sign = sign;
      }
      row.row.dataset.state = stream.state;
      if (stream.sparkDirty) {
        stream.sparkDirty = false;
        drawSparkline(row.spark, stream.buf, SPARK_SECONDS, this.theme);
      }
    }
    for (const key of this.shown) this.refreshCard(this.streams.get(key), now);
    this.showStatus();
  }

  refreshCard(stream, now) {
    const card = stream.card;
    const s = stream.stats.summary(now);
    stream.lastSummary = s;
    $(".card-price", card).textContent = formatPrice(stream.lastPrice);
    const set = (name, text) => {
      const el = $(`[data-stat='${name}']`, card);
      if (el.textContent !== text) el.textContent = text;
    };
    set("rate", stream.state === "live" ? fixed(s.rate, 1) : "0");
    set("p50", ms(s.p50));
    set("p99", ms(s.p99));
    set("gaps", String(stream.gaps));
    set("lagging", String(stream.lagging));
    set("resumes", String(stream.resumes + stream.resets));
    $("[data-stat='gaps']", card).dataset.bad = String(stream.gaps > 0);
    card.dataset.state = stream.state;
    const parts = [];
    const every = stream.interval ? `every ${+stream.interval.toPrecision(6)} s` : "";
    if (stream.isPrivate) {
      const p = stream.spec;
      parts.push(`seed ${stream.seedText}`, every, describeModel(p),
        p.periods === null ? "endless" : `${p.periods} periods`);
    } else if (stream.params) {
      parts.push(every, describeModel(stream.params));
    }
    if (stream.lastVol !== null) parts.push(`vol ${(100 * stream.lastVol).toFixed(1)} %`);
    if (stream.t0 !== null) parts.push(`t0 ${clock(stream.t0)}`);
    if (stream.lastSeq >= 0) parts.push(`seq ${stream.lastSeq}`);  // -1: nothing received yet
    const state = {
      ended: "ended", failed: `failed: ${stream.problem}`, waiting: "waiting for the connection",
      subscribing: "subscribing…", new: "subscribing…",
    }[stream.state];
    if (state) parts.push(state);
    if (stream.resets) parts.push(`restarted ${stream.resets}× (the server could not resume it)`);
    const text = parts.filter(Boolean).join(" · ");
    const sub = $(".card-sub", card);
    if (sub.textContent !== text) sub.textContent = text;
  }

  showStatus() {
    const status = this.conn.status();
    const el = $("#status");
    el.dataset.state = status.state;
    let text;
    if (status.state === "open") {
      text = "live";
      if (status.rtt !== null) text += ` · RTT ${ms(status.rtt)}`;
      if (status.reconnects) text += ` · reconnected ${status.reconnects}×`;
    } else if (status.state === "connecting") {
      text = status.attempt ? `reconnecting… (attempt ${status.attempt + 1})` : "connecting…";
    } else {
      const code = status.lastClose ? ` (code ${status.lastClose.code})` : "";
      text = `disconnected${code} · retry in ${(status.retryInMs / 1000).toFixed(1)} s`;
    }
    const textEl = $("#status-text");
    if (textEl.textContent !== text) textEl.textContent = text;
    $("#retry").hidden = status.state !== "waiting";
    document.documentElement.dataset.connection = status.state;
  }

  notice(text) {
    const el = $("#notice");
    el.textContent = text;
    el.hidden = false;
  }

  // --- for tests, the benchmark and the console -----------------------------------------

  summary(stream, withData = false) {
    const s = stream.stats.summary(performance.now());
    const out = {
      key: stream.key, symbol: stream.symbol, label: stream.label, state: stream.state,
      sub: stream.sub, t0: stream.t0, seed: stream.seedText, problem: stream.problem,
      lastSeq: stream.lastSeq, vol: stream.lastVol, count: stream.buf.length,
      firstSeq: stream.buf.length ? stream.buf.seq[stream.buf.start] : null,
      contiguous: stream.buf.contiguous(), ticks: stream.ticks, gaps: stream.gaps,
      lagging: stream.lagging, resumes: stream.resumes, resets: stream.resets,
      rate: s.rate, p50: s.p50, p99: s.p99, shown: Boolean(stream.chart),
      draws: stream.chart ? stream.chart.draws : 0,
    };
    if (withData) {
      out.seqs = Array.from(stream.buf.seq.subarray(stream.buf.start, stream.buf.end));
      out.prices = Array.from(stream.buf.price.subarray(stream.buf.start, stream.buf.end));
    }
    return out;
  }
}

/** The form's parser, for private streams given in the address: [op, raw, error text]. */
function readFieldsSafe(fields) {
  const [op, raw, errors] = readFields(fields);
  const messages = Object.values(errors);
  return [op, raw, messages.length ? messages.join("; ") : null];
}

const app = new Dashboard();
window.dashboard = {
  status: () => app.conn.status(),
  streams: () => [...app.streams.values()].map((s) => app.summary(s)),
  stream: (key, withData = false) => {
    const stream = app.streams.get(key);
    return stream ? app.summary(stream, withData) : null;
  },
  shown: () => [...app.shown],
  perf: () => ({ ...app.perf }),
  /** Feed events as if they came from the server (tests of lagging and gaps). */
  inject: (events) => app.onEvents(events, performance.now()),
  defaultWindow: DEFAULT_WINDOW,
};
