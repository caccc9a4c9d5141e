// A WebSocket speaking Parley's envelope (docs/protocol.md) that reconnects with
// exponential backoff and reports its state: "connected" or "unavailable".

// Close codes after which retrying cannot help (not logged in, not allowed, not found).
const FINAL_CODES = new Set([4401, 4403, 4404]);
const PING_EVERY_MS = 25000;

export function socketUrl(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}

export class LiveSocket {
  constructor(path, { onMessage = () => {}, onState = () => {}, maxDelayMs = 30000 } = {}) {
    this.path = path;
    this.onMessage = onMessage;
    this.onState = onState;
    this.maxDelayMs = maxDelayMs;
    this.attempt = 0;
    this.counter = 0;
    this.socket = null;
    this.stopped = false;
    this.retryTimer = 0;
    this.pingTimer = 0;
    document.addEventListener("visibilitychange", () => {
      // Back on the tab: do not wait for the backoff timer.
      if (document.visibilityState === "visible" && !this.socket && !this.stopped && this.retryTimer) {
        clearTimeout(this.retryTimer);
        this.connect();
      }
    });
    this.connect();
  }

  connect() {
    this.retryTimer = 0;
    let socket;
    try {
      socket = new WebSocket(socketUrl(this.path));
    } catch {
      this.onState("unavailable", null);
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.attempt = 0;
      this.onState("connected", null);
      this.pingTimer = setInterval(() => this.send("ping", {}), PING_EVERY_MS);
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message && typeof message.type === "string") this.onMessage(message);
    });
    socket.addEventListener("close", (event) => {
      clearInterval(this.pingTimer);
      this.socket = null;
      if (this.stopped) return;
      this.onState("unavailable", event.code);
      if (!FINAL_CODES.has(event.code)) this.scheduleRetry();
    });
  }

  scheduleRetry() {
    const base = Math.min(this.maxDelayMs, 1000 * 2 ** this.attempt);
    this.attempt += 1;
    // Jitter, so that many clients do not come back at the same instant.
    this.retryTimer = setTimeout(() => this.connect(), base * (0.75 + Math.random() * 0.5));
  }

  get isOpen() {
    return Boolean(this.socket) && this.socket.readyState === WebSocket.OPEN;
  }

  // Sends {type, id, body}; returns the id (to match the ack/error reply) or null.
  send(type, body = {}) {
    if (!this.isOpen) return null;
    this.counter += 1;
    const id = `m${this.counter}`;
    this.socket.send(JSON.stringify({ type, id, body }));
    return id;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    if (this.socket) this.socket.close(1000);
  }
}
