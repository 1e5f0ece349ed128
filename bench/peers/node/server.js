// A Node.js `ws` server speaking the subset of the tick protocol that the benchmarks use, written
// the way a careful Node developer would: one timer per symbol that encodes a tick once per
// distinct subscription number and sends it to every subscriber, and one timer per connection
// and interval that batches that connection's private streams into one frame. Both keep an
// absolute schedule (tick k at t0 + k * interval). Prints the same banner as `streamer serve`.
//
//   node bench/peers/node/server.js [--port 0]
"use strict";
const { WebSocketServer } = require("ws");

const SYMBOLS = {
  ACME: [70.0, 0.05, 0.30, 0.1], BOLT: [12.5, 0.12, 0.55, 0.05], CRUX: [240.0, 0.03, 0.18, 0.25],
  DYNA: [3.2, -0.02, 0.80, 0.02], EVER: [101.0, 0.07, 0.12, 1.0], FLUX: [45.0, 0.20, 0.65, 0.1],
  GLOW: [880.0, 0.04, 0.25, 0.5], HALO: [18.0, 0.00, 0.40, 0.2],
};

function normal() {  // Box-Muller; Math.random is not seeded, which the benchmarks do not need
  let u = 0;
  while (u === 0) u = Math.random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * Math.random());
}

function stepper(price, mu, sigma, delta) {
  const dt = delta / 252, drift = (mu - sigma * sigma / 2) * dt, vol = sigma * Math.sqrt(dt);
  return () => (price *= Math.exp(drift + vol * normal()));
}

function schedule(interval, tick) {  // absolute: no drift however late a callback runs
  const t0 = Math.floor(Date.now() / 1000 / interval) * interval;
  let k = 0;
  const next = () => {
    k += 1;
    const due = t0 + k * interval;
    return setTimeout(() => { tick(k, due); handle = next(); }, Math.max(0, due * 1000 - Date.now()));
  };
  let handle = next();
  return { t0, stop: () => clearTimeout(handle) };
}

const symbols = new Map();  // name -> {subscribers: Map(ws -> sub), ...}
function addSymbol(name, [start, mu, sigma, interval]) {
  const state = { subscribers: new Map(), step: stepper(start, mu, sigma, interval / 600), price: start };
  state.seq = 0;
  state.time = 0;
  state.clock = schedule(interval, (seq, time) => {
    state.price = state.step();
    state.seq = seq;
    state.time = time;
    const encoded = new Map();
    for (const [ws, sub] of state.subscribers) {
      let frame = encoded.get(sub);
      if (frame === undefined) {
        frame = JSON.stringify([{ type: "tick", sub, seq, price: state.price, time }]);
        encoded.set(sub, frame);
      }
      ws.send(frame);
    }
  });
  symbols.set(name, state);
  return state;
}
for (const [name, spec] of Object.entries(SYMBOLS)) addSymbol(name, spec);

const argv = process.argv.slice(2);
const port = argv.includes("--port") ? Number(argv[argv.indexOf("--port") + 1]) : 0;
const wss = new WebSocketServer({ host: "127.0.0.1", port, path: "/ws", perMessageDeflate: false });

wss.on("connection", (ws) => {
  let nextSub = 1;
  const batches = new Map();  // interval -> {streams: [...], clock}
  const mine = [];
  ws.on("message", (data) => {
    let op;
    try { op = JSON.parse(data); } catch { return; }
    const sub = nextSub++;
    const now = Date.now() / 1000;
    if (op.symbol !== undefined) {
      // the demo symbols, or any other name at 10 Hz
      const state = symbols.get(op.symbol) ?? addSymbol(String(op.symbol), [100.0, 0.05, 0.3, 0.1]);
      state.subscribers.set(ws, sub);
      mine.push(state);
      ws.send(JSON.stringify([{ type: "subscribed", id: op.id ?? null, sub, symbol: op.symbol,
                                seq: state.seq, price: state.price, time: state.time || now,
                                t0: state.clock.t0 }]));
      return;
    }
    const interval = op.interval ?? 1.0;
    let batch = batches.get(interval);
    if (!batch) {
      batch = { streams: [] };
      batch.clock = schedule(interval, (seq, time) => {
        const events = batch.streams.map((s) => ({ type: "tick", sub: s.sub, seq: ++s.seq, price: s.step(), time }));
        ws.send(JSON.stringify(events));
      });
      batches.set(interval, batch);
    }
    const start = op.startPrice ?? 70.0;
    batch.streams.push({ sub, seq: 0, step: stepper(start, op.mu ?? 0.05, op.sigma ?? 0.3, op.delta ?? 1.0) });
    ws.send(JSON.stringify([{ type: "subscribed", id: op.id ?? null, sub, symbol: null, seq: 0,
                              price: start, time: now, t0: batch.clock.t0 }]));
  });
  ws.on("close", () => {
    for (const state of mine) state.subscribers.delete(ws);
    for (const batch of batches.values()) batch.clock.stop();
  });
  ws.on("error", () => {});
});

wss.on("listening", () => {
  console.log(`node-ws: ws://127.0.0.1:${wss.address().port}/ws`);
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => { for (const ws of wss.clients) ws.close(1001); process.exit(0); });
}
