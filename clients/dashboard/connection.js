// One WebSocket to the server, kept open: reconnects with exponential backoff and jitter, and
// checks liveness with the protocol's `ping` op (the browser answers WebSocket pings itself, but
// a page cannot see them). Knows nothing about streams: it hands every frame's events to
// `onEvents` and says when it opened (`onOpen`, where the app resubscribes) or changed state.

export const BACKOFF = { first: 250, factor: 2, max: 5000, jitter: 0.2 }; // ms
export const PING_EVERY = 10000; // ms between two liveness pings
export const EARLY_PINGS = [1000, 3000]; // ms after opening: more round trips for the clock offset
export const PONG_TIMEOUT = 10000; // ms without a pong (or any frame) before the socket is dropped

/** `ws://host/ws` for a page served at `http://host/`, keeping `?token=` if the page has one. */
export function socketUrl(location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const token = new URLSearchParams(location.search).get("token");
  return `${scheme}//${location.host}/ws` + (token ? `?token=${encodeURIComponent(token)}` : "");
}

export class Connection {
  /**
   * @param {string} url
   * @param {{onEvents: (events: object[], arrivalMs: number) => void,
   *          onOpen: () => void, onClose: () => void,
   *          onStatus: (status: object) => void}} handlers
   */
  constructor(url, handlers) {
    this.url = url;
    this.handlers = handlers;
    this.ws = null;
    this.state = "connecting"; // connecting | open | waiting (a retry is scheduled)
    this.attempt = 0; // failed attempts since the last open
    this.reconnects = 0; // opens after the first one
    this.opened = 0;
    this.retryAt = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.lastFrameMs = 0;
    this.lastClose = null;
    this.nextId = 1;
    this.rtt = null; // ms, best of the recent pings
    this.clockOffset = 0; // server clock minus page clock (ms), from the best recent ping
    this.pings = []; // {rtt, offset} of the last few pongs
    this.pingSent = new Map(); // id -> page time sent (ms)
  }

  start() {
    this.connect();
  }

  connect() {
    this.retryTimer = null;
    this.setState("connecting");
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      if (this.opened++ > 0) this.reconnects++;
      this.lastFrameMs = performance.now();
      this.pingSent.clear();
      this.setState("open");
      this.handlers.onOpen();
      this.ping();
      for (const after of EARLY_PINGS) setTimeout(() => this.ws === ws && this.isOpen && this.ping(), after);
      this.pingTimer = setInterval(() => this.checkAlive(), PING_EVERY);
    };
    ws.onmessage = (message) => {
      const arrivalMs = performance.now();
      this.lastFrameMs = arrivalMs;
      let events;
      try {
        events = JSON.parse(message.data);
      } catch (err) {
        console.warn("dashboard: frame is not JSON", err);
        return;
      }
      if (!Array.isArray(events)) events = [events];
      for (const event of events) {
        if (event.type === "pong" && this.pingSent.has(event.id)) this.onPong(event, arrivalMs);
      }
      this.handlers.onEvents(events, arrivalMs);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearInterval(this.pingTimer);
      this.pingTimer = null;
      this.lastClose = { code: event.code, reason: event.reason };
      this.handlers.onClose();
      this.scheduleRetry();
    };
    ws.onerror = () => {}; // onclose follows and decides; the browser logs the cause itself
  }

  scheduleRetry() {
    const base = Math.min(BACKOFF.max, BACKOFF.first * BACKOFF.factor ** this.attempt);
    const delay = base * (1 - BACKOFF.jitter + 2 * BACKOFF.jitter * Math.random());
    this.attempt++;
    this.retryAt = performance.now() + delay;
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.setState("waiting");
  }

  /** Retry at once (the "reconnect now" button). */
  retryNow() {
    if (this.state !== "waiting") return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  setState(state) {
    this.state = state;
    this.handlers.onStatus(this.status());
  }

  status() {
    return {
      state: this.state, attempt: this.attempt, reconnects: this.reconnects, rtt: this.rtt,
      retryInMs: this.state === "waiting" ? Math.max(0, this.retryAt - performance.now()) : 0,
      lastClose: this.lastClose,
    };
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Send one operation; `raw` maps field names to JSON text inserted verbatim (big seeds). */
  send(op, raw = null) {
    if (!this.isOpen) return null;
    const id = this.nextId++;
    let text = JSON.stringify({ ...op, id });
    if (raw) {
      const extra = Object.entries(raw).map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",");
      if (extra) text = text.slice(0, -1) + "," + extra + "}";
    }
    this.ws.send(text);
    return id;
  }

  ping() {
    const id = this.send({ op: "ping" });
    if (id !== null) this.pingSent.set(id, performance.now());
  }

  onPong(event, arrivalMs) {
    const sent = this.pingSent.get(event.id);
    this.pingSent.delete(event.id);
    const rtt = arrivalMs - sent;
    const pageNow = performance.timeOrigin + (sent + arrivalMs) / 2;
    this.pings.push({ rtt, offset: event.time * 1000 - pageNow });
    if (this.pings.length > 5) this.pings.shift();
    const best = this.pings.reduce((a, b) => (b.rtt < a.rtt ? b : a));
    this.rtt = rtt;
    // correct for a clock difference only when it is larger than the measurement's own
    // uncertainty (half the round trip): on one machine the clocks are the same one
    this.clockOffset = Math.abs(best.offset) > best.rtt ? best.offset : 0;
    this.handlers.onStatus(this.status());
  }

  /** A socket that neither answered a ping nor sent anything for PONG_TIMEOUT is dead. */
  checkAlive() {
    const now = performance.now();
    const oldest = Math.min(...this.pingSent.values());
    if (this.pingSent.size && now - oldest > PONG_TIMEOUT && now - this.lastFrameMs > PONG_TIMEOUT) {
      console.warn("dashboard: no answer from the server; reconnecting");
      this.pingSent.clear();
      this.ws.close(4000, "no pong");
      this.ws.onclose({ code: 4000, reason: "no pong" }); // do not wait for the closing handshake
      return;
    }
    this.ping();
  }
}
