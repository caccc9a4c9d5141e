// Recording (docs/recording.md): the "● Recording" badge everyone sees (the room page
// and the lobby page), the organizers' Record control with its format choice, and the
// connection to the media worker's recorder, which gets our camera, microphone and
// screen. The recorder is never a participant: no tile, no roster entry. The room loads
// it on first need (features.js): a recording or a recorder is there, or an organizer
// uses Record; the badge and the menu come with it (meetings/room/_recording.html).
import { fmt } from "../ui.js";
import { confirmAction, describeError, notice } from "./dom.js";
import { PeerMesh } from "./peers.js";

// A connection to the recorder that closed while it is still there is opened again.
const RECONNECT_FIRST_MS = 1000;
const RECONNECT_MAX_MS = 15000;
// A recording in these states is running (or about to): the meeting is being recorded.
const ACTIVE_STATES = ["pending", "recording"];

function two(n) {
  return String(n).padStart(2, "0");
}

export function formatElapsed(seconds) {
  const hours = Math.floor(seconds / 3600);
  return `${hours ? `${hours}:` : ""}${two(Math.floor(seconds / 60) % 60)}:${two(seconds % 60)}`;
}

// The badge: shown while a recording is active, with the time since it started.
export class RecordingBadge {
  constructor(root) {
    this.root = root;
    this.label = root.querySelector(".recording-badge__label");
    this.time = root.querySelector(".recording-badge__time");
    this.timer = 0;
    this.active = false;
  }

  // `recording` is the server's recording object (or null when only "recording: true" is known).
  show(active, recording = null) {
    this.active = Boolean(active);
    clearInterval(this.timer);
    this.root.hidden = !this.active;
    this.root.dataset.state = this.active ? (recording && recording.state) || "recording" : "";
    if (!this.active) {
      this.time.hidden = true;
      return;
    }
    const pending = recording && recording.state === "pending";
    this.label.textContent = pending ? gettext("Recording starts…") : gettext("Recording");
    const start = recording && recording.started_at ? Date.parse(recording.started_at) : NaN;
    const text = recording && recording.started_by_name ? fmt(gettext("This meeting is being recorded (started by %s)."), [recording.started_by_name]) : gettext("This meeting is being recorded.");
    this.root.title = text;
    this.root.setAttribute("aria-label", text);
    if (Number.isNaN(start)) {
      this.time.hidden = true;
      return;
    }
    const tick = () => {
      const seconds = Math.max(0, Math.floor((Date.now() - start) / 1000));
      this.time.textContent = formatElapsed(seconds);
      this.time.dateTime = `PT${seconds}S`;
    };
    this.time.hidden = false;
    tick();
    this.timer = setInterval(tick, 1000);
  }

  stop() {
    this.show(false);
  }
}

// The room page's part: badge, Record control, and the recorder connection.
export class Recording {
  // presets: [{key, label}] from the page, defaultPreset the meeting's; meeting() the
  // room's meeting settings (whose recording_preset may have changed since);
  // localTracks() as for the mesh; request(type, body) and signal(body) the socket.
  constructor({ selfId, request, signal, localTracks, presets, defaultPreset, meeting, elements }) {
    this.request = request;
    this.meeting = meeting;
    this.defaultPreset = defaultPreset;
    this.presets = Array.isArray(presets) ? presets : [];
    this.badge = new RecordingBadge(elements.badge);
    this.button = elements.button;
    this.menu = elements.menu;
    this.select = elements.select;
    this.startButton = elements.start;
    this.recording = null;
    this.active = false;
    this.recorderId = null;
    this.recorderIds = new Set(); // every recorder this page heard of: their late signals are ours
    this.onMediaServer = false; // the room is on the SFU: the recorder subscribes there
    this.reconnectTimer = 0;
    this.reconnectDelay = RECONNECT_FIRST_MS;
    this.closed = false;
    this.mesh = new PeerMesh({
      selfId,
      signal,
      localTracks,
      offerer: true,
      onRemote: () => {},
      onState: (id) => this.onPeerState(id),
      onConnected: () => (this.reconnectDelay = RECONNECT_FIRST_MS),
    });
    this.fillPresets();
    this.bind();
    this.render();
  }

  fillPresets() {
    this.select.replaceChildren();
    for (const preset of this.presets) {
      const option = document.createElement("option");
      option.value = preset.key;
      option.textContent = preset.label;
      this.select.append(option);
    }
  }

  // (The Record button is the core's: it calls press.)
  bind() {
    this.startButton.addEventListener("click", () => this.startRecording());
    this.menu.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        this.toggleMenu(false);
        this.button.focus();
      }
    });
    document.addEventListener("click", (event) => {
      if (!this.menu.hidden && !this.menu.contains(event.target) && !this.button.contains(event.target)) this.toggleMenu(false);
    });
  }

  press() {
    if (this.active) this.stopRecording();
    else this.toggleMenu();
  }

  toggleMenu(open) {
    const show = open ?? this.menu.hidden;
    this.menu.hidden = !show;
    this.button.setAttribute("aria-expanded", show ? "true" : "false");
    if (!show) return;
    const preferred = (this.meeting() || {}).recording_preset || this.defaultPreset;
    if (preferred && this.presets.some((p) => p.key === preferred)) this.select.value = preferred;
    this.select.focus();
  }

  async startRecording() {
    this.startButton.disabled = true;
    try {
      const body = this.select.value ? { preset: this.select.value } : {};
      const reply = await this.request("recording.start", body);
      this.toggleMenu(false);
      // The room's recording.state follows; the ack already says it for our page.
      if (reply && reply.recording) this.setRecording(reply.recording, true);
    } catch (error) {
      notice(this.describe(error), { kind: "error" });
    } finally {
      this.startButton.disabled = false;
    }
  }

  async stopRecording() {
    if (!(await confirmAction(gettext("Stop the recording?"), gettext("Stop recording")))) return;
    try {
      await this.request("recording.stop", {});
    } catch (error) {
      if (error.code === "not_found") this.setRecording(null, false);
      else notice(this.describe(error), { kind: "error" });
    }
  }

  describe(error) {
    const messages = {
      recording_busy: gettext("This meeting is already being recorded."),
      invalid: gettext("This recording format is not available."),
      not_found: gettext("The meeting is not being recorded."),
    };
    return messages[error && error.code] || describeError(error);
  }

  setRecording(recording, active) {
    this.recording = recording || null;
    this.active = Boolean(active);
    this.render();
  }

  render() {
    this.badge.show(this.active, this.recording);
    const label = this.active ? gettext("Stop recording") : gettext("Record");
    this.button.setAttribute("aria-pressed", this.active ? "true" : "false");
    this.button.setAttribute("aria-label", label);
    this.button.title = label;
    this.button.querySelector(".control__label").textContent = this.active ? gettext("Stop") : gettext("Record");
    if (this.active) this.toggleMenu(false);
  }

  // --- Server events ---------------------------------------------------------------

  snapshot(body) {
    const recording = body.recording || null;
    this.setRecording(recording, Boolean(recording) && ACTIVE_STATES.includes(recording.state));
    this.setRecorder(body.recorder ? body.recorder.id : null);
  }

  onEvent(type, body) {
    if (type === "recording.state") this.setRecording(body.recording, body.active);
    else if (type === "recorder.joined") this.setRecorder(body.id);
    else if (type === "recorder.left" && body.id === this.recorderId) this.setRecorder(null);
  }

  // --- The recorder connection ----------------------------------------------------------

  // On the media server the recorder subscribes there (docs/sfu.md): nothing is sent to
  // it from here, and a connection made while the room was a mesh closes.
  setTopology(topology) {
    this.onMediaServer = topology.mode === "sfu";
    if (this.onMediaServer) this.mesh.closeAll();
    else if (this.recorderId !== null && !this.mesh.has(this.recorderId) && !this.closed) this.mesh.ensure(this.recorderId);
  }

  setRecorder(id) {
    const next = typeof id === "number" ? id : null;
    if (next === this.recorderId && (next === null || this.mesh.has(next) || this.onMediaServer)) return;
    const previous = this.recorderId;
    this.recorderId = next;
    clearTimeout(this.reconnectTimer);
    this.reconnectDelay = RECONNECT_FIRST_MS;
    if (previous !== null && previous !== next) this.mesh.close(previous);
    if (next !== null) this.recorderIds.add(next);
    if (next !== null && !this.closed && !this.onMediaServer) this.mesh.ensure(next);
  }

  // Its connection went away (signal refused, failed for good) while it is still here.
  onPeerState(id) {
    if (this.closed || this.onMediaServer || id !== this.recorderId || this.mesh.has(id) || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = 0;
      if (!this.closed && !this.onMediaServer && this.recorderId === id && !this.mesh.has(id)) this.mesh.ensure(id);
    }, this.reconnectDelay);
    this.reconnectDelay = Math.min(RECONNECT_MAX_MS, this.reconnectDelay * 2);
  }

  ownsSignal(body) {
    return Boolean(body) && this.recorderIds.has(body.from);
  }

  handleSignal(body) {
    return this.mesh.handleSignal(body);
  }

  syncTracks() {
    this.mesh.syncTracks();
  }

  peerConnection(id) {
    return this.mesh.get(id)?.pc || null;
  }

  // For tests and troubleshooting.
  get state() {
    return {
      active: this.active,
      recording: this.recording && { ...this.recording },
      recorderId: this.recorderId,
      connection: this.recorderId === null ? "none" : this.mesh.state(this.recorderId),
    };
  }

  close() {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.mesh.closeAll();
    this.badge.stop();
    this.toggleMenu(false);
  }
}

// The room's recording feature (features.js): built the first time the room needs it.
export function setup(room) {
  const byId = (id) => document.getElementById(id);
  const recording = new Recording({
    selfId: room.selfId,
    request: room.request,
    signal: room.signal,
    localTracks: room.localTracks,
    presets: room.config.recordingPresets,
    defaultPreset: room.config.recordingPreset,
    meeting: () => room.meeting,
    elements: { badge: byId("recording-badge"), button: byId("record-button"), menu: byId("record-menu"), select: byId("record-preset"), start: byId("record-start") },
  });
  recording.setTopology(room.topology);
  return {
    // Its sections: `recording` and `recorder`.
    snapshot: (_recording, snapshot) => recording.snapshot(snapshot),
    onEvent: (type, body) => recording.onEvent(type, body),
    // Our camera, microphone or screen changed: the recorder gets them too.
    mediaChanged: () => recording.syncTracks(),
    topologyChanged: (topology) => recording.setTopology(topology),
    ownsSignal: (body) => recording.ownsSignal(body),
    onSignal: (body) => recording.handleSignal(body),
    peerConnection: (id) => recording.peerConnection(id),
    press: () => recording.press(),
    close: () => recording.close(),
    get state() {
      return recording.state;
    },
  };
}
