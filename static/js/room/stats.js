// Meeting-room Statistics and Info panels (F17): live WebRTC figures per connection with
// 60-second graphs drawn on canvases (no library), and the meeting's details. The room
// loads it the first time one of them opens (features.js).
// Plain ES module, no build step. Text goes through gettext() from Django's /jsi18n/ catalog.
import { copyText } from "../copy.js";
import { element, hidePanel, isPanelOpen, panelHeader, showPanel } from "./panels.js";
import { selectedCandidatePair } from "./preferences.js";

function gettext(text) {
  return typeof window.gettext === "function" ? window.gettext(text) : text;
}

function interpolate(text, values) {
  if (typeof window.interpolate === "function") return window.interpolate(text, values);
  const rest = [...values];
  return text.replace(/%s/g, () => String(rest.shift()));
}

const POLL_MS = 1000;
const WINDOW_MS = 60000;
// A counter older than this (the panel was closed) gives no rate: it would average over the gap.
const STALE_MS = 5000;

// --- Figures from one getStats() report ---------------------------------------------------

const add = (a, b) => (a === null ? b : b === null ? a : a + b);
const maxOf = (a, b) => (a === null ? b : b === null ? a : Math.max(a, b));

// kbit/s from a byte counter: bits per millisecond is kbit/s.
function rate(current, before, field) {
  if (!before || !Number.isFinite(current[field]) || !Number.isFinite(before[field])) return null;
  const elapsed = current.timestamp - before.timestamp;
  if (elapsed <= 0 || elapsed > STALE_MS) return null;
  return (Math.max(0, current[field] - before[field]) * 8) / elapsed;
}

function perSecond(current, before, field) {
  if (!before || !Number.isFinite(current[field]) || !Number.isFinite(before[field])) return null;
  const elapsed = current.timestamp - before.timestamp;
  if (elapsed <= 0 || elapsed > STALE_MS) return null;
  return (Math.max(0, current[field] - before[field]) * 1000) / elapsed;
}

function codecOf(report, stats) {
  return (stats.codecId && report.get(stats.codecId)?.mimeType) || null;
}

function kindOf(stats) {
  return stats.kind || stats.mediaType;
}

function emptyFigures(name) {
  return {
    name,
    connectionState: null,
    timestamp: Date.now(),
    bitrateIn: { audio: null, video: null, total: null }, // kbit/s
    bitrateOut: { audio: null, video: null, total: null },
    packetLoss: null, // % of inbound packets lost in the last interval
    packetLossAudio: null,
    packetLossVideo: null,
    jitter: null, // ms, the larger of audio and video
    jitterAudio: null,
    jitterVideo: null,
    rtt: null, // ms
    availableOutgoingBitrate: null, // kbit/s, the sender's bandwidth estimate
    videoIn: null, // {width, height, fps}
    videoOut: null,
    codecs: { audioIn: null, audioOut: null, videoIn: null, videoOut: null }, // mimeType
    candidate: null, // {local, remote, protocol, relayProtocol, localAddress, remoteAddress}
  };
}

function videoFigures(stats, before, framesField) {
  if (!stats.frameWidth) return null;
  const fps = Number.isFinite(stats.framesPerSecond) ? stats.framesPerSecond : perSecond(stats, before, framesField);
  return { width: stats.frameWidth, height: stats.frameHeight, fps: fps ?? 0 };
}

// With several streams of a kind (camera and screen), the busiest one is shown.
function busier(current, candidate, field) {
  return !current || (candidate[field] || 0) > (current[field] || 0);
}

function readOutbound(figures, report, stats, before, state) {
  const kind = kindOf(stats);
  if (kind !== "audio" && kind !== "video") return;
  figures.bitrateOut[kind] = add(figures.bitrateOut[kind], rate(stats, before, "bytesSent"));
  if (!busier(state[`out-${kind}`], stats, "bytesSent")) return;
  state[`out-${kind}`] = stats;
  figures.codecs[`${kind}Out`] = codecOf(report, stats);
  if (kind === "video") figures.videoOut = videoFigures(stats, before, "framesEncoded");
}

function readInbound(figures, report, stats, before, state) {
  const kind = kindOf(stats);
  if (kind !== "audio" && kind !== "video") return;
  figures.bitrateIn[kind] = add(figures.bitrateIn[kind], rate(stats, before, "bytesReceived"));
  const jitterKey = kind === "audio" ? "jitterAudio" : "jitterVideo";
  if (Number.isFinite(stats.jitter)) figures[jitterKey] = maxOf(figures[jitterKey], stats.jitter * 1000);
  if (before && stats.timestamp - before.timestamp <= STALE_MS) {
    const lost = Math.max(0, (stats.packetsLost ?? 0) - (before.packetsLost ?? 0));
    const received = Math.max(0, (stats.packetsReceived ?? 0) - (before.packetsReceived ?? 0));
    state.loss[kind].lost += lost;
    state.loss[kind].total += lost + received;
  }
  if (!busier(state[`in-${kind}`], stats, "bytesReceived")) return;
  state[`in-${kind}`] = stats;
  figures.codecs[`${kind}In`] = codecOf(report, stats);
  if (kind === "video") figures.videoIn = videoFigures(stats, before, "framesDecoded");
}

function lossPercent({ lost, total }) {
  return total > 0 ? (lost / total) * 100 : null;
}

function candidateOf(report, id) {
  return id ? report.get(id) || null : null;
}

function readPair(figures, report) {
  const pair = selectedCandidatePair(report);
  if (pair) {
    if (Number.isFinite(pair.currentRoundTripTime)) figures.rtt = pair.currentRoundTripTime * 1000;
    if (Number.isFinite(pair.availableOutgoingBitrate)) figures.availableOutgoingBitrate = pair.availableOutgoingBitrate / 1000;
    const local = candidateOf(report, pair.localCandidateId);
    const remote = candidateOf(report, pair.remoteCandidateId);
    figures.candidate = {
      local: local?.candidateType ?? null,
      remote: remote?.candidateType ?? null,
      protocol: local?.protocol ?? remote?.protocol ?? null,
      relayProtocol: local?.relayProtocol ?? null,
      localAddress: local ? `${local.address ?? local.ip ?? "?"}:${local.port ?? "?"}` : null,
      remoteAddress: remote ? `${remote.address ?? remote.ip ?? "?"}:${remote.port ?? "?"}` : null,
    };
  }
}

// Computes the figures of one connection from its report and the previous one
// (RTCStatsReport or Map stats id → stats, or nothing on the first poll).
export function computeFigures(report, previous, name) {
  const figures = emptyFigures(name);
  const state = { loss: { audio: { lost: 0, total: 0 }, video: { lost: 0, total: 0 } } };
  for (const stats of report.values()) {
    const before = previous?.get(stats.id);
    if (stats.type === "outbound-rtp") readOutbound(figures, report, stats, before, state);
    else if (stats.type === "inbound-rtp") readInbound(figures, report, stats, before, state);
  }
  readPair(figures, report);
  for (const direction of [figures.bitrateIn, figures.bitrateOut]) direction.total = add(direction.audio, direction.video);
  figures.packetLossAudio = lossPercent(state.loss.audio);
  figures.packetLossVideo = lossPercent(state.loss.video);
  figures.packetLoss = lossPercent({
    lost: state.loss.audio.lost + state.loss.video.lost,
    total: state.loss.audio.total + state.loss.video.total,
  });
  figures.jitter = maxOf(figures.jitterAudio, figures.jitterVideo);
  return figures;
}

// --- Formatting ------------------------------------------------------------------------------

function numberFormat(digits) {
  return new Intl.NumberFormat(document.documentElement.lang || undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function formatNumber(value, digits = 0) {
  return numberFormat(digits).format(value);
}

const DASH = "—";

function kbps(value) {
  if (value === null) return DASH;
  return interpolate(gettext("%s kbit/s"), [formatNumber(value, value < 10 ? 1 : 0)]);
}

function ms(value) {
  return value === null ? DASH : interpolate(gettext("%s ms"), [formatNumber(value, value < 10 ? 1 : 0)]);
}

function percent(value) {
  return value === null ? DASH : `${formatNumber(value, 1)} %`;
}

function resolution(video) {
  if (!video) return DASH;
  return interpolate(gettext("%s×%s at %s fps"), [video.width, video.height, formatNumber(video.fps, 0)]);
}

function codecName(mimeType) {
  return mimeType ? mimeType.replace(/^(audio|video)\//, "") : DASH;
}

const CANDIDATE_TYPES = {
  host: () => gettext("direct (host)"),
  srflx: () => gettext("through NAT (srflx)"),
  prflx: () => gettext("through NAT (prflx)"),
  relay: () => gettext("relayed by TURN (relay)"),
};

function candidateText(candidate) {
  if (!candidate) return gettext("not connected yet");
  const side = (type) => (CANDIDATE_TYPES[type] || (() => type || "?"))();
  const protocol = (candidate.protocol || "?").toUpperCase();
  const relay = candidate.relayProtocol ? ` / TURN ${candidate.relayProtocol.toUpperCase()}` : "";
  return interpolate(gettext("%s ↔ %s over %s"), [side(candidate.local), side(candidate.remote), protocol + relay]);
}

// --- Graphs ------------------------------------------------------------------------------------

const GRAPHS = [
  { key: "bitrate", title: () => gettext("Bitrate"), series: ["in", "out"], floor: 100, format: kbps },
  { key: "loss", title: () => gettext("Packet loss"), series: ["loss"], floor: 5, format: percent },
  { key: "jitter", title: () => gettext("Jitter"), series: ["jitter"], floor: 20, format: ms },
  { key: "rtt", title: () => gettext("Round-trip time"), series: ["rtt"], floor: 50, format: ms },
];

const SERIES_ARROWS = { in: "↓ ", out: "↑ " };

const SERIES_LABELS = {
  in: () => gettext("received"),
  out: () => gettext("sent"),
  loss: () => gettext("packet loss"),
  jitter: () => gettext("jitter"),
  rtt: () => gettext("round-trip time"),
};

function cssColor(node, name, fallback) {
  return getComputedStyle(node).getPropertyValue(name).trim() || fallback;
}

function niceCeiling(value) {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

const SERIES_COLORS = {
  in: ["--rp-graph-in", "#60a5fa"],
  out: ["--rp-graph-out", "#f472b6"],
  loss: ["--rp-graph-loss", "#f87171"],
  jitter: ["--rp-graph-jitter", "#fbbf24"],
  rtt: ["--rp-graph-rtt", "#4ade80"],
};

function drawGraph(canvas, graph, samples, now) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 240;
  const height = canvas.clientHeight || 72;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.clearRect(0, 0, width, height);
  let top = graph.floor;
  for (const sample of samples) for (const key of graph.series) if (sample[key] !== null) top = Math.max(top, sample[key]);
  top = niceCeiling(top);
  const pad = { left: 2, right: 2, top: 14, bottom: 2 };
  const plotHeight = height - pad.top - pad.bottom;
  const x = (t) => pad.left + ((t - (now - WINDOW_MS)) / WINDOW_MS) * (width - pad.left - pad.right);
  const y = (value) => pad.top + plotHeight - (value / top) * plotHeight;
  context.strokeStyle = cssColor(canvas, "--rp-graph-grid", "rgba(255,255,255,0.08)");
  context.lineWidth = 1;
  for (const fraction of [0, 0.5, 1]) {
    const lineY = Math.round(pad.top + plotHeight * fraction) + 0.5;
    context.beginPath();
    context.moveTo(pad.left, lineY);
    context.lineTo(width - pad.right, lineY);
    context.stroke();
  }
  context.fillStyle = cssColor(canvas, "--rp-muted", "#9aa3b5");
  context.font = "10px system-ui, sans-serif";
  context.textBaseline = "top";
  context.fillText(graph.format(top), pad.left + 2, 1);
  context.lineWidth = 1.75;
  context.lineJoin = "round";
  for (const key of graph.series) {
    const [variable, fallback] = SERIES_COLORS[key];
    context.strokeStyle = cssColor(canvas, variable, fallback);
    context.beginPath();
    let previous = null;
    for (const sample of samples) {
      const value = sample[key];
      // A gap (panel closed, no figure) breaks the line instead of bridging it.
      const connected = previous && value !== null && sample.t - previous.t < POLL_MS * 2.5;
      if (value !== null) {
        if (connected) context.lineTo(x(sample.t), y(value));
        else context.moveTo(x(sample.t), y(value));
      }
      previous = value === null ? null : sample;
    }
    context.stroke();
  }
}

// --- The Statistics panel -----------------------------------------------------------------------

let panelCount = 0;

const ROWS = [
  { key: "audioBitrate", label: () => gettext("Audio bitrate") },
  { key: "videoBitrate", label: () => gettext("Video bitrate") },
  { key: "video", label: () => gettext("Video resolution") },
  { key: "audioCodec", label: () => gettext("Audio codec") },
  { key: "videoCodec", label: () => gettext("Video codec") },
  { key: "loss", label: () => gettext("Packet loss") },
  { key: "jitter", label: () => gettext("Jitter") },
];

function rowValues(f) {
  return {
    audioBitrate: [kbps(f.bitrateOut.audio), kbps(f.bitrateIn.audio)],
    videoBitrate: [kbps(f.bitrateOut.video), kbps(f.bitrateIn.video)],
    video: [resolution(f.videoOut), resolution(f.videoIn)],
    audioCodec: [codecName(f.codecs.audioOut), codecName(f.codecs.audioIn)],
    videoCodec: [codecName(f.codecs.videoOut), codecName(f.codecs.videoIn)],
    // Loss and jitter are measured on what this browser receives.
    loss: [DASH, percent(f.packetLoss)],
    jitter: [DASH, f.jitter === null ? DASH : `${ms(f.jitterAudio)} / ${ms(f.jitterVideo)}`],
  };
}

const STATE_LABELS = {
  new: () => gettext("new"),
  connecting: () => gettext("connecting"),
  connected: () => gettext("connected"),
  disconnected: () => gettext("disconnected"),
  failed: () => gettext("failed"),
  closed: () => gettext("closed"),
};

export class StatsPanel {
  constructor(rootElement, getPeers) {
    this.root = rootElement;
    this.getPeers = getPeers;
    this.latest = new Map(); // participant id → figures of the last poll
    this.history = new Map(); // participant id → [{t, in, out, loss, jitter, rtt}] over 60 s
    this.counters = new Map(); // participant id → Map stats id → stats (previous poll)
    this.views = new Map();
    this.timer = 0;
    this.running = false;
    this.id = `rp-stats-${++panelCount}`;
    this.build();
    this.root.addEventListener("close", () => this.stop());
  }

  open() {
    showPanel(this.root);
    if (this.running) return;
    this.running = true;
    this.tick();
  }

  close() {
    this.stop();
    hidePanel(this.root);
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
  }

  build() {
    this.root.classList.add("rp-dialog", "rp-stats");
    this.root.setAttribute("aria-labelledby", `${this.id}-title`);
    this.empty = element("p", { className: "rp-note rp-stats__empty", text: gettext("No connection yet: the figures appear when someone else is in the meeting.") });
    this.list = element("div", { className: "rp-stats__list" });
    this.root.replaceChildren(
      panelHeader(this.root, `${this.id}-title`, gettext("Statistics"), () => this.close()),
      element(
        "div",
        { className: "rp-body" },
        element("p", { className: "rp-hint", text: gettext("Live figures of each connection, updated every second. The graphs show the last 60 seconds.") }),
        this.empty,
        this.list,
      ),
    );
  }

  // One poll at a time, then the next one a second later; nothing runs while closed.
  async tick() {
    if (!this.running) return;
    try {
      await this.poll();
    } finally {
      if (this.running && isPanelOpen(this.root)) this.timer = setTimeout(() => this.tick(), POLL_MS);
      else this.running = false;
    }
  }

  async poll() {
    const peers = new Map([...(this.getPeers() || new Map())].filter(([, peer]) => peer?.pc));
    const now = Date.now();
    await Promise.all([...peers].map(([id, peer]) => this.pollPeer(id, peer, now)));
    for (const id of [...this.latest.keys()]) {
      if (!peers.has(id)) this.forget(id);
    }
    this.empty.hidden = peers.size > 0;
    for (const [id, peer] of peers) this.render(id, peer, now);
  }

  async pollPeer(id, { name, pc }, now) {
    let report;
    try {
      report = await pc.getStats();
    } catch {
      report = new Map(); // closed connection: figures stay empty
    }
    const figures = computeFigures(report, this.counters.get(id), name);
    figures.connectionState = pc.connectionState ?? pc.iceConnectionState ?? null;
    this.counters.set(id, report); // a report is a snapshot: the next poll's "before"
    this.latest.set(id, figures);
    const samples = (this.history.get(id) || []).filter((sample) => now - sample.t <= WINDOW_MS);
    samples.push({
      t: now,
      in: figures.bitrateIn.total,
      out: figures.bitrateOut.total,
      loss: figures.packetLoss,
      jitter: figures.jitter,
      rtt: figures.rtt,
    });
    this.history.set(id, samples);
  }

  forget(id) {
    this.latest.delete(id);
    this.history.delete(id);
    this.counters.delete(id);
    this.views.get(id)?.section.remove();
    this.views.delete(id);
  }

  view(id) {
    if (this.views.has(id)) return this.views.get(id);
    const key = `${this.id}-${String(id).replace(/[^A-Za-z0-9_-]/g, "_")}`;
    const title = element("h3", { id: `${key}-title` });
    const state = element("span", { className: "rp-badge" });
    const type = element("dd");
    const rtt = element("dd");
    const estimate = element("dd");
    const cells = {};
    const body = element("tbody");
    for (const row of ROWS) {
      cells[row.key] = [element("td"), element("td")];
      body.append(element("tr", {}, element("th", { scope: "row", text: row.label() }), ...cells[row.key]));
    }
    const graphs = {};
    const graphNodes = GRAPHS.map((graph) => {
      const canvas = element("canvas", { className: "rp-graph__canvas", role: "img" });
      // One coloured value per line: it doubles as the graph's legend.
      const values = graph.series.map((key) => element("span", { className: `rp-graph__value rp-graph__value--${key}` }));
      const value = element("span", { className: "rp-graph__values" }, values);
      graphs[graph.key] = { canvas, values };
      return element(
        "figure",
        { className: "rp-graph" },
        element("figcaption", {}, element("span", { text: graph.title() }), value),
        canvas,
      );
    });
    const section = element(
      "section",
      { className: "rp-conn", "aria-labelledby": title.id, "data-peer-id": String(id) },
      element("div", { className: "rp-conn__head" }, title, state),
      element(
        "dl",
        { className: "rp-conn__meta" },
        element("div", {}, element("dt", { text: gettext("Connection type") }), type),
        element("div", {}, element("dt", { text: gettext("Round-trip time") }), rtt),
        element("div", {}, element("dt", { text: gettext("Available bandwidth (sent)") }), estimate),
      ),
      element(
        "div",
        { className: "rp-table-wrap" },
        element(
          "table",
          { className: "rp-table" },
          element("caption", { className: "visually-hidden rp-visually-hidden", text: gettext("Current figures") }),
          element(
            "thead",
            {},
            element("tr", {}, element("td"), element("th", { scope: "col", text: gettext("Sent") }), element("th", { scope: "col", text: gettext("Received") })),
          ),
          body,
        ),
      ),
      element("div", { className: "rp-graphs" }, graphNodes),
    );
    this.list.append(section);
    const view = { section, title, state, type, rtt, estimate, cells, graphs };
    this.views.set(id, view);
    return view;
  }

  render(id, peer, now) {
    const figures = this.latest.get(id);
    if (!figures) return;
    const view = this.view(id);
    view.title.textContent = peer.name || String(id);
    const stateKey = figures.connectionState || "new";
    view.state.textContent = (STATE_LABELS[stateKey] || (() => stateKey))();
    view.state.dataset.state = stateKey;
    view.type.textContent = candidateText(figures.candidate);
    view.rtt.textContent = ms(figures.rtt);
    view.estimate.textContent = kbps(figures.availableOutgoingBitrate);
    const values = rowValues(figures);
    for (const row of ROWS) {
      view.cells[row.key].forEach((cell, index) => {
        cell.textContent = values[row.key][index];
      });
    }
    const samples = this.history.get(id) || [];
    const last = samples[samples.length - 1] || {};
    for (const graph of GRAPHS) {
      const { canvas, values } = view.graphs[graph.key];
      const current = graph.series.map((key) => `${SERIES_LABELS[key]()} ${graph.format(last[key] ?? null)}`).join(", ");
      graph.series.forEach((key, index) => {
        const arrow = SERIES_ARROWS[key] || "";
        values[index].textContent = `${arrow}${graph.format(last[key] ?? null)}`;
        values[index].title = SERIES_LABELS[key]();
      });
      canvas.setAttribute("aria-label", interpolate(gettext("%s over the last 60 seconds; now %s"), [graph.title(), current]));
      drawGraph(canvas, graph, samples, now);
    }
  }
}

// --- The Info panel -------------------------------------------------------------------------------

const SHARE_POLICIES = {
  organizers: () => gettext("Organizers only"),
  presenters: () => gettext("Organizers and presenters"),
  everyone: () => gettext("Everyone"),
};

function meetingLink(meeting) {
  if (meeting.join_url) return new URL(meeting.join_url, window.location.origin).href;
  return `${window.location.origin}/m/${encodeURIComponent(meeting.public_id ?? "")}/`;
}

function formatStart(value) {
  if (!value) return gettext("Not started yet");
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return new Intl.DateTimeFormat(document.documentElement.lang || undefined, { dateStyle: "full", timeStyle: "short" }).format(date);
}

function infoRow(label, ...value) {
  return element("div", { className: "rp-info__row" }, element("dt", { text: label }), element("dd", {}, ...value));
}

function copyButton(link, status) {
  const button = element("button", {
    type: "button",
    className: "rp-button rp-button--small rp-copy",
    text: gettext("Copy link"),
    onclick: async () => {
      const copied = await copyText(link);
      status.textContent = copied ? gettext("Link copied to the clipboard.") : gettext("The link could not be copied: select it and copy it by hand.");
      button.textContent = copied ? gettext("Copied!") : gettext("Copy link");
      setTimeout(() => {
        button.textContent = gettext("Copy link");
      }, 2000);
    },
  });
  return button;
}

// Renders (or re-renders, e.g. after a meeting.settings event) the meeting's details.
// `meeting` is room.snapshot's "meeting" object; `version` the software version string.
export function renderInfo(rootElement, meeting, version) {
  const m = meeting || {};
  const id = `rp-info-${String(m.public_id ?? "meeting").replace(/[^A-Za-z0-9_-]/g, "_")}`;
  const link = meetingLink(m);
  const status = element("p", { className: "rp-status", role: "status" });
  const lobby = m.lobby_enabled ? gettext("On: an organizer admits each person") : gettext("Off: people enter directly");
  const moderation = m.moderate_participants ? gettext("On: organizers may ban a person for good") : gettext("Off");
  const cap = Number.isFinite(m.max_participants) && m.max_participants > 0 ? formatNumber(m.max_participants) : gettext("No limit");
  rootElement.classList.add("rp-dialog", "rp-info");
  rootElement.setAttribute("aria-labelledby", `${id}-title`);
  const header = "open" in rootElement
    ? panelHeader(rootElement, `${id}-title`, gettext("Meeting information"))
    : element("header", { className: "rp-header" }, element("h2", { id: `${id}-title`, className: "rp-title", text: gettext("Meeting information") }));
  rootElement.replaceChildren(
    header,
    element(
      "div",
      { className: "rp-body" },
      element(
        "dl",
        { className: "rp-info__list" },
        infoRow(gettext("Title"), element("span", { className: "rp-info__title", text: m.title || DASH })),
        infoRow(gettext("Meeting ID"), element("code", { className: "rp-info__id", text: m.public_id || DASH })),
        infoRow(
          gettext("Link"),
          element("div", { className: "rp-info__link" }, element("a", { href: link, className: "rp-info__url", text: link }), copyButton(link, status)),
        ),
        infoRow(gettext("Organizer"), m.owner_name || DASH),
        infoRow(gettext("Started"), formatStart(m.started_at)),
        infoRow(gettext("Lobby"), lobby),
        infoRow(gettext("Who may share the screen"), (SHARE_POLICIES[m.share_policy] || (() => m.share_policy || DASH))()),
        infoRow(gettext("Moderated participants"), moderation),
        infoRow(gettext("Maximum participants"), cap),
        infoRow(gettext("Software version"), element("span", { className: "rp-info__version", text: version ? String(version) : DASH })),
      ),
      status,
    ),
  );
}

// The room's statistics and information feature (features.js): built the first time
// one of the two dialogs opens.
export function setup(room) {
  const statsRoot = document.getElementById("stats-panel");
  const infoRoot = document.getElementById("info-panel");
  const stats = new StatsPanel(statsRoot, room.peers);
  const show = (dialog) => dialog.open || dialog.showModal();
  return {
    open: () => {
      stats.open();
      show(statsRoot);
    },
    info: () => {
      renderInfo(infoRoot, room.meeting, room.version);
      show(infoRoot);
    },
  };
}
