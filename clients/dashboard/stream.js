// One stream the page follows: a market symbol or a private stream. Holds what it needs to
// subscribe again after a lost connection (symbol + t0, or parameters + seed + t0) and the next
// seq it expects, keeps its recent ticks in a bounded buffer, and counts what went wrong.
//
// No DOM and no socket here: the app feeds ticks in and reads the state out.

import { TickBuffer } from "./buffer.js";
import { WindowStats } from "./stats.js";
import { HISTORY_MAX, PRIVATE_FIELDS } from "./wire.js";

/** Ticks kept per stream: 5 minutes at 50 Hz (about 400 KiB per stream with its spare half). */
export const CAPACITY = 15000;

export class Stream {
  /**
   * @param {{key: string, symbol?: string, spec?: object, seedText?: string, label: string}} o
   *   spec: the effective private parameters (model, its fields, interval, periods)
   *   seedText: the seed as decimal text, kept exact even beyond 2**53
   */
  constructor({ key, symbol = null, spec = null, seedText = null, label }) {
    this.key = key;
    this.symbol = symbol;
    this.spec = spec;
    this.seedText = seedText;
    this.label = label;
    this.t0 = null;
    this.interval = spec ? spec.interval : null;
    this.params = null;
    this.sub = null; // subscription number on the current connection
    this.state = "new"; // new | subscribing | live | ended | failed
    this.problem = null; // why it failed, for the card
    this.noHistory = false; // the server refused `history`: subscribe without it
    this.entry = null; // a symbol's entry in the last `symbols` reply
    this.card = null; // its chart's card element while shown
    this.buf = new TickBuffer(CAPACITY);
    this.lastSeq = -1;
    this.lastPrice = null;
    this.lastVol = null;
    this.openPrice = null; // the price when the page opened: the watch list's "change"
    this.replayUntil = -1; // ticks up to this seq were replayed, not live: no rate or delay
    this.stats = new WindowStats();
    this.gaps = 0; // seq jumps not announced by `lagging`: holes the page had to refetch
    this.lagging = 0; // `lagging` events (the server skipped ticks for this slow page)
    this.resumes = 0; // subscriptions resumed with fromSeq
    this.resets = 0; // resumes the server refused (new market session): the chart restarts
    this.ticks = 0; // live ticks received
    this.dirty = false; // new data since the chart last drew
    this.sparkDirty = false;
    this.chart = null; // a Chart while the stream is shown
  }

  get isPrivate() {
    return this.symbol === null;
  }

  /**
   * The subscribe operation that (re)opens this stream: [op, raw] for Connection.send.
   * resume: continue from the next expected seq with fromSeq (needs t0); skipGap: the same
   * stream (its t0) from its current tick, the missed ones given up; else start afresh. Without
   * fromSeq, `history` ticks come first, so a chart starts full.
   */
  subscribeOp({ resume, skipGap = false, history = 0 }) {
    const op = { op: "subscribe" };
    let raw = null;
    if (this.symbol !== null) {
      op.symbol = this.symbol;
    } else {
      if (this.spec.model && this.spec.model !== "gbm") op.model = this.spec.model;
      for (const name of PRIVATE_FIELDS.slice(0, -2)) { // the model's fields and interval
        if (this.spec[name] !== undefined) op[name] = this.spec[name];
      }
      if (this.spec.periods !== null && this.spec.periods !== undefined) op.periods = this.spec.periods;
      if (this.seedText !== null) raw = { seed: this.seedText };
    }
    if (resume || skipGap) op.t0 = this.t0;
    if (resume) op.fromSeq = this.lastSeq + 1;
    else if (history > 0) op.history = history;
    return [op, raw];
  }

  /** Whether a resume can name this stream: it has ticks and knows its t0 (and seed). */
  get canResume() {
    return this.lastSeq >= 0 && this.t0 !== null && (this.symbol !== null || this.seedText !== null);
  }

  /** The ticks a fresh subscription should replay to fill `seconds` of chart. */
  historyFor(seconds) {
    if (!this.interval) return 0;
    return Math.min(HISTORY_MAX, CAPACITY, Math.ceil(seconds / this.interval));
  }

  /** Forget every tick: the stream restarts (a new market session, for instance). */
  reset() {
    this.buf.clear();
    this.lastSeq = -1;
    this.lastPrice = null;
    this.lastVol = null;
    this.openPrice = null; // the old session's price says nothing about the new one
    this.stats.reset();
    this.dirty = this.sparkDirty = true;
  }

  /** Apply a `subscribed` reply. */
  acknowledged(ack) {
    this.sub = ack.sub;
    this.t0 = ack.t0;
    this.params = ack.params;
    if (ack.params && ack.params.interval) this.interval = ack.params.interval;
    this.replayUntil = ack.seq;
    this.stats.start(performance.now());
    this.state = "live";
    this.problem = null;
  }

  /**
   * Take one tick. Returns "ok", "old" (a seq already held: ignored) or "gap" (a jump: not
   * stored; the caller refetches from lastSeq + 1 so the chart never has a hole).
   */
  tick(seq, price, time, arrivalMs, delayMs, vol = null) {
    if (this.lastSeq >= 0 && seq !== this.lastSeq + 1) return seq <= this.lastSeq ? "old" : "gap";
    this.buf.push(seq, time, price);
    this.lastSeq = seq;
    this.lastPrice = price;
    this.lastVol = vol ?? null; // a Heston stream's volatility
    if (this.openPrice === null) this.openPrice = price;
    if (seq > this.replayUntil) {
      this.ticks++;
      this.stats.add(arrivalMs, delayMs);
    }
    this.dirty = this.sparkDirty = true;
    return "ok";
  }
}
