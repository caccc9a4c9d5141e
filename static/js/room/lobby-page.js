// The waiting page of someone in a meeting's lobby: follows lobby.status over the
// meeting socket and enters the room once an organizer accepts. It shows, like the
// room, that the meeting is being recorded.
import "../ui.js";
import { RecordingBadge } from "./recording.js";
import { Signaling } from "./signaling.js";

const config = JSON.parse(document.getElementById("room-config").textContent);
const root = document.getElementById("lobby-status");
const offline = document.getElementById("lobby-offline");
const leaveForm = document.getElementById("lobby-leave-form");
const recordingBadge = new RecordingBadge(document.getElementById("recording-badge"));
const KNOWN = new Set(["waiting", "no_organizer", "accepted", "rejected"]);
const FINAL = new Set(["accepted", "rejected", "ended", "replaced", "gone"]);

let entering = false;

function enter() {
  if (entering) return;
  entering = true;
  show("accepted");
  location.assign(document.getElementById("lobby-enter").href);
}

function show(status) {
  root.dataset.status = status;
  for (const panel of root.querySelectorAll(".status-panel")) {
    panel.hidden = !panel.dataset.for.split(" ").includes(status);
  }
  leaveForm.hidden = FINAL.has(status) && status !== "replaced";
  // Out of the lobby for good: this page no longer follows the meeting.
  if (FINAL.has(status) && status !== "accepted") recordingBadge.stop();
}

// lobby.status says only whether; a recording.state before it may have said since when.
function showRecording(active) {
  if (!(active && recordingBadge.active)) recordingBadge.show(active);
}

const signaling = new Signaling(config.wsPath, {
  onEvent(type, body) {
    if (type === "lobby.status" && typeof body.recording === "boolean") showRecording(body.recording);
    if (type === "recording.state") recordingBadge.show(body.active, body.recording);
    else if (type === "lobby.status" && KNOWN.has(body.status)) {
      show(body.status);
      // The room page now renders the meeting for us.
      if (body.status === "accepted") enter();
    } else if (type === "room.snapshot") {
      // Let in (the server moves this socket into the room): the room page takes over.
      enter();
    } else if (type === "meeting.ended") {
      show("ended");
    }
  },
  onState(state, code) {
    offline.hidden = state !== "reconnecting";
    if (state !== "closed" || FINAL.has(root.dataset.status)) return;
    if (code === 4410) show("ended");
    else if (code === 4409) show("replaced");
    // A plain 4403 (no lobby.status "rejected" before it): let go after a long
    // absence, or removed; the join page says which.
    else show("gone");
  },
});

document.getElementById("lobby-use-here").addEventListener("click", () => location.reload());
leaveForm.addEventListener("submit", () => signaling.stop());
window.addEventListener("pagehide", () => signaling.stop());
window.parleyLobby = {
  dropSocket: () => signaling.dropSocket(),
  get status() {
    return root.dataset.status;
  },
  get recording() {
    return recordingBadge.active;
  },
};
signaling.start();
