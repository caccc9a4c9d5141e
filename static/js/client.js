// The web client: incoming meeting requests kept live through /ws/client/.
// Without JavaScript (or without the socket) the server-rendered list and the
// Join/Ignore forms still work; this module adds live updates on top. A request that
// stops waiting moves to the history below the list, which says who took it (or how
// it ended) and when, without its Join and Ignore buttons.
import { alert, setUpSoundControl } from "./alerts.js";
import { LiveSocket } from "./live.js";
import { fmt, showToast } from "./ui.js";

const list = document.getElementById("incoming-requests");
const template = document.getElementById("request-template");
const empty = document.getElementById("requests-empty");
const counter = document.getElementById("request-count");
const liveStatus = document.getElementById("live-status");
const banner = document.getElementById("live-banner");
const history = document.getElementById("request-history");
const historySection = document.getElementById("request-history-section");
const historyTemplate = document.getElementById("request-history-template");
const selfId = Number(history.dataset.extensionId);

const REMOVE_CLOSED_AFTER_MS = 8000;
const HISTORY_SHOWN = 10; // as rooms.services.RECENT_REQUESTS_SHOWN
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

function clockTime(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
}

// Who asked, through what, when: the same in the list and in the history.
function describe(item, data) {
  item.dataset.requestId = String(data.id);
  item.querySelector(".request__name").textContent = data.visitor_name;
  const email = item.querySelector(".request__email");
  email.textContent = data.visitor_email;
  email.href = `mailto:${data.visitor_email}`;
  item.querySelector(".request__target").textContent = data.queue ? fmt(gettext("Queue %s"), [data.queue]) : gettext("Your Click2Meet page");
  const time = item.querySelector(".request__time");
  time.dateTime = data.created_at;
  time.textContent = clockTime(data.created_at);
  return item;
}

function addRequest(data, { notify }) {
  if (itemFor(data.id)) return;
  const item = describe(template.content.firstElementChild.cloneNode(true), data);
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

// --- The history ----------------------------------------------------------------------

function outcome(data) {
  const at = data.closed_at ? clockTime(data.closed_at) : "";
  if (data.status === "accepted") {
    if (data.taken_by_id === selfId) return fmt(gettext("You took it at %s."), [at]);
    return data.taken_by ? fmt(gettext("Taken by %s at %s."), [data.taken_by, at]) : fmt(gettext("Taken by someone else at %s."), [at]);
  }
  const notes = {
    declined: () => fmt(gettext("Declined at %s."), [at]),
    expired: () => fmt(gettext("Expired at %s: nobody answered in time."), [at]),
    cancelled: () => fmt(gettext("The visitor cancelled at %s."), [at]),
  };
  return (notes[data.status] || (() => gettext("No longer waiting.")))();
}

function historyItem(data) {
  const item = describe(historyTemplate.content.firstElementChild.cloneNode(true), data);
  item.dataset.status = data.status;
  item.querySelector(".request__outcome").textContent = outcome(data);
  return item;
}

// The request stopped waiting: out of the list, on top of the history.
function settle(data) {
  itemFor(data.id)?.remove();
  history.querySelector(`li.request[data-request-id="${CSS.escape(String(data.id))}"]`)?.remove();
  const item = historyItem(data);
  item.classList.add("request--just-settled");
  history.prepend(item);
  for (const extra of [...history.children].slice(HISTORY_SHOWN)) extra.remove();
  historySection.hidden = false;
  refreshCount();
}

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

function applySnapshot(requests, recent) {
  const current = new Set(requests.map((request) => String(request.id)));
  const settled = new Map(recent.map((request) => [String(request.id), request]));
  // The history as the server has it (what happened while the socket was away included).
  history.replaceChildren(...recent.map((request) => historyItem(request)));
  historySection.hidden = recent.length === 0;
  for (const item of list.querySelectorAll("li.request:not(.request--closed)")) {
    const id = item.dataset.requestId;
    if (settled.has(id)) settle(settled.get(id));
    else if (!current.has(id)) closeRequest(id, gettext("No longer waiting."));
  }
  // Oldest first, so that prepending leaves the newest on top.
  for (const request of [...requests].reverse()) addRequest(request, { notify: true });
}

function onMessage(message) {
  const body = message.body || {};
  switch (message.type) {
    case "requests.snapshot":
      applySnapshot(body.requests || [], body.recent || []);
      break;
    case "request.created":
      addRequest(body, { notify: true });
      break;
    case "request.taken":
    case "request.closed":
      settle(body);
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
