// A session on Janus's WebSocket API (subprotocol "janus-protocol") and its handles on
// the VideoRoom plugin: requests and their answers, events, trickle, keep-alives.
//
// Why not Meetecho's janus.js: it keeps the session token for the session's whole
// life (Janus checks the token on every request, keep-alives included, and Parley's
// tokens are short-lived and renewed), and it owns the peer connections that the
// room's tiles, statistics and device switching manage here. The protocol used is
// small: create, attach, message (+ JSEP), trickle, keepalive, detach, destroy.

const KEEPALIVE_MS = 25000; // Janus ends a session after 60 s without a request
const ANSWER_TIMEOUT_MS = 10000;
export const PLUGIN = "janus.plugin.videoroom";

export class JanusError extends Error {
  constructor(code, reason) {
    super(`Janus error ${code}: ${reason}`);
    this.code = code;
    this.reason = reason;
  }
}

function transactionId() {
  return Math.random().toString(36).slice(2) + Date.now().toString(36);
}

export class JanusSession {
  // token: the core token (assign a fresh one to `session.token` before it expires);
  // onClose(): the socket closed (Janus went away or the network dropped).
  constructor(url, { token, onClose = () => {} }) {
    this.url = url;
    this.token = token;
    this.onClose = onClose;
    this.sessionId = null;
    this.handles = new Map();
    this.pending = new Map(); // transaction → {resolve, reject, expectEvent, timer}
    this.socket = null;
    this.keepaliveTimer = 0;
    this.closed = false;
  }

  async connect() {
    this.socket = await new Promise((resolve, reject) => {
      const socket = new WebSocket(this.url, "janus-protocol");
      socket.onopen = () => resolve(socket);
      socket.onerror = () => reject(new JanusError(0, "The media server cannot be reached."));
    });
    this.socket.onmessage = (event) => this.receive(event.data);
    this.socket.onclose = () => this.lost();
    const answer = await this.request({ janus: "create" });
    this.sessionId = answer.data.id;
    this.keepaliveTimer = setInterval(() => this.request({ janus: "keepalive" }).catch(() => {}), KEEPALIVE_MS);
    return this;
  }

  async attach(opaqueId) {
    const answer = await this.request({ janus: "attach", plugin: PLUGIN, opaque_id: opaqueId });
    const handle = new JanusHandle(this, answer.data.id);
    this.handles.set(handle.id, handle);
    return handle;
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepaliveTimer);
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      if (this.sessionId) this.send({ janus: "destroy", transaction: transactionId() });
      this.socket.close();
    }
    this.failPending("closed");
  }

  // --- Plumbing ------------------------------------------------------------------

  send(message) {
    if (this.token) message.token = this.token;
    if (this.sessionId && message.janus !== "create") message.session_id = this.sessionId;
    this.socket.send(JSON.stringify(message));
  }

  // Resolves with the answer: "success", or with expectEvent the "event" that follows
  // an "ack" (they may arrive in either order); "error" rejects.
  request(message, { expectEvent = false } = {}) {
    if (this.closed || !this.socket || this.socket.readyState !== WebSocket.OPEN) {
      return Promise.reject(new JanusError(0, "The connection to the media server is closed."));
    }
    const transaction = transactionId();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(transaction);
        reject(new JanusError(0, "The media server did not answer."));
      }, ANSWER_TIMEOUT_MS);
      this.pending.set(transaction, { resolve, reject, expectEvent, timer });
      this.send({ ...message, transaction });
    });
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    const waiting = this.pending.get(message.transaction);
    if (waiting) {
      if (message.janus === "ack" && waiting.expectEvent) return;
      this.pending.delete(message.transaction);
      clearTimeout(waiting.timer);
      if (message.janus === "error") waiting.reject(new JanusError(message.error?.code || 0, message.error?.reason || "error"));
      else waiting.resolve(message);
      return;
    }
    const handle = this.handles.get(message.sender);
    if (handle) handle.onEvent(message);
  }

  failPending(why) {
    for (const [transaction, waiting] of this.pending) {
      clearTimeout(waiting.timer);
      waiting.reject(new JanusError(0, why));
      this.pending.delete(transaction);
    }
  }

  lost() {
    clearInterval(this.keepaliveTimer);
    this.failPending("The connection to the media server was lost.");
    if (!this.closed) {
      this.closed = true;
      this.onClose();
    }
  }
}

// A handle on the VideoRoom plugin. `onEvent(message)` gets what Janus sends on its
// own (publishers coming and going, talk events, a new offer, hangups).
export class JanusHandle {
  constructor(session, id) {
    this.session = session;
    this.id = id;
    this.listeners = new Set();
  }

  listen(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onEvent(message) {
    for (const listener of this.listeners) listener(message);
  }

  // An asynchronous plugin request (join, publish, configure, subscribe, start…):
  // resolves with {data, jsep}; a plugin error rejects with its code.
  async message(body, jsep) {
    const request = { janus: "message", handle_id: this.id, body };
    if (jsep) request.jsep = { type: jsep.type, sdp: jsep.sdp };
    const answer = await this.session.request(request, { expectEvent: true });
    const data = answer.plugindata?.data || {};
    if (data.error_code) throw new JanusError(data.error_code, data.error);
    return { data, jsep: answer.jsep || null };
  }

  trickle(candidate) {
    const body = candidate ? { candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex } : { completed: true };
    return this.session.request({ janus: "trickle", handle_id: this.id, candidate: body }).catch(() => {});
  }

  detach() {
    this.session.handles.delete(this.id);
    return this.session.request({ janus: "detach", handle_id: this.id }).catch(() => {});
  }
}
