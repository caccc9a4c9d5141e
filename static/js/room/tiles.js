// The video tiles: one per participant (own tile first, muted and mirrored), with
// name, role badge, mic/camera state, speaking and connection state, reactions and
// a Snapshot button; remote sound plays through <audio> elements.
import { fmt, showToast } from "../ui.js";
import { applySinkId } from "./preferences.js";
import { el, icon, roleLabel } from "./dom.js";

const REACTION_MS = 4000;
const ASPECT = 16 / 9;
const GAP = 8;

function stamp(date = new Date()) {
  const two = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}${two(date.getMonth() + 1)}${two(date.getDate())}-${two(date.getHours())}${two(date.getMinutes())}${two(date.getSeconds())}`;
}

export function snapshotName(name, date) {
  const safe = String(name || "").replace(/[\\/:*?\u0022<>|\u0000-\u001f]+/g, "_").replace(/\s+/g, " ").trim().slice(0, 60);
  return `${safe || "snapshot"}-${stamp(date)}.png`;
}

// Saves the current frame of `video` as a PNG download.
export function snapshot(video, name) {
  if (!video || !video.videoWidth || video.hidden) {
    showToast(gettext("There is no picture to save."));
    return false;
  }
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  canvas.toBlob((blob) => {
    if (!blob) return;
    const url = URL.createObjectURL(blob);
    const link = el("a");
    link.href = url;
    link.download = snapshotName(name);
    link.hidden = true;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 30000);
  }, "image/png");
  return true;
}

// A reaction's picture, as the reactions menu shows it (static/img/reactions/): no
// emoji font needed, which many computers lack (their emoji would be empty boxes).
function reactionPicture(emoji) {
  const choice = [...document.querySelectorAll(".reaction-choice")].find((button) => button.dataset.emoji === emoji);
  const picture = el("img", "tile__reaction-picture");
  picture.src = choice?.querySelector("img")?.src || "";
  picture.alt = choice?.getAttribute("aria-label") || "";
  return picture;
}

export class Tiles {
  constructor(container, audioHost, { selfId, onAudioBlocked }) {
    this.container = container;
    this.audioHost = audioHost;
    this.selfId = selfId;
    this.onAudioBlocked = onAudioBlocked;
    this.tiles = new Map();
    this.settings = null;
    this.speakerId = null;
    new ResizeObserver(() => this.layout()).observe(container);
  }

  tile(id) {
    return this.tiles.get(id);
  }

  build(id) {
    const isSelf = id === this.selfId;
    const root = el("article", "tile");
    root.dataset.participantId = String(id);
    root.dataset.speaking = "false";
    root.dataset.connection = "online";
    root.dataset.camera = "off";
    if (isSelf) root.dataset.self = "true";
    const video = el("video", "tile__video");
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true; // sound goes through the <audio> element (or nowhere, for ourselves)
    const avatar = el("div", "tile__avatar");
    avatar.setAttribute("aria-hidden", "true");
    const overlay = el("div", "tile__overlay", gettext("Reconnecting…"));
    overlay.hidden = true;
    const reaction = el("span", "tile__reaction");
    reaction.setAttribute("aria-live", "polite");
    const bar = el("div", "tile__bar");
    const name = el("span", "tile__name");
    const role = el("span", "tile__role");
    const states = el("span", "tile__states");
    const micOff = el("span", "tile__state tile__state--mic");
    micOff.append(icon("mic-off"));
    const camOff = el("span", "tile__state tile__state--camera");
    camOff.append(icon("camera-off"));
    states.append(micOff, camOff);
    bar.append(states, name, role);
    const snap = el("button", "tile__snapshot");
    snap.type = "button";
    snap.append(icon("snapshot"));
    snap.addEventListener("click", () => snapshot(video, name.dataset.name));
    root.append(video, avatar, overlay, reaction, bar, snap);
    const tile = { id, root, video, avatar, overlay, reaction, name, role, micOff, camOff, snap, audio: null, reactionTimer: 0, isSelf };
    this.tiles.set(id, tile);
    if (isSelf) this.container.prepend(root);
    else this.container.append(root);
    this.layout();
    return tile;
  }

  // Creates or updates the tile of a participant object (protocol's participant).
  render(participant, { camera, mic } = {}) {
    const tile = this.tiles.get(participant.id) || this.build(participant.id);
    const displayName = tile.isSelf ? `${participant.name} (${gettext("you")})` : participant.name;
    tile.name.textContent = displayName;
    tile.name.dataset.name = participant.name;
    tile.name.title = participant.name;
    tile.avatar.textContent = (participant.name || "?").trim().charAt(0).toUpperCase();
    tile.role.textContent = participant.is_creator ? gettext("Creator") : roleLabel(participant.role);
    tile.role.title = roleLabel(participant.role);
    tile.role.className = `tile__role badge ${participant.is_creator ? "badge--creator" : "badge--role"}`;
    tile.root.dataset.role = participant.role;
    if (participant.is_creator) {
      tile.root.dataset.creator = "true";
      tile.role.dataset.creator = "true";
    }
    const micOn = mic ?? participant.mic;
    const cameraOn = camera ?? participant.camera;
    tile.root.dataset.mic = micOn ? "on" : "off";
    tile.root.dataset.camera = cameraOn ? "on" : "off";
    tile.micOff.hidden = micOn;
    tile.micOff.title = participant.mic_allowed === false ? gettext("Microphone turned off by an organizer") : gettext("Microphone off");
    tile.camOff.hidden = cameraOn;
    tile.camOff.title = participant.camera_allowed === false ? gettext("Camera turned off by an organizer") : gettext("Camera off");
    tile.snap.setAttribute("aria-label", fmt(gettext("Snapshot of %s’s video"), [participant.name]));
    tile.snap.title = gettext("Snapshot");
    if (!tile.isSelf) this.setConnection(participant.id, participant.connection);
    tile.root.setAttribute("aria-label", displayName);
    return tile;
  }

  setVideo(id, stream) {
    const tile = this.tiles.get(id);
    if (!tile || tile.video.srcObject === stream) return;
    tile.video.srcObject = stream;
    if (stream) tile.video.play().catch(() => {});
  }

  setAudio(id, stream) {
    const tile = this.tiles.get(id);
    if (!tile || tile.isSelf) return;
    if (!stream) {
      if (tile.audio) tile.audio.srcObject = null;
      return;
    }
    if (!tile.audio) {
      tile.audio = el("audio");
      tile.audio.autoplay = true;
      tile.audio.dataset.participantId = String(id);
      this.audioHost.append(tile.audio);
      if (this.settings) applySinkId(tile.audio, this.settings).catch(() => {});
    }
    if (tile.audio.srcObject !== stream) tile.audio.srcObject = stream;
    this.play(tile.audio);
  }

  play(audio) {
    const attempt = audio.play();
    if (attempt) attempt.catch((error) => error.name === "NotAllowedError" && this.onAudioBlocked());
  }

  // After a click on "Enable sound".
  playAll() {
    for (const tile of this.tiles.values()) if (tile.audio && tile.audio.srcObject) this.play(tile.audio);
  }

  applySettings(settings) {
    this.settings = settings;
    for (const tile of this.tiles.values()) if (tile.audio) applySinkId(tile.audio, settings).catch(() => {});
  }

  // On the media server, the person speaking gets the big tile (first, twice the size)
  // in a room of three or more.
  setSpeaker(id) {
    const speaker = this.tiles.size > 2 && this.tiles.has(id) ? id : null;
    if (speaker === this.speakerId) return;
    if (this.speakerId !== null) this.tiles.get(this.speakerId)?.root.removeAttribute("data-speaker");
    this.speakerId = speaker;
    if (speaker !== null) this.tiles.get(speaker).root.dataset.speaker = "true";
  }

  setSpeaking(id, speaking) {
    const tile = this.tiles.get(id);
    if (tile) tile.root.dataset.speaking = speaking ? "true" : "false";
  }

  // `connection` is the server's presence ("online"/"reconnecting"); `peer` the
  // RTCPeerConnection's state. Either being in trouble shows the overlay.
  setConnection(id, connection, peer) {
    const tile = this.tiles.get(id);
    if (!tile) return;
    if (connection) tile.root.dataset.connection = connection;
    if (peer) tile.root.dataset.peer = peer;
    const trouble = tile.root.dataset.connection === "reconnecting" || ["disconnected", "failed"].includes(tile.root.dataset.peer);
    tile.overlay.hidden = !trouble;
  }

  showReaction(id, emoji) {
    const tile = this.tiles.get(id);
    if (!tile) return;
    tile.reaction.replaceChildren(reactionPicture(emoji));
    tile.reaction.dataset.emoji = emoji;
    tile.reaction.classList.remove("tile__reaction--shown");
    void tile.reaction.offsetWidth; // restart the animation for a repeated emoji
    tile.reaction.classList.add("tile__reaction--shown");
    clearTimeout(tile.reactionTimer);
    tile.reactionTimer = setTimeout(() => {
      tile.reaction.classList.remove("tile__reaction--shown");
      tile.reaction.replaceChildren();
      delete tile.reaction.dataset.emoji;
    }, REACTION_MS);
  }

  remove(id) {
    const tile = this.tiles.get(id);
    if (!tile) return;
    if (this.speakerId === id) this.speakerId = null;
    clearTimeout(tile.reactionTimer);
    tile.video.srcObject = null;
    if (tile.audio) {
      tile.audio.srcObject = null;
      tile.audio.remove();
    }
    tile.root.remove();
    this.tiles.delete(id);
    this.layout();
  }

  clear() {
    for (const id of [...this.tiles.keys()]) this.remove(id);
  }

  // Picks the number of columns that gives the largest 16:9 tiles in the space.
  layout() {
    const count = this.tiles.size;
    // The speaker's tile takes the room of four.
    const slots = count + (this.speakerId !== null && this.tiles.has(this.speakerId) ? 3 : 0);
    const width = this.container.clientWidth;
    const height = this.container.clientHeight;
    this.container.dataset.count = String(count);
    if (!count || !width || !height) return;
    let best = { cols: 1, size: 0 };
    for (let cols = 1; cols <= slots; cols += 1) {
      const rows = Math.ceil(slots / cols);
      const tileWidth = Math.min((width - GAP * (cols - 1)) / cols, ((height - GAP * (rows - 1)) / rows) * ASPECT);
      if (tileWidth > best.size) best = { cols, size: tileWidth };
    }
    this.container.style.setProperty("--tile-width", `${Math.max(120, Math.floor(best.size))}px`);
  }
}
