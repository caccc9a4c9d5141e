// The meeting room page, its core: the socket (signaling.js), the mesh (peers.js), the
// local media (media.js), the tiles, the stage and the control bar — what a guest needs
// to see and hear the others. Every other feature (the chat, participants and lobby
// panels, polls, documents, presentations and annotation, remote control, recording,
// the settings and statistics panels) is registered with features.js, which loads it
// the first time the room needs it; this module routes the events to them by type
// prefix and tells them of the room's changes. The server's room.snapshot and events
// are the truth; this module keeps `state` in step with them and renders.
import { fmt, showToast } from "../ui.js";
import { SpeakingDetector, resumeAudio } from "./audio.js";
import { confirmAction, describeError, hideNotice, notice } from "./dom.js";
import { attach, choice as devicesChoice, config, mediaStarted, media, settings as storedSettings, signaling } from "./early.js";
import {
  call,
  claimSignal,
  closeFeatures,
  deliverSnapshot,
  featureHooks,
  featureState,
  featureStatuses,
  isLoaded,
  isWanted,
  need,
  notify,
  registerFeature,
  routeEvent,
  startFeatures,
} from "./features.js";
import { mediaProblem } from "./media.js";
import { PeerMesh } from "./peers.js";
import { applySenderSettings, speakingThreshold } from "./preferences.js";
import { RemoteButton } from "./remote-button.js";
import { Tiles, snapshot } from "./tiles.js";

const $ = (id) => document.getElementById(id);
const root = $("meeting-room");
const selfId = config.participantId;

const state = {
  self: null, // own participant object, from the server
  participants: new Map(), // the others, id → participant
  share: null,
  meeting: {},
  version: "",
  screenStreamIds: new Set(), // stream ids announced as screens: never a camera
  finished: false,
  lastMediaState: "",
  shareKind: "screen", // of our own share: "screen", or "remote" for remote control
  topology: { mode: "mesh" }, // the room's media: a mesh, or the media server (docs/sfu.md)
  live: false, // the socket is connected and its room.snapshot came (the chat may send)
};

let settings = storedSettings;

// --- Building blocks -----------------------------------------------------------------

// The socket and the devices were started first (early.js); start() takes them over.
const request = (type, body) => signaling.request(type, body);
media.onScreenEnded = () => stopShare();

const detector = new SpeakingDetector((id, speaking) => tiles.setSpeaking(id, speaking));
detector.setThreshold(speakingThreshold(settings));

const tiles = new Tiles($("tiles"), $("remote-audio"), { selfId, onAudioBlocked: () => ($("sound-button").hidden = false) });
tiles.applySettings(settings);

const mesh = new PeerMesh({
  selfId,
  signal: (body) => request("signal", body),
  localTracks: () => media.tracks(),
  onRemote: refreshRemote,
  onState: (id) => tiles.setConnection(id, null, mesh.state(id)),
  onConnected: (id) => applySenderSettings(mesh.get(id).pc, settings, { fitTrack: !media.minimumHeight }).catch(() => {}),
});

const remoteButton = new RemoteButton({
  button: $("remote-button"),
  reason: $("remote-reason"),
  selfId,
  room: () => ({ self: state.self, others: [...state.participants.values()], connected: signaling.isOpen }),
});

// --- Features, loaded on first need (features.js) ------------------------------------

// A PDF or a whiteboard on the stage: the presentation viewer shows it, not a video.
const PRESENTATION_KINDS = ["pdf", "whiteboard"];

// The side panels (their buttons are the core's, the Chat button's unread count too).
registerFeature({ name: "chat", prefixes: ["chat."], load: () => import("./chat.js"), styles: ["css/room-chat.css"], part: "chat" });
registerFeature({
  name: "participants",
  load: () => import("./participants.js"),
  styles: ["css/room-participants.css"],
  part: "participants",
});
// Organizers only: the snapshot's people waiting, or the first one who asks.
registerFeature({
  name: "lobby",
  prefixes: ["lobby.request", "lobby.removed"],
  section: "lobby",
  wanted: (people) => Boolean(people && people.length),
  loadOnEvent: (type) => type === "lobby.request",
  load: () => import("./lobby.js"),
  styles: ["css/room-lobby.css"],
  part: "lobby",
});
registerFeature({
  name: "polls",
  prefixes: ["poll."],
  section: "poll",
  load: () => import("./polls.js"),
  styles: ["css/room-polls.css"],
  part: "polls",
});
registerFeature({
  name: "presentation",
  prefixes: ["presentation.", "annotation."],
  section: "presentation",
  wanted: (section) => Boolean(section && section.presentation),
  load: () => import("./presentation.js"),
  styles: ["css/room-presentation.css"],
});
registerFeature({
  name: "documents",
  prefixes: ["document."],
  loadOnEvent: false, // what it hears matters only to an open panel
  load: () => import("./documents-panel.js"),
  styles: ["css/room-documents.css"],
  part: "documents",
});
registerFeature({
  name: "remote",
  prefixes: ["remote."],
  section: "remote",
  wanted: (section) => Boolean(section && (section.session || section.helper_paired)),
  load: () => import("./remote.js"),
  styles: ["css/room-remote.css"],
  part: "remote",
});
registerFeature({
  name: "recording",
  prefixes: ["recording.", "recorder."],
  section: "recording",
  wanted: (recording, snapshot) => Boolean(recording || snapshot.recorder),
  signals: true, // its connection to the recorder
  load: () => import("./recording.js"),
  styles: ["css/room-recording.css"],
  part: "recording",
});
registerFeature({ name: "settings", load: () => import("./settings.js"), styles: ["css/room-panels.css"], part: "settings" });
registerFeature({ name: "stats", load: () => import("./stats.js"), styles: ["css/room-panels.css"], part: "stats" });

// What a feature's setup(room) gets.
startFeatures({
  config,
  selfId,
  root,
  partsUrl: root.dataset.partsUrl,
  remoteButton,
  request,
  signal: (body) => request("signal", body),
  get self() {
    return state.self;
  },
  get meeting() {
    return state.meeting;
  },
  get version() {
    return state.version;
  },
  get others() {
    return [...state.participants.values()];
  },
  get connected() {
    return signaling.isOpen;
  },
  get live() {
    return state.live;
  },
  get people() {
    return everyone();
  },
  // The side panel open: "chat", "participants" or null.
  get openPanel() {
    return openPanel;
  },
  // The room's media: {mode: "mesh"} or the media server's {mode: "sfu", state, …}.
  get topology() {
    return state.topology;
  },
  knows: (id) => id === selfId || state.participants.has(id),
  localTracks: () => media.tracks(),
  peers: connectionsByPeer,
  mayShare,
  shareScreen,
  stopShare,
  get shareKind() {
    return state.shareKind;
  },
  get sharingScreen() {
    return Boolean(media.screenTrack);
  },
  applySettings: onSettingsChange,
  need,
});

// A control of a feature: the feature comes first if it is not there yet.
function use(name, hook) {
  need(name).then((feature) => feature?.[hook]?.());
}

const handleSignal = (body) => claimSignal(body, meshSignal) || meshSignal(body);
const meshSignal = (body) => mesh.handleSignal(body);

// --- Server events -------------------------------------------------------------------

const handlers = {
  "room.snapshot": onSnapshot,
  "participant.joined": (p) => upsertParticipant(p, { rejoined: true }),
  "participant.updated": (p) => upsertParticipant(p),
  "participants.online": ({ ids }) => ids.forEach(markOnline),
  "participant.left": ({ participant_id: id, reason }) => removeParticipant(id, reason),
  "participant.moved": ({ participant_id: id }) => removeParticipant(id, "moved"),
  signal: handleSignal,
  reaction: ({ participant_id: id, emoji }) => tiles.showReaction(id, emoji),
  "share.started": onShareStarted,
  "share.stopped": onShareStopped,
  // The room page of someone who is (back) in the lobby: the server renders the lobby page.
  "lobby.status": () => location.reload(),
  "you.kicked": onKicked,
  "session.replaced": () => (state.replaced = true),
  "meeting.settings": (body) => {
    Object.assign(state.meeting, body);
    if (body.title) $("room-title").textContent = body.title;
    applySelf();
    updateStage();
  },
  "meeting.ended": ({ by }) => finish("ended", by),
  "media.topology": (topology) => applyTopology(topology),
};

// Signals that arrive before the first snapshot wait for it (and its ICE servers).
let earlySignals = [];

function onEvent(type, body) {
  if (state.finished) return;
  if (type === "signal" && earlySignals) {
    earlySignals.push(body);
    return;
  }
  const handler = handlers[type];
  if (handler) handler(body);
  else routeEvent(type, body); // a feature's (loaded first if need be)
  if (type === "room.snapshot" && earlySignals) {
    const waiting = earlySignals;
    earlySignals = null;
    for (const signal of waiting) handleSignal(signal);
  }
}

function onSnapshot(body) {
  state.self = body.self;
  state.meeting = body.meeting || {};
  state.version = body.version || "";
  mesh.setIceServers(body.ice_servers);
  state.iceServers = body.ice_servers || [];
  applyTopology(body.media);
  const present = new Map((body.participants || []).filter((p) => p.id !== selfId).map((p) => [p.id, p]));
  // Whoever left while we were away: close their connection and tile.
  for (const id of state.participants.keys()) if (!present.has(id)) dropPeer(id);
  for (const id of mesh.ids()) if (!present.has(id)) mesh.close(id);
  state.participants = present;
  for (const participant of present.values()) showParticipant(participant);
  state.share = body.share || null;
  if (state.share) state.screenStreamIds.add(state.share.stream_id);
  reconcileOwnShare();
  deliverSnapshot(body); // each feature's section
  state.lastMediaState = "";
  applySelf();
  renderPeople();
  updateStage();
  setLive(true);
  $("room-title").textContent = state.meeting.title || $("room-title").textContent;
  startClock(state.meeting.started_at);
}

// A participant object arrived (joined or updated): remember it, render it, and
// connect to it when it is online.
function upsertParticipant(participant, { rejoined = false } = {}) {
  if (!participant || participant.state === "lobby") return;
  if (participant.id === selfId) {
    if (!state.self) return; // before the snapshot: it will bring the whole picture
    state.self = { ...state.self, ...participant };
    applySelf();
    renderPeople();
    updateStage();
    return;
  }
  const before = state.participants.get(participant.id);
  const merged = { ...before, ...participant };
  state.participants.set(participant.id, merged);
  // Someone who comes back (a new page, or after a network loss) may have a new
  // connection on their side: start ours afresh unless it is still healthy.
  const back = before && before.connection === "reconnecting" && merged.connection === "online";
  if ((rejoined && before) || (back && mesh.state(participant.id) !== "connected")) mesh.close(participant.id);
  showParticipant(merged);
  renderPeople();
}

// Someone's socket is online (arrivals come together): only people already known; the
// others' `participant.joined` brings them whole.
function markOnline(id) {
  const known = state.participants.get(id);
  if (known && known.connection !== "online") upsertParticipant({ id, connection: "online" });
}

function showParticipant(participant) {
  tiles.render(participant);
  if (participant.connection === "online" && !mesh.has(participant.id) && state.topology.mode === "mesh") mesh.ensure(participant.id);
  tiles.setConnection(participant.id, participant.connection, mesh.state(participant.id));
  refreshRemote(participant.id);
}

function removeParticipant(id, reason) {
  if (id === selfId) {
    finish(["kicked", "moved"].includes(reason) ? reason : "gone");
    return;
  }
  dropPeer(id);
  if (speakerId === id) speakerId = null;
  notify("participantLeft", id);
  state.participants.delete(id);
  if (state.share && state.share.participant_id === id) {
    state.share = null;
    updateStage();
  }
  renderPeople();
}

function dropPeer(id) {
  mesh.close(id);
  if (sfu) sfu.forget(id);
  detector.unwatch(id);
  tiles.remove(id);
}

// The camera stream of a peer: its most recent stream that is not an announced screen.
function cameraStreamOf(peer) {
  if (!peer) return null;
  const streams = [...peer.streams.values()].filter((s) => !state.screenStreamIds.has(s.id) && s.getTracks().length);
  return streams.length ? streams[streams.length - 1] : null;
}

function refreshRemote(id) {
  if (id === selfId || !state.participants.has(id)) return;
  const stream = sfuPlaying(id) ? sfu.cameraStream(id) : cameraStreamOf(mesh.get(id));
  tiles.setVideo(id, stream);
  tiles.setAudio(id, stream);
  // On the media server, Janus's talk events say who speaks (no analyser per person).
  if (stream && !sfu) detector.watch(id, stream);
  else detector.unwatch(id);
  if (state.share && state.share.participant_id === id) updateStage();
}

function renderPeople() {
  if (!state.self) return;
  layoutTiles();
  roomChanged(); // who may take control changed
  $("participants-count-badge").textContent = String(state.participants.size + 1);
  call("participants", "render");
}

// Everyone in the room, this person first (with the media it sends), once the snapshot came.
function everyone() {
  return state.self ? [{ ...state.self, ...media.state }, ...state.participants.values()] : [];
}

// --- The media server (group rooms, docs/sfu.md) ---------------------------------------
//
// A room of three people or more goes through Janus: the room socket says so
// (`media.topology`), this page loads sfu.js, publishes once and subscribes to the
// others there. Mesh connections stay until the media server's stream of that person
// plays, so that nobody's picture stops during the switch; then they close.

let sfu = null; // the SfuConnection, once the room is on the media server
let sfuLoading = null;

function applyTopology(topology) {
  const next = topology && topology.mode === "sfu" ? topology : { mode: "mesh" };
  const was = state.topology;
  state.topology = next;
  root.dataset.topology = next.mode;
  notify("topologyChanged", next);
  if (next.mode === "mesh") {
    media.setMinimumHeight(0);
    if (sfu) leaveSfu();
    // Back to a mesh (the room emptied and filled again): connect to everyone.
    if (was.mode === "sfu") for (const participant of state.participants.values()) showParticipant(participant);
    return;
  }
  if (next.state === "ready") ensureSfu().then((connection) => connection && connection.apply(next));
}

async function ensureSfu() {
  if (sfu) return sfu;
  sfuLoading ||= import("./sfu.js").then(async ({ SfuConnection, SIMULCAST_HEIGHT }) => {
    if (state.finished || state.topology.mode !== "sfu") return null;
    // Three simulcast layers need a taller camera picture than a mesh does.
    await media.setMinimumHeight(SIMULCAST_HEIGHT);
    sfu = new SfuConnection({
      selfId,
      name: state.self ? state.self.name : config.name,
      request,
      localTracks: () => media.tracks(),
      iceServers: state.iceServers || [],
      onStreams: onSfuStreams,
      onTalking: onSfuTalking,
      onState: (sfuState) => {
        root.dataset.sfu = sfuState;
        if (sfuState === "connected") layoutTiles();
      },
    });
    return sfu;
  });
  const connection = await sfuLoading;
  sfuLoading = null;
  return connection;
}

function leaveSfu() {
  sfu.stop();
  sfu = null;
  for (const id of state.participants.keys()) refreshRemote(id);
}

// A remote camera from the media server plays once one of its tracks carries media.
function sfuPlaying(id) {
  const stream = sfu ? sfu.cameraStream(id) : null;
  return Boolean(stream) && stream.getTracks().some((track) => track.readyState === "live" && !track.muted);
}

function onSfuStreams(id) {
  const stream = sfu ? sfu.cameraStream(id) : null;
  for (const track of stream ? stream.getTracks() : []) track.onunmute = () => onSfuStreams(id);
  refreshRemote(id);
  if (sfuPlaying(id)) {
    if (mesh.has(id)) mesh.close(id); // the media server took over
    tiles.setConnection(id, null, "connected");
  }
  if (state.share && state.share.participant_id === id) updateStage();
}

// Janus's talk events: the speaker gets the big tile (and the high layer).
let speakerId = null;

function onSfuTalking(id, talking) {
  tiles.setSpeaking(id, talking);
  if (talking) speakerId = id;
  else if (speakerId === id) speakerId = null;
  layoutTiles();
}

function remoteScreen(share) {
  if (sfu && sfu.screenStream(share.participant_id)) return sfu.screenStream(share.participant_id);
  return mesh.get(share.participant_id)?.streams.get(share.stream_id) || null;
}

// The layer each remote camera is received in follows the size of its tile.
const CROWDED = 6;

function layoutTiles() {
  tiles.setSpeaker(state.topology.mode === "sfu" ? speakerId : null);
  tiles.layout();
  if (!sfu) return;
  const sharing = Boolean(state.share);
  const crowded = state.participants.size + 1 > CROWDED;
  for (const id of state.participants.keys()) {
    const size = id === speakerId && !sharing ? "large" : crowded || sharing ? "small" : "medium";
    sfu.setTileSize(id, size);
  }
}

// --- Own participant: role, rights, controls ---------------------------------------

const SHARE_ROLES = { organizers: ["organizer"], presenters: ["organizer", "presenter"], everyone: ["organizer", "presenter", "participant"] };

function mayShare() {
  const roles = SHARE_ROLES[state.meeting.share_policy] || SHARE_ROLES.presenters;
  return Boolean(state.self) && roles.includes(state.self.role);
}

function applySelf() {
  const self = state.self;
  if (!self) return;
  root.dataset.participantRole = self.role;
  root.dataset.creator = self.is_creator ? "true" : "false";
  const micBlocked = self.mic_allowed === false;
  const cameraBlocked = self.camera_allowed === false;
  if (micBlocked && media.micAllowed) notice(gettext("An organizer turned off your microphone."), { kind: "info" });
  if (cameraBlocked && media.cameraAllowed) notice(gettext("An organizer turned off your camera."), { kind: "info" });
  const changed = media.micAllowed !== !micBlocked || media.cameraAllowed !== !cameraBlocked;
  media.setAllowed("mic", !micBlocked);
  media.setAllowed("camera", !cameraBlocked);
  if (changed) onLocalMediaChange();
  // Lost the right to share (role or policy changed): stop our share.
  if (media.screenTrack && state.shareKind === "screen" && !mayShare()) stopShare();
  // Controls for some roles only (Record and End for organizers, Polls for managers).
  for (const node of document.querySelectorAll("[data-roles]")) node.hidden = !node.dataset.roles.split(" ").includes(self.role);
  notify("setSelf", self);
  tiles.render(self, media.state);
  updateControls();
  sendMediaState();
}

function setToggle(button, { on, label, blocked = false, blockedLabel = "" }) {
  button.setAttribute("aria-pressed", on ? "true" : "false");
  button.dataset.state = blocked ? "blocked" : on ? "on" : "off";
  const text = blocked ? blockedLabel : label;
  button.setAttribute("aria-label", text);
  button.title = text;
  if (blocked) button.setAttribute("aria-disabled", "true");
  else button.removeAttribute("aria-disabled");
}

function updateControls() {
  const { mic, camera } = media.state;
  const byOrganizer = gettext("Turned off by an organizer");
  setToggle($("mic-button"), {
    on: mic,
    label: mic ? gettext("Turn microphone off") : gettext("Turn microphone on"),
    blocked: !media.micAllowed,
    blockedLabel: byOrganizer,
  });
  setToggle($("camera-button"), {
    on: camera,
    label: camera ? gettext("Turn camera off") : gettext("Turn camera on"),
    blocked: !media.cameraAllowed,
    blockedLabel: byOrganizer,
  });
  const share = $("share-button");
  const allowed = mayShare();
  share.dataset.allowed = allowed ? "true" : "false";
  share.hidden = !allowed;
  share.disabled = !allowed;
  // Documents (a PDF or a whiteboard) follow the same rule as the screen.
  $("documents-button").hidden = !allowed;
  $("documents-button").disabled = !allowed;
  notify("controlsChanged");
  setToggle(share, { on: Boolean(media.screenTrack), label: media.screenTrack ? gettext("Stop sharing") : gettext("Share screen") });
}

// Tells the room what we send; only when it changed (or after a new snapshot).
function sendMediaState() {
  if (!state.self || !signaling.isOpen) return;
  const current = media.state;
  const key = JSON.stringify(current);
  if (key === state.lastMediaState) return;
  state.lastMediaState = key;
  request("media.state", current).catch((error) => {
    state.lastMediaState = "";
    if (error.code === "forbidden") notice(gettext("Turned off by an organizer"), { kind: "info" });
  });
}

let ownVideoTrack = null;

function onLocalMediaChange() {
  mesh.syncTracks();
  if (sfu) sfu.publish().catch(() => {});
  notify("mediaChanged");
  if (media.videoTrack !== ownVideoTrack) {
    ownVideoTrack = media.videoTrack;
    tiles.setVideo(selfId, ownVideoTrack ? new MediaStream([ownVideoTrack]) : null);
  }
  detector.watch(selfId, media.cameraStream);
  if (state.self) {
    tiles.render(state.self, media.state);
    renderPeople();
  }
  updateControls();
  sendMediaState();
}

async function toggleMic() {
  if (!media.micAllowed) return notice(gettext("Turned off by an organizer"), { kind: "info" });
  try {
    await media.setMic(!media.state.mic);
  } catch (error) {
    notice(mediaProblem(error), { kind: "error" });
  }
}

async function toggleCamera() {
  if (!media.cameraAllowed) return notice(gettext("Turned off by an organizer"), { kind: "info" });
  $("camera-button").setAttribute("aria-busy", "true");
  try {
    await media.setCamera(!media.state.camera);
  } catch (error) {
    notice(mediaProblem(error), { kind: "error" });
  } finally {
    $("camera-button").removeAttribute("aria-busy");
  }
}

// --- Screen sharing ------------------------------------------------------------------

function busyNotice(error) {
  const sharer = state.share && state.share.participant_id !== selfId ? state.share.name : null;
  notice(sharer ? fmt(gettext("%s is already sharing."), [sharer]) : error?.message || gettext("Someone else is already sharing."));
}

async function toggleShare() {
  if (media.screenTrack) return stopShare();
  if (!mayShare()) return;
  if (state.share && state.share.participant_id !== selfId) return busyNotice();
  if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) {
    return notice(gettext("This browser cannot share its screen."), { kind: "error" });
  }
  try {
    await shareScreen("screen");
  } catch (error) {
    // NotAllowedError: the person closed the picker; nothing to say.
    if (error.code === "share_busy") busyNotice(error);
    else if (error.code) notice(describeError(error), { kind: "error" });
    else if (error.name !== "NotAllowedError") notice(gettext("The screen could not be shared."), { kind: "error" });
  }
}

// Picks a screen and announces it as a share of `kind` ("remote": for remote control).
// `accept(track)` may refuse the surface picked: resolves false then, true once shared.
async function shareScreen(kind, { video = {}, accept = () => true } = {}) {
  const streamId = await media.startScreen(video);
  if (!accept(media.screenTrack)) {
    media.stopScreen();
    return false;
  }
  try {
    await request("share.start", { kind, stream_id: streamId });
  } catch (error) {
    media.stopScreen();
    throw error;
  }
  state.shareKind = kind;
  media.screenAnnounced = true;
  state.screenStreamIds.add(streamId);
  if (!state.share) state.share = { participant_id: selfId, kind, stream_id: streamId, name: state.self.name };
  mesh.syncTracks();
  if (sfu) sfu.publishScreen(media.screenTrack, media.screenStream).catch((error) => console.warn("Screen to the media server:", error.message));
  notify("mediaChanged");
  updateStage();
  updateControls();
  return true;
}

// Our share ends (Stop button, the browser's own "Stop sharing", lost right).
function stopShare({ tellServer = true } = {}) {
  if (!media.screenTrack) return;
  media.stopScreen();
  if (sfu) sfu.unpublishScreen();
  state.shareKind = "screen";
  if (state.share && state.share.participant_id === selfId) state.share = null;
  if (tellServer) request("share.stop", {}).catch(() => {});
  updateStage();
  updateControls();
}

function onShareStarted(share) {
  state.share = share;
  state.screenStreamIds.add(share.stream_id);
  // A camera stream we took for one may in fact be this screen: re-render the sharer.
  refreshRemote(share.participant_id);
  updateStage();
}

function onShareStopped({ participant_id: id, kind }) {
  if (id === selfId && media.screenTrack) {
    stopShare({ tellServer: false });
    // The end of remote control stops its share too: remote.js says why.
    if (kind !== "remote") notice(gettext("Your screen share was stopped by an organizer."), { kind: "info" });
  }
  if (!state.share || state.share.participant_id === id) state.share = null;
  updateStage();
}

// After a reconnection the server's view of the share and ours must agree.
function reconcileOwnShare() {
  const serverSaysMine = state.share && state.share.participant_id === selfId;
  if (media.screenTrack && !serverSaysMine) {
    if (state.share) stopShare({ tellServer: false });
    else
      request("share.start", { kind: state.shareKind, stream_id: media.screenStream.id }).then(
        () => {
          state.share = { participant_id: selfId, kind: state.shareKind, stream_id: media.screenStream.id, name: state.self.name };
          updateStage();
        },
        () => stopShare({ tellServer: false }),
      );
  } else if (!media.screenTrack && serverSaysMine && !PRESENTATION_KINDS.includes(state.share.kind)) {
    // (A presentation of ours survives our reconnection: it has no screen track.)
    request("share.stop", {}).catch(() => {});
    state.share = null;
  }
}

function updateStage() {
  const stage = $("stage");
  const video = $("stage-video");
  const share = state.share;
  const main = $("room-main");
  if (!share) {
    stage.hidden = true;
    delete stage.dataset.sharerId;
    delete stage.dataset.kind;
    notify("stageChanged", false);
    video.srcObject = null;
    main.dataset.sharing = "false";
    layoutTiles();
    roomChanged();
    return;
  }
  const mine = share.participant_id === selfId;
  // A PDF or a whiteboard has no video stream: the presentation viewer takes the stage,
  // once it is there.
  const presenting = PRESENTATION_KINDS.includes(share.kind);
  if (presenting && !isLoaded("presentation")) {
    need("presentation").then((viewer) => viewer && updateStage());
    return;
  }
  const stream = presenting ? null : mine ? media.screenStream : remoteScreen(share);
  stage.hidden = false;
  stage.dataset.sharerId = String(share.participant_id);
  stage.dataset.self = mine ? "true" : "false";
  stage.dataset.kind = presenting ? "presentation" : "screen";
  stage.dataset.waiting = presenting || (stream && stream.getVideoTracks().length) ? "false" : "true";
  main.dataset.sharing = "true";
  notify("stageChanged", presenting);
  if (presenting) $("stage-label").textContent = mine ? gettext("You are presenting") : fmt(gettext("%s is presenting"), [share.name]);
  else $("stage-label").textContent = mine ? gettext("You are sharing your screen") : fmt(gettext("%s is sharing their screen"), [share.name]);
  // Organizers stop anyone's share, except the creator's unless they are the creator.
  const sharer = state.participants.get(share.participant_id);
  const organizer = state.self && state.self.role === "organizer" && (!sharer || !sharer.is_creator || state.self.is_creator);
  $("stage-stop").hidden = !(mine || organizer);
  if (video.srcObject !== stream) {
    video.srcObject = stream;
    if (stream) video.play().catch(() => {});
  }
  layoutTiles();
  roomChanged();
}

// Who is here, the share or the connection changed: the features that follow it, and
// the Remote button itself until remote.js (which renders it then) is there.
function roomChanged() {
  if (!isWanted("remote")) remoteButton.render();
  notify("roomChanged");
}

// --- Connection state and the end of the page ----------------------------------------

function onSocketState(socketState, code) {
  root.dataset.socket = socketState;
  $("connection-banner").hidden = socketState !== "reconnecting";
  if (socketState !== "connected") setLive(false);
  roomChanged();
  if (socketState === "closed") onFinalClose(code);
}

function setLive(live) {
  if (state.live === live) return;
  state.live = live;
  notify("liveChanged", live);
}

function onFinalClose(code) {
  if (state.finished) return;
  if (code === 4409 || state.replaced) finish("replaced");
  else if (code === 4410) finish("ended", state.endedBy);
  else if (code === 4403 && state.kicked) finish("kicked");
  else finish(code === 4404 ? "not_found" : "gone");
}

function onKicked({ by, banned }) {
  state.kicked = { by, banned: Boolean(banned) };
  finish("kicked");
}

// Leaves the call for good: connections closed, devices released. The socket stays open when
// the person leaves with the Leave button: the page goes away once the server has
// recorded the leave, so the room hears "left", not a lost connection first.
function teardown({ keepSocket = false } = {}) {
  if (state.finished) return;
  state.finished = true;
  if (!keepSocket) signaling.stop();
  mesh.closeAll();
  if (sfu) sfu.stop();
  closeFeatures();
  media.stopAll();
  detector.stop();
  clearInterval(clockTimer);
  for (const id of [...state.participants.keys()]) tiles.remove(id);
  tiles.remove(selfId);
  for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
}

function finish(reason, by) {
  if (state.finished) return;
  teardown();
  root.dataset.finished = reason;
  if (reason === "kicked") {
    const kicked = state.kicked || {};
    const box = $("kicked-notice");
    $("kicked-text").textContent = kicked.by
      ? fmt(gettext("You were removed from the meeting by %s."), [kicked.by])
      : gettext("You were removed from the meeting.");
    $("kicked-banned").hidden = !kicked.banned;
    $("kicked-rejoin").hidden = Boolean(kicked.banned);
    box.dataset.banned = kicked.banned ? "true" : "false";
    box.hidden = false;
    $("kicked-title").focus();
    return;
  }
  const texts = {
    ended: by ? fmt(gettext("%s ended the meeting for everyone."), [by]) : gettext("The meeting has ended."),
    replaced: gettext("You opened this meeting in another tab or window. This one is no longer connected."),
    gone: gettext("You are no longer in this meeting."),
    moved: gettext("You joined another meeting, so you left this one."),
    not_found: gettext("This meeting does not exist."),
  };
  const box = $("room-closed");
  box.dataset.reason = reason;
  $("room-closed-text").textContent = texts[reason] || texts.gone;
  $("room-closed-rejoin").hidden = ["ended", "not_found", "replaced"].includes(reason);
  $("room-closed-here").hidden = reason !== "replaced";
  box.hidden = false;
  $("room-closed-title").focus();
}

// --- Panels, menus and buttons -------------------------------------------------------

let openPanel = null;
const SIDE_PANELS = ["chat", "participants"];

// Opens the side panel `name` (each one a feature, loaded on first use), or closes it
// when it is the one open.
async function showPanel(name) {
  if (openPanel !== name && !(await need(name))) return;
  openPanel = openPanel === name ? null : name;
  $("side-panel").hidden = !openPanel;
  for (const panel of SIDE_PANELS) {
    const section = $(`${panel}-panel`);
    if (section) section.hidden = openPanel !== panel;
    $(`${panel}-button`).setAttribute("aria-expanded", openPanel === panel ? "true" : "false");
  }
  root.dataset.panel = openPanel || "";
  if (openPanel === "chat") {
    call("chat", "opened");
    if (!$("chat-input").disabled) $("chat-input").focus();
  } else if (openPanel === "participants") {
    $("participants-title").focus();
  }
  tiles.layout();
}

function closePanel() {
  const was = openPanel;
  if (was) showPanel(was);
  if (was) $(`${was}-button`).focus();
}

function toggleReactions(open) {
  const menu = $("reactions-menu");
  const show = open ?? menu.hidden;
  menu.hidden = !show;
  $("reactions-button").setAttribute("aria-expanded", show ? "true" : "false");
  if (show) menu.querySelector(".reaction-choice").focus();
}

async function sendReaction(emoji) {
  toggleReactions(false);
  $("reactions-button").focus();
  try {
    await request("reaction.send", { emoji });
  } catch (error) {
    notice(error.code === "rate_limited" ? gettext("Too many reactions. Wait a moment.") : describeError(error));
  }
}

// The Statistics panel's connections: participant id → {name, pc}; on the media
// server, its two (or three) connections instead of one per person.
function connectionsByPeer() {
  const peers = new Map();
  if (sfu) {
    for (const { label, pc, streams } of sfu.connections()) {
      const names = {
        publisher: gettext("Media server — sending"),
        screen: gettext("Media server — sending the screen"),
        subscriber: fmt(gettext("Media server — receiving (%s streams)"), [streams]),
      };
      peers.set(`sfu-${label}`, { name: names[label], pc });
    }
  }
  for (const id of mesh.ids()) {
    const participant = state.participants.get(id);
    peers.set(id, { name: participant ? participant.name : String(id), pc: mesh.get(id).pc });
  }
  return peers;
}

async function onSettingsChange(next) {
  settings = next;
  detector.setThreshold(speakingThreshold(settings));
  tiles.applySettings(settings);
  const errors = await media.applySettings(settings);
  if (errors.length) notice(mediaProblem(errors[0]), { kind: "error" });
  for (const id of mesh.ids()) applySenderSettings(mesh.get(id).pc, settings, { fitTrack: !media.minimumHeight }).catch(() => {});
}

function bindControls() {
  $("mic-button").addEventListener("click", toggleMic);
  $("camera-button").addEventListener("click", toggleCamera);
  $("share-button").addEventListener("click", toggleShare);
  $("stage-stop").addEventListener("click", () => {
    // A PDF or whiteboard of ours has no screen track: the server ends it.
    if (state.share && state.share.participant_id === selfId && media.screenTrack) stopShare();
    else request("share.stop", {}).catch((error) => notice(describeError(error), { kind: "error" }));
  });
  $("stage-snapshot").addEventListener("click", () => snapshot($("stage-video"), state.share?.name || "screen"));
  $("reactions-button").addEventListener("click", () => toggleReactions());
  $("reactions-menu").addEventListener("click", (event) => {
    const choice = event.target.closest(".reaction-choice");
    if (choice) sendReaction(choice.dataset.emoji);
  });
  $("reactions-menu").addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      toggleReactions(false);
      $("reactions-button").focus();
    }
  });
  document.addEventListener("click", (event) => {
    if (!$("reactions-menu").hidden && !event.target.closest("#reactions-menu, #reactions-button")) toggleReactions(false);
  });
  $("chat-button").addEventListener("click", () => showPanel("chat"));
  $("participants-button").addEventListener("click", () => showPanel("participants"));
  // (The panels' own close buttons come with their markup.)
  $("side-panel").addEventListener("click", (event) => {
    if (event.target.closest(".side-panel__close")) closePanel();
  });
  $("side-panel").addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !event.target.closest("select")) closePanel();
  });
  // The features' controls: each loads its feature the first time.
  $("settings-button").addEventListener("click", () => use("settings", "open"));
  $("stats-button").addEventListener("click", () => use("stats", "open"));
  $("info-button").addEventListener("click", () => use("stats", "info"));
  $("polls-button").addEventListener("click", () => use("polls", "open"));
  $("documents-button").addEventListener("click", () => use("documents", "open"));
  $("record-button").addEventListener("click", () => use("recording", "press"));
  $("remote-button").addEventListener("click", () => {
    // Nobody to take control (and no session under way): the button says why, at once.
    if (!isWanted("remote") && remoteButton.blockedReason()) remoteButton.explain();
    else use("remote", "press");
  });
  $("sound-button").addEventListener("click", () => {
    resumeAudio();
    tiles.playAll();
    $("sound-button").hidden = true;
  });
  $("room-notice").querySelector(".room-notice__close").addEventListener("click", hideNotice);
  $("room-closed-here").addEventListener("click", () => location.reload());
  $("leave-form").addEventListener("submit", () => teardown({ keepSocket: true }));
  $("end-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!(await confirmAction(gettext("End the meeting for everyone?"), gettext("End meeting")))) return;
    // Over the socket when we can; the form posts to the server when we cannot.
    if (!signaling.isOpen) {
      event.target.submit();
      return;
    }
    try {
      await request("meeting.end", {});
    } catch (error) {
      notice(describeError(error), { kind: "error" });
    }
  });
  // Browsers keep audio suspended until the person interacts with the page.
  for (const type of ["pointerdown", "keydown"]) document.addEventListener(type, resumeAudio, { once: true, capture: true });
  window.addEventListener("pagehide", () => {
    if (!state.finished) teardown();
  });
}

// --- Meeting clock ---------------------------------------------------------------------

let clockTimer = 0;

function startClock(startedAt) {
  clearInterval(clockTimer);
  const start = Date.parse(startedAt);
  const clock = $("room-clock");
  if (Number.isNaN(start)) {
    clock.hidden = true;
    return;
  }
  const tick = () => {
    const seconds = Math.max(0, Math.floor((Date.now() - start) / 1000));
    const two = (n) => String(n).padStart(2, "0");
    const hours = Math.floor(seconds / 3600);
    clock.textContent = `${hours ? `${hours}:` : ""}${two(Math.floor(seconds / 60) % 60)}:${two(seconds % 60)}`;
    clock.dateTime = `PT${seconds}S`;
  };
  clock.hidden = false;
  tick();
  clockTimer = setInterval(tick, 1000);
}

// --- Hooks for browser tests -----------------------------------------------------------

async function inboundStats(id) {
  const out = { audio: null, video: null };
  if (sfu && sfu.has(id)) return sfuInboundStats(id, out);
  const peer = mesh.get(id);
  if (!peer) return out;
  const report = await peer.pc.getStats();
  report.forEach((entry) => {
    if (entry.type !== "inbound-rtp" || !entry.kind) return;
    const current = out[entry.kind];
    // The camera's video, not the screen's: the one with most frames wins is wrong while
    // sharing, so keep every stream and let callers pick; the first is the camera.
    const figures = {
      packetsReceived: entry.packetsReceived || 0,
      bytesReceived: entry.bytesReceived || 0,
      audioLevel: entry.audioLevel || 0,
      totalSamplesReceived: entry.totalSamplesReceived || 0,
      framesDecoded: entry.framesDecoded || 0,
      frameWidth: entry.frameWidth || 0,
      frameHeight: entry.frameHeight || 0,
      trackIdentifier: entry.trackIdentifier || "",
    };
    if (!current) out[entry.kind] = figures;
    else (out[`${entry.kind}s`] ||= [current]).push(figures);
  });
  return out;
}

// The inbound audio report of one person (mesh or media server), for the tests.
async function inboundAudio(id) {
  let report = null;
  if (sfu && sfu.has(id)) {
    const track = sfu.cameraStream(id)?.getAudioTracks()[0];
    if (track && sfu.subscriber) report = await sfu.subscriber.pc.getStats(track).catch(() => null);
  } else if (mesh.get(id)) {
    report = await mesh.get(id).pc.getStats();
  }
  let audio = null;
  report?.forEach((entry) => {
    if (entry.type === "inbound-rtp" && entry.kind === "audio") audio = entry;
  });
  return audio && { totalSamplesReceived: audio.totalSamplesReceived || 0, audioLevel: audio.audioLevel || 0, totalAudioEnergy: audio.totalAudioEnergy || 0 };
}

// What the media server brings of one person: the camera's tracks' own reports.
async function sfuInboundStats(id, out) {
  const stream = sfu.cameraStream(id);
  const pc = sfu.subscriber?.pc;
  if (!stream || !pc) return out;
  for (const track of stream.getTracks()) {
    const report = await pc.getStats(track).catch(() => null);
    report?.forEach((entry) => {
      if (entry.type !== "inbound-rtp") return;
      out[entry.kind] = {
        packetsReceived: entry.packetsReceived || 0,
        bytesReceived: entry.bytesReceived || 0,
        audioLevel: entry.audioLevel || 0,
        totalSamplesReceived: entry.totalSamplesReceived || 0,
        framesDecoded: entry.framesDecoded || 0,
        frameWidth: entry.frameWidth || 0,
        frameHeight: entry.frameHeight || 0,
        trackIdentifier: entry.trackIdentifier || "",
      };
    });
  }
  return out;
}

window.parleyRoom = {
  dropSocket: () => signaling.dropSocket(),
  // Any message, as a modified page could send it (the server decides).
  request: (type, body = {}) => request(type, body),
  get socketState() {
    return signaling.state;
  },
  get self() {
    return state.self && { ...state.self };
  },
  // The others in the room: a Map id → participant object (a copy).
  get participants() {
    return new Map(state.participants);
  },
  get peerStates() {
    return mesh.states();
  },
  // The room's media ({mode: "mesh"} or {mode: "sfu", state, server, room, generation})
  // and this page's connection to the media server (idle, connecting, connected, reconnecting).
  get topology() {
    return { ...state.topology };
  },
  // One of the media server's connections (publisher, screen, subscriber), or null.
  sfuConnection: (label) => (sfu ? sfu.connections().find((c) => c.label === label)?.pc || null : null),
  get sfu() {
    if (!sfu) return { state: "idle", publishing: false, receiving: [] };
    return { state: sfu.state, publishing: Boolean(sfu.publisher?.pc), receiving: [...sfu.remote.keys()], connections: sfu.connections().map((c) => c.label) };
  },
  get trace() {
    return [...mesh.trace];
  },
  peerConnection: (id) => mesh.get(id)?.pc || featureHooks("recording")?.peerConnection(id) || null,
  inboundStats,
  inboundAudio,
  get share() {
    return state.share && { ...state.share };
  },
  get lobby() {
    return featureState("lobby", []);
  },
  get poll() {
    return featureState("polls");
  },
  get media() {
    return { ...media.state, sharing: Boolean(media.screenTrack) };
  },
  get remote() {
    const idle = { session: null, helperPaired: false, view: "", controlling: false, code: null, buttonBlocked: remoteButton.blockedReason() };
    return featureState("remote", idle);
  },
  // The presentation shown (with the number of annotations per page), or null.
  get presentation() {
    return featureState("presentation");
  },
  // {active, recording, recorderId, connection} (the connection to the recorder).
  get recording() {
    return featureState("recording", { active: false, recording: null, recorderId: null, connection: "none" });
  },
  // Each feature's module: idle (not loaded), loading or ready.
  get features() {
    return featureStatuses();
  },
  // Loads a feature as its first use would (benchmarks/page_weight.py): true once it is there.
  loadFeature: (name) => need(name).then(Boolean),
};

// --- Start -------------------------------------------------------------------------------

async function start() {
  bindControls();
  updateControls();
  // The socket and the devices started together (early.js): whichever comes second
  // catches up (a late camera is added to the connections with addTrack). What the
  // socket said until now comes first.
  attach({ onEvent, onState: onSocketState, onMediaChange: onLocalMediaChange });
  if (devicesChoice === "off") {
    showToast(gettext("You joined without camera and microphone. Turn them on with the buttons below."));
  } else if (!media.hasMediaDevices) {
    notice(gettext("This browser cannot use a camera here (it needs a secure HTTPS connection)."), { kind: "error", timeoutMs: 0 });
  }
  const problem = await mediaStarted;
  if (problem) notice(mediaProblem(problem), { kind: "error", timeoutMs: 10000 });
  onLocalMediaChange();
}

// The own tile exists from the start, named from the page.
tiles.render({ id: selfId, name: config.name, role: config.role, is_creator: config.isCreator, mic: false, camera: false });
start();
