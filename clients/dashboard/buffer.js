// A stream's recent ticks, in a fixed amount of memory.
//
// Three parallel Float64Arrays (seq, time, price) of twice the capacity: ticks are appended at
// the end; when the end reaches the array's length the newest `capacity` ticks are copied to
// the front (one copyWithin per `capacity` ticks, so an append costs O(1) amortised). view()
// hands uPlot subarrays of the live window without copying, which is why uPlot can be given
// new data once per animation frame however many ticks arrived since.

export class TickBuffer {
  /** @param {number} capacity most ticks kept; older ones are dropped */
  constructor(capacity) {
    this.capacity = capacity;
    this.seq = new Float64Array(2 * capacity);
    this.time = new Float64Array(2 * capacity);
    this.price = new Float64Array(2 * capacity);
    this.start = 0;
    this.end = 0;
  }

  get length() {
    return this.end - this.start;
  }

  push(seq, time, price) {
    if (this.end === this.seq.length) this.compact();
    const i = this.end++;
    this.seq[i] = seq;
    this.time[i] = time;
    this.price[i] = price;
    if (this.end - this.start > this.capacity) this.start++;
  }

  compact() {
    const { start, end } = this;
    this.seq.copyWithin(0, start, end);
    this.time.copyWithin(0, start, end);
    this.price.copyWithin(0, start, end);
    this.start = 0;
    this.end = end - start;
  }

  clear() {
    this.start = this.end = 0;
  }

  /** [times, prices] of the kept window, as views (valid until the next push). */
  view() {
    return [this.time.subarray(this.start, this.end), this.price.subarray(this.start, this.end)];
  }

  /** Index (absolute) of the first tick whose time is >= t. */
  indexAtOrAfter(t) {
    let lo = this.start;
    let hi = this.end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.time[mid] < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** True when every kept tick's seq is one more than the one before: the chart has no hole. */
  contiguous() {
    for (let i = this.start + 1; i < this.end; i++) {
      if (this.seq[i] !== this.seq[i - 1] + 1) return false;
    }
    return true;
  }
}
