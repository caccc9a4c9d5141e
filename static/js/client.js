// The web client: incoming meeting requests kept live through /ws/client/.
// Without JavaScript (or without the socket) the server-rendered list and the
// Join/Ignore forms still work; this module adds live updates on top.
import { alert, setUpSoundControl } from "./alerts.js";
import { LiveSocket } from "./live.js";
import { fmt, showToast } from "./ui.js";

const list = document.getElementById("incoming-requests");
const template = document.getElementById("request-template");
const empty = document.getElementById("requests-empty");
const counter = document.getElementById("request-count");
const liveStatus = document.getElementById("live-status");
const banner = document.getElementById("live-banner");

const REMOVE_CLOSED_AFTER_MS = 8000;
const baseTitle = document.title;
let unseen = 0;
const pendingIgnores = new Map(); // message id → request id

// --- The list ------------------------------------------------------------------------

function itemFor(id) {
  return list.querySelector(`li.request[data-request-id="${CSS.escape(String(id))}"]`);
}

function urlFor(kind, id) {
  const pattern = kind === "join" ? list.dataset.joinUrl : list.dataset.ignoreUrl;
  return pattern.replace(list.dataset.urlPlaceholder, String(Number(id)));
}

function refreshCount() {
  const open = list.querySelectorAll("li.request:not(.request--closed)").length;
  counter.textContent = String(open);
  counter.classList.toggle("count-badge--active", open > 0);
  empty.hidden = list.querySelector("li.request") !== null;
}

function addRequest(data, { notify }) {
  if (itemFor(data.id)) return;
  const item = template.content.firstElementChild.cloneNode(true);
  item.dataset.requestId = String(data.id);
  item.querySelector(".request__name").textContent = data.visitor_name;
  const email = item.querySelector(".request__email");
  email.textContent = data.visitor_email;
  email.href = `mailto:${data.visitor_email}`;
  item.querySelector(".request__target").textContent = data.queue ? fmt(gettext("Queue %s"), [data.queue]) : gettext("Your Click2Meet page");
  const time = item.querySelector(".request__time");
  time.dateTime = data.created_at;
  time.textContent = new Date(data.created_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  item.querySelector(".request-join-form").action = urlFor("join", data.id);
  item.querySelector(".request-ignore-form").action = urlFor("ignore", data.id);
  if (notify) item.classList.add("request--new");
  list.prepend(item);
  refreshCount();
  if (notify) {
    const text = fmt(gettext("%s asks for a meeting."), [data.visitor_name]);
    alert(gettext("New meeting request"), text);
    bumpTitle();
    showToast(text);
  }
}

function closeRequest(id, note, delay = REMOVE_CLOSED_AFTER_MS) {
  const item = itemFor(id);
  if (!item || item.classList.contains("request--closed")) return;
  item.classList.add("request--closed");
  item.classList.remove("request--new");
  item.querySelector(".request-note").textContent = note;
  for (const button of item.querySelectorAll("button")) button.disabled = true;
  refreshCount();
  setTimeout(() => {
    item.remove();
    refreshCount();
  }, delay);
}

const CLOSED_NOTES = {
  expired: () => gettext("Expired: nobody answered in time."),
  declined: () => gettext("Declined."),
  cancelled: () => gettext("The visitor cancelled the request."),
  accepted: () => gettext("Taken by someone else."),
};

// --- Attention: sound, notification (alerts.js) and title badge -------------------------

function bumpTitle() {
  unseen += 1;
  document.title = `(${unseen}) ${baseTitle}`;
}

function clearTitle() {
  unseen = 0;
  document.title = baseTitle;
}

window.addEventListener("focus", clearTitle);
document.addEventListener("pointerdown", clearTitle, { passive: true });
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && document.hasFocus()) clearTitle();
});

// --- The socket ----------------------------------------------------------------------

function setLiveState(state) {
  liveStatus.dataset.state = state;
  const text = liveStatus.querySelector(".live-status__text");
  text.textContent = text.dataset[`text${state[0].toUpperCase()}${state.slice(1)}`] || state;
  banner.hidden = state !== "unavailable";
}

function applySnapshot(requests) {
  const current = new Set(requests.map((request) => String(request.id)));
  for (const item of list.querySelectorAll("li.request:not(.request--closed)")) {
    if (!current.has(item.dataset.requestId)) closeRequest(item.dataset.requestId, gettext("No longer waiting."));
  }
  // Oldest first, so that prepending leaves the newest on top.
  for (const request of [...requests].reverse()) addRequest(request, { notify: true });
}

function onMessage(message) {
  const body = message.body || {};
  switch (message.type) {
    case "requests.snapshot":
      applySnapshot(body.requests || []);
      break;
    case "request.created":
      addRequest(body, { notify: true });
      break;
    case "request.taken":
      closeRequest(body.id, body.taken_by ? fmt(gettext("Taken by %s."), [body.taken_by]) : gettext("Taken by someone else."));
      break;
    case "request.closed":
      closeRequest(body.id, (CLOSED_NOTES[body.status] || (() => gettext("No longer waiting.")))());
      break;
    case "request.ignored":
      closeRequest(body.id, gettext("Ignored."), 1500);
      break;
    case "request.joined_room": {
      const text = fmt(gettext("%s is joining your room."), [body.visitor_name]);
      alert(gettext("A visitor is coming"), text);
      bumpTitle();
      showToast(text);
      break;
    }
    case "error":
      if (pendingIgnores.has(message.id)) {
        const id = pendingIgnores.get(message.id);
        pendingIgnores.delete(message.id);
        if (body.code === "unavailable" || body.code === "not_found") closeRequest(id, body.message);
        else reopen(id, body.message);
      }
      break;
    case "ack":
      pendingIgnores.delete(message.id);
      break;
    default:
      break;
  }
}

function reopen(id, note) {
  const item = itemFor(id);
  if (!item) return;
  item.querySelector(".request-note").textContent = note;
  for (const button of item.querySelectorAll("button")) button.disabled = false;
}

const socket = new LiveSocket("/ws/client/", { onMessage, onState: setLiveState });

// Ignore goes over the socket when it is open; otherwise the form posts as usual.
list.addEventListener("submit", (event) => {
  const form = event.target.closest(".request-ignore-form");
  if (!form || !socket.isOpen) return;
  const item = form.closest("li.request");
  const id = Number(item.dataset.requestId);
  const messageId = socket.send("request.ignore", { request_id: id });
  if (!messageId) return;
  event.preventDefault();
  pendingIgnores.set(messageId, id);
  item.querySelector(".request-note").textContent = gettext("Ignoring…");
  for (const button of item.querySelectorAll("button")) button.disabled = true;
});

// A click on Join shows at once that something happens (the claim takes a moment).
list.addEventListener("submit", (event) => {
  const form = event.target.closest(".request-join-form");
  if (!form || event.defaultPrevented) return;
  const button = form.querySelector("button");
  button.textContent = gettext("Joining…");
  // Disable after the submit has started, so the form still posts.
  setTimeout(() => {
    button.disabled = true;
  }, 0);
});

setUpSoundControl(document.getElementById("sound-toggle"));
refreshCount();
