// The room's feature registry: the browser's side of meetings/room_features.py. The
// core (main.js) routes the socket's events by type prefix to the features registered
// here, gives them their room.snapshot section and tells them of the room's changes.
// A feature the room does not need yet is not even loaded: its module, its styles and
// its markup (a part the server renders, meetings.views.meeting_room_part) come the
// first time the room needs it — one of its controls is used, a snapshot section or an
// event calls for it — and whatever the room tells it meanwhile waits in a queue and
// is delivered in order once it is there.
//
//   registerFeature({
//     name: "polls",
//     prefixes: ["poll."],                  // the event types it handles
//     section: "poll",                      // its room.snapshot section
//     wanted: (section, snapshot) => …,     // does a snapshot need it? (default: a section that is not empty)
//     load: () => import("./polls.js"),     // its module, whose setup(room) returns its hooks
//     styles: ["css/room-polls.css"],       // under the static root
//     part: "polls",                        // its markup (room_features.room_part)
//     loadOnEvent: true,                    // false: its events matter only once something else loaded it;
//                                           //   (type, body) => …: only some of them call for it
//     signals: false,                       // true: it has WebRTC connections of its own (ownsSignal/onSignal)
//   });
//
// A feature without `load` gives its hooks itself. Hooks, all optional:
//   snapshot(section, snapshot)  the room.snapshot: its section (null when absent), and the whole
//   onEvent(type, body)          an event of its prefixes
//   setSelf(self)                the person's role or rights (right after setup, then on every change)
//   close()                      the meeting ended or the page is leaving
//   ownsSignal(body), onSignal(body)  a WebRTC signal for one of its own connections
//   state                        what window.parleyRoom shows of it (tests)
// and whatever else the core calls by name (notify, call) or its controls (need).
import { notice } from "./dom.js";

const features = new Map(); // name → {definition, status, hooks, queue, promise}
const stylesheets = new Map(); // href → promise of its loading
let room = null; // what setup(room) gets: the core's API (main.js)
let lastSnapshot = null;
let closed = false;

export function registerFeature(definition) {
  if (features.has(definition.name)) throw new Error(`Room feature ${definition.name} is registered twice.`);
  const lazy = typeof definition.load === "function";
  features.set(definition.name, {
    definition: { prefixes: [], styles: [], loadOnEvent: true, signals: false, ...definition },
    // idle (not loaded) → loading → ready; back to idle if it could not be loaded.
    status: lazy ? "idle" : "ready",
    hooks: lazy ? null : definition,
    queue: [],
    promise: null,
  });
}

// The core's API that every feature's setup(room) gets.
export function startFeatures(roomApi) {
  room = roomApi;
}

// --- What the core tells the features --------------------------------------------------

// An event of the socket: true when a feature takes it (now, or once loaded).
export function routeEvent(type, body) {
  const entry = [...features.values()].find((one) => one.definition.prefixes.some((prefix) => type.startsWith(prefix)));
  if (!entry) return false;
  const { loadOnEvent } = entry.definition;
  deliver(entry, "onEvent", [type, body], { load: typeof loadOnEvent === "function" ? loadOnEvent(type, body) : loadOnEvent });
  return true;
}

// Every feature with a section gets the room.snapshot; one that is not there yet is
// loaded when its section needs it.
export function deliverSnapshot(snapshot) {
  lastSnapshot = snapshot;
  for (const entry of features.values()) {
    const { section, wanted = Boolean } = entry.definition;
    if (!section) continue;
    const value = snapshot[section] ?? null;
    deliver(entry, "snapshot", [value, snapshot], { load: wanted(value, snapshot) });
  }
}

// A hook of every feature that is there (or on its way): role changes, stage changes…
export function notify(hook, ...args) {
  for (const entry of features.values()) deliver(entry, hook, args);
}

// A hook of one feature, if it is there (or on its way).
export function call(name, hook, ...args) {
  const entry = features.get(name);
  if (entry) deliver(entry, hook, args);
}

// A WebRTC signal: true when a feature takes it (a connection of its own). While a
// feature with connections of its own is loading, a signal from someone the room does
// not know may be for it: it waits for the feature, then goes to `otherwise` if the
// feature does not want it.
export function claimSignal(body, otherwise) {
  for (const entry of features.values()) {
    if (entry.status === "ready" && invoke(entry, "ownsSignal", [body])) {
      invoke(entry, "onSignal", [body]);
      return true;
    }
  }
  if (room.knows(body.from)) return false;
  const loading = [...features.values()].find((entry) => entry.status === "loading" && entry.definition.signals);
  if (!loading) return false;
  loading.queue.push(() => (invoke(loading, "ownsSignal", [body]) ? invoke(loading, "onSignal", [body]) : otherwise(body)));
  return true;
}

// The page is done: features close, nothing more loads.
export function closeFeatures() {
  notify("close");
  closed = true;
}

// --- Loading ---------------------------------------------------------------------------

// The feature, loaded if it is not yet: resolves with its hooks (null if it could not be loaded).
export function need(name) {
  const entry = features.get(name);
  if (!entry || closed) return Promise.resolve(null);
  if (entry.status === "ready") return Promise.resolve(entry.hooks);
  if (entry.status !== "loading") load(entry);
  return entry.promise;
}

export function isLoaded(name) {
  return features.get(name)?.status === "ready";
}

// The hooks of a feature that is there, or null.
export function featureHooks(name) {
  const entry = features.get(name);
  return entry?.status === "ready" ? entry.hooks : null;
}

// Loaded or on its way.
export function isWanted(name) {
  return ["ready", "loading"].includes(features.get(name)?.status);
}

// What window.parleyRoom shows of a feature, or `fallback` while it is not loaded.
export function featureState(name, fallback = null) {
  const hooks = featureHooks(name);
  return hooks && "state" in hooks ? hooks.state : fallback;
}

// name → idle | loading | ready (tests, troubleshooting).
export function featureStatuses() {
  return Object.fromEntries([...features].map(([name, entry]) => [name, entry.status]));
}

// Now if the feature is there; queued while it loads; otherwise dropped, unless `load`
// says that this calls for it.
function deliver(entry, hook, args, { load: loadIt = false } = {}) {
  if (closed) return;
  if (entry.status === "ready") {
    invoke(entry, hook, args);
    return;
  }
  if (entry.status === "idle" && !loadIt) return;
  entry.queue.push(() => invoke(entry, hook, args));
  if (entry.status === "idle") load(entry, hook === "snapshot");
}

function load(entry, withSnapshot = false) {
  const { definition } = entry;
  // Loaded for another reason than the snapshot: it starts from the last one first.
  if (definition.section && lastSnapshot && !withSnapshot) {
    const snapshot = lastSnapshot;
    entry.queue.unshift(() => invoke(entry, "snapshot", [snapshot[definition.section] ?? null, snapshot]));
  }
  entry.status = "loading";
  entry.promise = Promise.all([definition.load(), fetchPart(definition.part), ...definition.styles.map(loadStyle)])
    .then(([module, part]) => start(entry, module, part))
    .catch((error) => {
      // The next need of it tries again, from the room's state then.
      entry.status = "idle";
      entry.queue = [];
      entry.hooks = null;
      console.error(`The room feature ${definition.name} could not be loaded.`, error);
      if (!closed) notice(gettext("This part of the meeting could not be loaded. Check the connection and try again."), { kind: "error" });
      return null;
    });
}

// The module, its styles and its markup are there: set it up, then what waited for it.
// It stays "loading" until the queue is empty, so that what the room tells it meanwhile
// (even from its own hooks) comes after what was already waiting.
function start(entry, module, part) {
  if (part) placePart(part);
  entry.hooks = (typeof module.setup === "function" ? module.setup(room) : null) || {};
  if (room.self) invoke(entry, "setSelf", [room.self]);
  while (entry.queue.length) entry.queue.shift()();
  entry.status = "ready";
  return entry.hooks;
}

function invoke(entry, hook, args) {
  const hooks = entry.hooks;
  if (!hooks || typeof hooks[hook] !== "function") return undefined;
  try {
    return hooks[hook](...args);
  } catch (error) {
    // One feature's fault must not stop the room (nor the rest of its queue).
    if (typeof window.reportError === "function") window.reportError(error);
    else console.error(error);
    return undefined;
  }
}

// The feature's markup, rendered by the server for this participant (null: none).
async function fetchPart(name) {
  if (!name) return null;
  const url = room.partsUrl.replace(/NAME\/$/, `${encodeURIComponent(name)}/`);
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  const template = document.createElement("template");
  template.innerHTML = await response.text();
  return template.content;
}

// Each top-level element goes at the end of the room, into the element its
// data-room-parent names, or before the one its data-room-before names.
function placePart(fragment) {
  for (const node of [...fragment.children]) {
    const { roomParent, roomBefore } = node.dataset;
    delete node.dataset.roomParent;
    delete node.dataset.roomBefore;
    const before = roomBefore && document.getElementById(roomBefore);
    if (before) before.before(node);
    else (document.getElementById(roomParent) || room.root).append(node);
  }
}

// Resolves once the stylesheet applies, so that the markup never shows unstyled.
function loadStyle(path) {
  const href = new URL(`../../${path}`, import.meta.url).href;
  if (!stylesheets.has(href)) {
    const loaded = new Promise((resolve, reject) => {
      const link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = href;
      link.addEventListener("load", resolve, { once: true });
      link.addEventListener("error", () => {
        stylesheets.delete(href);
        link.remove();
        reject(new Error(`${href} could not be loaded`));
      });
      document.head.append(link);
    });
    stylesheets.set(href, loaded);
  }
  return stylesheets.get(href);
}
