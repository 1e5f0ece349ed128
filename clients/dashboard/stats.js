// Live-tick statistics of one stream over the last few seconds: ticks per second and the delay
// from a tick's `time` to its arrival (p50, p99). A fixed-size ring of (arrival, delay) pairs;
// the summary sorts at most `size` numbers and is computed a few times a second, never per tick.

export const STATS_WINDOW_MS = 5000;
export const WARMUP_MS = 1000;

export class WindowStats {
  /**
   * @param {number} windowMs how far back the summary looks
   * @param {number} size ring size: the most ticks one window can describe (8192 covers 1.6 kHz)
   */
  constructor(windowMs = STATS_WINDOW_MS, size = 8192) {
    this.windowMs = windowMs;
    this.arrival = new Float64Array(size);
    this.delay = new Float64Array(size);
    this.next = 0;
    this.count = 0;
    this.since = null; // when the subscription started (page clock), for the first seconds
    this.scratch = new Float64Array(size);
  }

  /** @param {number} arrivalMs page clock (performance.now) @param {number} delayMs */
  add(arrivalMs, delayMs) {
    const i = this.next;
    this.arrival[i] = arrivalMs;
    this.delay[i] = delayMs;
    this.next = (i + 1) % this.arrival.length;
    if (this.count < this.arrival.length) this.count++;
    if (this.since === null) this.since = arrivalMs;
  }

  /** The subscription started at nowMs: the rate counts from here until the window is full. */
  start(nowMs) {
    if (this.since === null) this.since = nowMs;
  }

  reset() {
    this.next = this.count = 0;
    this.since = null;
  }

  /** {rate, p50, p99, n} for the window ending at nowMs; p50/p99 are null without ticks. */
  summary(nowMs) {
    const from = nowMs - this.windowMs;
    const size = this.arrival.length;
    let n = 0;
    for (let k = 1; k <= this.count; k++) {
      const i = (this.next - k + size) % size;
      if (this.arrival[i] < from) break;
      this.scratch[n++] = this.delay[i];
    }
    const span = this.since === null ? this.windowMs : Math.min(this.windowMs, nowMs - this.since);
    // null in the first second: too few ticks, and a busy start skews their arrival times
    const rate = span < WARMUP_MS ? null : (n / span) * 1000;
    if (n === 0) return { rate, p50: null, p99: null, n };
    const sorted = this.scratch.subarray(0, n).sort();
    return { rate, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), n };
  }
}

/** The q-quantile of sorted values, nearest rank. */
export function quantile(sorted, q) {
  const rank = Math.ceil(q * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}
