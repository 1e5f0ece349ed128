// Drawing: a uPlot chart per shown stream and a canvas sparkline per watch-list row.
//
// uPlot (vendor/uPlot.iife.min.js, a classic script) is the global `uPlot`. A chart is given
// the stream's buffer views with setData once per animation frame at most (the app's frame
// loop decides), never once per tick. Colours come from the CSS custom properties, so both
// colour schemes are one stylesheet; charts are rebuilt when the scheme changes.

/** The chart colours of the current colour scheme, read from CSS. */
export function readTheme() {
  const css = getComputedStyle(document.documentElement);
  const get = (name) => css.getPropertyValue(name).trim();
  return {
    line: get("--chart-line"), axis: get("--muted"), grid: get("--grid"),
    font: `11px ${get("--font-mono") || "monospace"}`,
  };
}

/** Price text with as many decimals as the price's size calls for. */
export function formatPrice(price) {
  if (price === null || price === undefined || !Number.isFinite(price)) return "–";
  const abs = Math.abs(price);
  const digits = abs >= 1000 ? 2 : abs >= 10 ? 3 : abs >= 1 ? 4 : 6;
  return price.toFixed(digits);
}

/** hh:mm:ss local time for the time axis, with the decimals that a step below 1 s needs. */
function timeOfDay(seconds, step) {
  const decimals = step >= 1 ? 0 : Math.min(3, Math.ceil(-Math.log10(step) - 1e-9));
  return clockText(seconds).slice(0, decimals ? 9 + decimals : 8);
}

function clockText(seconds) {
  const d = new Date(seconds * 1000);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export class Chart {
  /**
   * @param {HTMLElement} el where the chart goes (its width is the chart's width)
   * @param {import("./stream.js").Stream} stream
   * @param {{windowSeconds: () => number, readout: HTMLElement, height: () => number}} o
   */
  constructor(el, stream, { windowSeconds, readout, height }) {
    this.el = el;
    this.stream = stream;
    this.windowSeconds = windowSeconds;
    this.readout = readout;
    this.height = height;
    this.draws = 0; // completed redraws, for tests and the benchmark
    this.plot = null;
    this.build(readTheme());
    // fit on the next frame: resizing inside the observer's callback would re-trigger it
    this.resizer = new ResizeObserver(() => requestAnimationFrame(() => this.plot && this.fit()));
    this.resizer.observe(el);
  }

  build(theme) {
    if (this.plot) this.plot.destroy();
    const axis = {
      stroke: theme.axis, font: theme.font,
      grid: { stroke: theme.grid, width: 1 }, ticks: { stroke: theme.grid, width: 1, size: 4 },
    };
    const opts = {
      width: Math.max(200, this.el.clientWidth),
      height: this.height(),
      legend: { show: false },
      cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 6 } },
      scales: {
        x: {
          time: true,
          // a moving window: the last windowSeconds, or all there is while it is shorter
          range: (u, min, max) => (min === null || max === null ? [0, 1] :
            [Math.max(min, max - this.windowSeconds()), max === min ? max + 1 : max]),
        },
        y: {
          range: (u, min, max) => {
            if (min === null || max === null) return [0, 1];
            const pad = (max - min) * 0.08 || Math.abs(max) * 0.001 || 1;
            return [min - pad, max + pad];
          },
        },
      },
      series: [
        {},
        // one device pixel wide and no fill: without a GPU, Chromium's software canvas strokes
        // a hairline several times faster than a thicker line, and filling under a line of
        // thousands of points costs as much again (docs/dashboard.md has the figures)
        { label: this.stream.label, stroke: theme.line, width: 1 / devicePixelRatio, points: { show: false } },
      ],
      axes: [
        { ...axis, space: 80, size: 30, values: (u, ticks, i, space, incr) => ticks.map((t) => timeOfDay(t, incr)) },
        { ...axis, size: 64 }, // uPlot picks the decimals from the tick spacing
      ],
      hooks: {
        draw: [() => { this.draws++; }],
        setCursor: [(u) => this.showCursor(u)],
      },
    };
    this.plot = new uPlot(opts, this.stream.buf.view(), this.el);
  }

  showCursor(u) {
    const i = u.cursor.idx;
    if (i === null || i === undefined || !u.data[0].length) {
      this.readout.textContent = "";
      return;
    }
    const t = u.data[0][i];
    this.readout.textContent = `${clockText(t)}  ${formatPrice(u.data[1][i])}`;
  }

  /** Give uPlot the buffer's current window (one call per animation frame at most). */
  update() {
    this.plot.setData(this.stream.buf.view());
  }

  fit() {
    const width = Math.max(200, this.el.clientWidth);
    const height = this.height();
    if (width !== this.plot.width || height !== this.plot.height) this.plot.setSize({ width, height });
  }

  destroy() {
    this.resizer.disconnect();
    this.plot.destroy();
    this.plot = null;
  }
}

/** The last `seconds` of a stream as a line on a small canvas (min/max per pixel column). */
export function drawSparkline(canvas, buf, seconds, theme) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (!w || !h) return;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const end = buf.end;
  if (end - buf.start < 2) return;
  const tEnd = buf.time[end - 1];
  const first = buf.indexAtOrAfter(tEnd - seconds);
  const tStart = buf.time[first]; // less than `seconds` of data still spans the whole width
  const span = tEnd - tStart || 1;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = first; i < end; i++) {
    const p = buf.price[i];
    if (p < lo) lo = p;
    if (p > hi) hi = p;
  }
  const range = hi - lo || 1;
  const y = (p) => 1.5 + (h - 3) * (1 - (p - lo) / range);
  const x = (t) => ((t - tStart) / span) * (w - 1);
  // one pixel column can hold many ticks: draw each column as first -> low -> high -> last
  ctx.beginPath();
  let column = null;
  let cFirst = 0, cLow = 0, cHigh = 0, cLast = 0;
  const flush = () => {
    ctx.lineTo(column, y(cFirst));
    if (cLow !== cHigh) {
      ctx.lineTo(column, y(cLow));
      ctx.lineTo(column, y(cHigh));
    }
    ctx.lineTo(column, y(cLast));
  };
  for (let i = first; i < end; i++) {
    const px = Math.round(x(buf.time[i]));
    const p = buf.price[i];
    if (px !== column) {
      if (column === null) ctx.moveTo(px, y(p));
      else flush();
      column = px;
      cFirst = cLow = cHigh = p;
    }
    if (p < cLow) cLow = p;
    if (p > cHigh) cHigh = p;
    cLast = p;
  }
  flush();
  ctx.strokeStyle = theme.line;
  ctx.lineWidth = 1.25;
  ctx.stroke();
}
