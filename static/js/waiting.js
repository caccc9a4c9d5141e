// The visitor's waiting page: follows the request over /ws/requests/<token>/ and
// falls back to polling this page's JSON (?format=json) when live updates fail.
import { LiveSocket } from "./live.js";
import { fmt } from "./ui.js";

const root = document.getElementById("request-status");
const countdown = document.getElementById("countdown");
const liveNote = document.getElementById("live-note");
const FINAL = new Set(["accepted", "declined", "expired", "cancelled"]);
const POLL_EVERY_MS = 5000;

let expiresAt = Date.parse(root.dataset.expiresAt);
let socket = null;
let pollTimer = 0;
let tickTimer = 0;

function goToMeeting(url, delayMs) {
  if (!url) return;
  setTimeout(() => location.assign(url), delayMs);
}

function apply(body) {
  if (!body || typeof body.status !== "string") return;
  if (body.expires_at) expiresAt = Date.parse(body.expires_at);
  root.dataset.status = body.status;
  for (const panel of root.querySelectorAll(".status-panel")) panel.hidden = panel.dataset.for !== body.status;
  if (body.status === "accepted") {
    const link = document.getElementById("join-link");
    if (body.join_url) {
      link.href = body.join_url;
      root.dataset.joinUrl = body.join_url;
    }
    if (body.taken_by) document.getElementById("taken-by").textContent = fmt(gettext("%s accepted your request."), [body.taken_by]);
    goToMeeting(body.join_url, 700);
  }
  if (FINAL.has(body.status)) finish();
}

function finish() {
  clearInterval(pollTimer);
  clearInterval(tickTimer);
  pollTimer = 0;
  if (socket) socket.stop();
  liveNote.hidden = true;
}

async function poll() {
  try {
    const response = await fetch(`${location.pathname}?format=json`, { headers: { Accept: "application/json" }, cache: "no-store", credentials: "same-origin" });
    if (response.ok) apply(await response.json());
  } catch {
    // Offline for a moment: the next poll tries again.
  }
}

function startPolling() {
  if (pollTimer) return;
  liveNote.hidden = false;
  pollTimer = setInterval(poll, POLL_EVERY_MS);
  poll();
}

function stopPolling() {
  clearInterval(pollTimer);
  pollTimer = 0;
  liveNote.hidden = true;
}

function tick() {
  const seconds = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
  const minutes = Math.floor(seconds / 60);
  countdown.textContent = `${minutes}:${String(seconds % 60).padStart(2, "0")}`;
  countdown.dateTime = `PT${seconds}S`;
  // The server decides; ask it when the time is up.
  if (seconds === 0 && root.dataset.status === "waiting") poll();
}

const initial = root.dataset.status;
if (initial === "accepted") {
  // A shared room accepts at once: go straight to the meeting.
  if (root.dataset.joinUrl) location.replace(root.dataset.joinUrl);
} else if (initial === "waiting") {
  tick();
  tickTimer = setInterval(tick, 1000);
  socket = new LiveSocket(`/ws/requests/${encodeURIComponent(root.dataset.token)}/`, {
    onMessage: (message) => {
      if (message.type === "request.status") apply(message.body);
    },
    onState: (state) => (state === "connected" ? stopPolling() : startPolling()),
  });
}
