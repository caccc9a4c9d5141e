// The meeting room's WebSocket (docs/protocol.md, "/ws/meetings/<public_id>/"):
// envelope {type, id, body}, requests answered by ack/error, events dispatched by
// type, and reconnection with exponential backoff.

// After these close codes a retry cannot help: kicked/not allowed, replaced by
// another tab, meeting ended, not found, not logged in.
export const FINAL_CODES = new Set([4401, 4403, 4404, 4409, 4410]);
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 10000;
const PING_EVERY_MS = 25000;
const REQUEST_TIMEOUT_MS = 15000;
// The close code used by dropSocket(): not final, so the page reconnects.
const DROP_CODE = 4000;

export class SignalError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

export function socketUrl(path) {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${path}`;
}

// 0.5 s, 1 s, 2 s … up to 10 s, plus up to 30 % jitter so that a room that lost its
// server does not come back in one burst.
export function backoffDelay(attempt) {
  const base = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** attempt);
  return Math.round(base * (1 + Math.random() * 0.3));
}

export class Signaling {
  // onEvent(type, body), onState(state, closeCode) with state one of
  // "connecting" | "connected" | "reconnecting" | "closed" (final).
  constructor(path, { onEvent, onState }) {
    this.path = path;
    this.onEvent = onEvent;
    this.onState = onState;
    this.socket = null;
    this.attempt = 0;
    this.counter = 0;
    this.pending = new Map();
    this.stopped = false;
    this.retryTimer = 0;
    this.pingTimer = 0;
    this.state = "connecting";
    document.addEventListener("visibilitychange", () => {
      // Back on the tab or back online: do not sit out the rest of the backoff.
      if (document.visibilityState === "visible") this.retryNow();
    });
    window.addEventListener("online", () => this.retryNow());
  }

  start() {
    this.connect();
  }

  setState(state, code = null) {
    this.state = state;
    this.onState(state, code);
  }

  connect() {
    this.retryTimer = 0;
    let socket;
    try {
      socket = new WebSocket(socketUrl(this.path));
    } catch {
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    socket.addEventListener("open", () => {
      if (socket !== this.socket) return;
      this.attempt = 0;
      this.setState("connected");
      this.pingTimer = setInterval(() => this.request("ping").catch(() => {}), PING_EVERY_MS);
    });
    socket.addEventListener("message", (event) => {
      if (socket === this.socket) this.receive(event.data);
    });
    socket.addEventListener("close", (event) => {
      if (socket !== this.socket) return;
      this.socket = null;
      clearInterval(this.pingTimer);
      this.failPending(new SignalError("disconnected", "The connection was lost."));
      if (this.stopped) return;
      if (FINAL_CODES.has(event.code)) {
        this.stopped = true;
        this.setState("closed", event.code);
        return;
      }
      this.setState("reconnecting", event.code);
      this.scheduleRetry();
    });
  }

  receive(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (!message || typeof message.type !== "string") return;
    const body = message.body && typeof message.body === "object" ? message.body : {};
    if ((message.type === "ack" || message.type === "error") && message.id != null) {
      const waiting = this.pending.get(message.id);
      if (!waiting) return;
      this.pending.delete(message.id);
      clearTimeout(waiting.timer);
      if (message.type === "ack") waiting.resolve(body);
      else waiting.reject(new SignalError(body.code || "error", body.message));
      return;
    }
    if (message.type === "error") {
      // An error without an id answers a frame the server could not read.
      console.warn("Parley: server error", body);
      return;
    }
    try {
      this.onEvent(message.type, body);
    } catch (error) {
      console.error("Parley: handling", message.type, "failed", error);
    }
  }

  scheduleRetry() {
    if (this.stopped || this.retryTimer) return;
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  retryNow() {
    if (this.stopped || this.socket || !this.retryTimer) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  get isOpen() {
    return Boolean(this.socket) && this.socket.readyState === WebSocket.OPEN;
  }

  // Sends a message; resolves with the ack's body, rejects with a SignalError.
  request(type, body = {}) {
    if (!this.isOpen) return Promise.reject(new SignalError("disconnected", "Not connected."));
    this.counter += 1;
    const id = `r${this.counter}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SignalError("timeout", "No answer from the server."));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      this.socket.send(JSON.stringify({ type, id, body }));
    });
  }

  failPending(error) {
    for (const waiting of this.pending.values()) {
      clearTimeout(waiting.timer);
      waiting.reject(error);
    }
    this.pending.clear();
  }

  // Closes the socket the way a network drop would: the page reconnects by itself.
  dropSocket() {
    if (this.socket) this.socket.close(DROP_CODE, "dropped");
  }

  // Reconnects at once (for a fresh room.snapshot), without waiting for backoff.
  reconnect() {
    if (this.stopped) return;
    this.attempt = 0;
    if (this.socket) this.socket.close(DROP_CODE, "resync");
    else this.retryNow();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    this.failPending(new SignalError("disconnected", "Closed."));
    if (this.socket) this.socket.close(1000);
    this.socket = null;
  }
}
